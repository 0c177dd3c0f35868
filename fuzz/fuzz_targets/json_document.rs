//! Fuzz target `json_document`: see `dnshunt_fuzz::json_document` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::json_document(data));
