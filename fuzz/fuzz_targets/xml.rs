//! Fuzz target `xml`: see `dnshunt_fuzz::xml` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::xml(data));
