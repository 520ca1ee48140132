//! Test-only fault hooks: named points in the agent's loops where a test can make a step
//! panic, to show that the rest of the agent goes on (the loop is supervised, its locks are
//! recovered, `/healthz` and `/metrics` say what happened).
//!
//! Compiled only into test builds and with the `fault-hooks` feature, which only the
//! end-to-end test crate enables; a release build of the agent (`cargo build -p agent`) has no
//! hook at all, and [`point`] is an empty inline function there.
//!
//! With the feature, the environment variable `AGENT_TEST_FAULTS` names a file; while a line of
//! that file names a point (`evaluator:compliance`, `alarms`), every pass through that point
//! panics. The test writes and removes the file while the agent runs.

#[cfg(any(test, feature = "fault-hooks"))]
mod hooks {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    /// The environment variable naming the fault file.
    pub const ENV: &str = "AGENT_TEST_FAULTS";

    fn file() -> Option<&'static PathBuf> {
        static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
        FILE.get_or_init(|| {
            let f = std::env::var_os(ENV).map(PathBuf::from);
            if let Some(f) = &f {
                tracing::warn!("test fault hooks armed by {ENV}={}", f.display());
            }
            f
        })
        .as_ref()
    }

    pub fn point(name: &str) {
        let Some(file) = file() else { return };
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        if text.lines().any(|l| l.trim() == name) {
            panic!("test fault hook `{name}` (named in {})", file.display());
        }
    }
}

/// A named fault point: panics while the test fault file names it (test builds only).
#[cfg(any(test, feature = "fault-hooks"))]
pub use hooks::{point, ENV};

/// A named fault point: nothing, in a build without the `fault-hooks` feature.
#[cfg(not(any(test, feature = "fault-hooks")))]
#[inline(always)]
pub fn point(_name: &str) {}
