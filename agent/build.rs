//! The build's time for `clock::BUILT_MS`: a wall clock earlier than the binary is certainly
//! wrong. `SOURCE_DATE_EPOCH` (reproducible builds, the Debian package) wins over the time of
//! the build. Rerun only when that variable changes, so that ordinary rebuilds keep the first
//! build's time (earlier, so never stricter than the truth).
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let s = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=AGENT_BUILT_EPOCH_S={s}");
}
