//! Fuzz target `nrd`: see `dnshunt_fuzz::nrd` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::nrd(data));
