//! Fuzz target `rank`: see `dnshunt_fuzz::rank` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::rank(data));
