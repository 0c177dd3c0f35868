//! Fuzz target `json`: see `dnshunt_fuzz::json` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::json(data));
