//! The OPC UA value mapping: any binary-encoded Variant a server could send.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agent::fuzz_targets::variant_bytes(data));
