//! Fuzz target `rdap`: see `dnshunt_fuzz::rdap` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::rdap(data));
