//! Fuzz target `eve`: see `dnshunt_fuzz::eve` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::eve(data));
