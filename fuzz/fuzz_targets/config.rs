//! The configuration parser: any text, or an edit of configs/agent.toml.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static EXAMPLE: OnceLock<(std::path::PathBuf, String)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let example = EXAMPLE.get_or_init(agent::fuzz_targets::example_config);
    agent::fuzz_targets::config_bytes(example, data)
});
