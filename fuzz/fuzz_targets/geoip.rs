//! Fuzz target `geoip`: see `dnshunt_fuzz::geoip` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::geoip(data));
