//! Fuzz target `source_auto`: see `dnshunt_fuzz::source_auto` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::source_auto(data));
