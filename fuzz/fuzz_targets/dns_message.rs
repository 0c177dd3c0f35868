//! Fuzz target `dns_message`: see `dnshunt_fuzz::dns_message` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::dns_message(data));
