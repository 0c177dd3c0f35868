//! Fuzz target `evtx`: see `dnshunt_fuzz::evtx` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::evtx(data));
