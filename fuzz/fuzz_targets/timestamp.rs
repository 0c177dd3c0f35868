//! Fuzz target `timestamp`: see `dnshunt_fuzz::timestamp` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::timestamp(data));
