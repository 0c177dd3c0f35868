//! Fuzz target `zeek`: see `dnshunt_fuzz::zeek` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::zeek(data));
