//! Fuzz target `blocklist`: see `dnshunt_fuzz::blocklist` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::blocklist(data));
