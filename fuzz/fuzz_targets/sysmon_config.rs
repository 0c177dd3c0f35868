//! Fuzz target `sysmon_config`: see `dnshunt_fuzz::sysmon_config` for what it drives.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dnshunt_fuzz::sysmon_config(data));
