//! Fuzz target `query_results`: see `dnshunt_fuzz::query_results` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::query_results(data));
