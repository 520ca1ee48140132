//! The MQTT outbox: any run of pushes, spills, deliveries, reconnects and restarts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("agent-fuzz-outbox-{}", std::process::id()));
    agent::fuzz_targets::outbox_bytes(&dir, data)
});
