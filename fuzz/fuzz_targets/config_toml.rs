//! Fuzz target `config_toml`: see `dnshunt_fuzz::config_toml` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::config_toml(data));
