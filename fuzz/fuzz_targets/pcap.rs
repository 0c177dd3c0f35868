//! Fuzz target `pcap`: see `dnshunt_fuzz::pcap` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::pcap(data));
