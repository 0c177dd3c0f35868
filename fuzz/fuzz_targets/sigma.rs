//! Fuzz target `sigma`: see `dnshunt_fuzz::sigma` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::sigma(data));
