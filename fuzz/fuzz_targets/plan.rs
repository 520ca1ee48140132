//! Modbus request planning: any tags the configuration accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agent::fuzz_targets::plan_bytes(data));
