//! Two clocks, each for what it is good at. A Raspberry Pi has no battery-backed clock: it boots
//! at the last time it saved and NTP steps it later, by hours or days; an operator may set it
//! by hand. So every *interval* the agent keeps (an alarm's on- and off-delay, a shelving, an
//! escalation, a rule's grace period, a flush, a rate) is measured on the monotonic clock,
//! which never steps, and the wall clock is only a *timestamp* (what the store, the API and the
//! export say). [`Now`] carries both, read once per tick.
//!
//! Whether the wall clock can be believed is reported, not guessed silently: [`wall_status`]
//! says whether the kernel considers it synchronised (NTP or PTP has disciplined it) and whether
//! it is plausible at all (not before this binary was built: a Pi that booted without network
//! on a fresh card starts in 1970 or at the image's date).

use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;

use crate::value::now_ms;

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Milliseconds since the Unix epoch: a timestamp, never subtracted to measure a delay.
    pub wall_ms: i64,
    /// Milliseconds on the monotonic clock since the process started: for intervals only.
    pub mono_ms: i64,
}

impl Now {
    pub fn read() -> Now {
        Now {
            wall_ms: now_ms(),
            mono_ms: mono_ms(),
        }
    }
}

/// Tests and replays that run on one accelerated clock give the same time to both.
impl From<i64> for Now {
    fn from(ms: i64) -> Now {
        Now {
            wall_ms: ms,
            mono_ms: ms,
        }
    }
}

/// Milliseconds since the process first asked (the monotonic clock; it does not count time the
/// machine was suspended, which a Pi in a cabinet never is).
pub fn mono_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as i64
}

/// The build time of this binary (ms since the epoch), set by `build.rs` from
/// `SOURCE_DATE_EPOCH` when given (reproducible builds) or the time of the build.
pub const BUILT_MS: i64 = parse_ms(env!("AGENT_BUILT_EPOCH_S"));

/// The earliest wall time believed: two days before the build (the build machine's own clock
/// may be off too). A Pi that lost its time reads 1970 or the date its image was made, months
/// earlier, far beyond this margin.
pub const EARLIEST_MS: i64 = BUILT_MS - 2 * 86_400_000;

const fn parse_ms(s: &str) -> i64 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n: i64 = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    n * 1000
}

/// What the agent knows about its wall clock.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WallStatus {
    /// The kernel's view: `true` when NTP (or PTP) has synchronised the clock, `false` when
    /// the kernel says it is not, `null` where it cannot be asked.
    pub synchronized: Option<bool>,
    /// `false` when the clock reads earlier than this binary's build: timestamps are wrong,
    /// and retention deletes nothing.
    pub plausible: bool,
    pub wall_ms: i64,
    pub built_ms: i64,
}

impl WallStatus {
    /// A sentence for `/healthz` and the page, when the clock needs a look.
    pub fn problem(&self) -> Option<String> {
        if !self.plausible {
            Some(format!(
                "the clock reads {} ms, before this agent was built ({} ms): timestamps are \
                 wrong and retention deletes nothing until it is set (NTP or `timedatectl`)",
                self.wall_ms, self.built_ms
            ))
        } else {
            None
        }
    }
}

/// The wall clock's status now.
pub fn wall_status() -> WallStatus {
    status_at(now_ms(), kernel_synchronized())
}

fn status_at(wall_ms: i64, synchronized: Option<bool>) -> WallStatus {
    WallStatus {
        synchronized,
        plausible: wall_ms >= EARLIEST_MS,
        wall_ms,
        built_ms: BUILT_MS,
    }
}

/// `adjtimex(2)` in read-only mode (no `modes` set): `TIME_ERROR` means the kernel's clock is
/// not synchronised (`STA_UNSYNC`), as `timedatectl` shows "System clock synchronized: no".
#[cfg(target_os = "linux")]
fn kernel_synchronized() -> Option<bool> {
    // SAFETY: a zeroed `timex` with `modes == 0` only reads the kernel's state into it.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    match state {
        -1 => None,
        libc::TIME_ERROR => Some(false),
        _ => Some(true),
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_synchronized() -> Option<bool> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_time_is_a_recent_date() {
        // After 2024-01-01 (checked when the test is compiled) and not in the future of this
        // test's clock by more than a day.
        const { assert!(BUILT_MS > 1_704_067_200_000) };
        assert!(BUILT_MS <= now_ms() + 86_400_000, "{BUILT_MS}");
    }

    #[test]
    fn a_clock_before_the_build_is_implausible_and_says_so() {
        let s = status_at(86_400_000, Some(false));
        assert!(!s.plausible);
        assert!(s.problem().unwrap().contains("before this agent was built"));
        let s = status_at(BUILT_MS - 3_600_000, None);
        assert!(s.plausible && s.problem().is_none());
    }

    #[test]
    fn the_monotonic_clock_never_goes_back() {
        let a = mono_ms();
        let b = Now::read();
        assert!(b.mono_ms >= a);
    }
}
