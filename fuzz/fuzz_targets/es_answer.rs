//! Fuzz target `es_answer`: see `dnshunt_fuzz::es_answer` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::es_answer(data));
