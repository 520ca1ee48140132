//! Register decoding: any registers, any encoding the configuration accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| agent::fuzz_targets::decode_bytes(data));
