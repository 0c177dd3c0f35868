//! Fuzz target `normalize`: see `dnshunt_fuzz::normalize` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::normalize(data));
