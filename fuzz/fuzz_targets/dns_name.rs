//! Fuzz target `dns_name`: see `dnshunt_fuzz::dns_name` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::dns_name(data));
