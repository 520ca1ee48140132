//! Keeping the agent's loops alive and honest about it: a panic in one part of the agent must
//! never stop the rest, and `/healthz` must say when a loop has stopped ticking.
//!
//! - [`catch`] runs one step of a loop and turns a panic into a message: the loop logs it,
//!   counts it and goes on with its next step.
//! - [`lock`] takes a mutex even when a panic poisoned it: the data behind a lock in this agent
//!   is plain state (a tool's counters, the alarm engine, the live verdict) that stays usable
//!   after a step failed half-way, and refusing it forever would turn one panic into a dead
//!   agent (every alarm tick would panic on the poisoned lock in turn).
//! - [`Pulse`] is one loop's heartbeat: when it last completed a step (monotonic, so a clock
//!   jump at NTP sync on a Pi without a battery clock never makes a loop look stuck), how often
//!   it panicked, and when it counts as stuck.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Runs `f`; a panic comes back as its message (the default panic hook has already printed
/// where it happened). `f` is asserted unwind-safe: the callers' state is plain data that a
/// half-done step leaves usable, and their locks are taken with [`lock`].
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// Locks `m`, recovering it when a panic poisoned it (logged once per poisoning).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            tracing::warn!(
                "a lock was poisoned by a panic; its data is used as the panic left it \
                 (the failed step is logged above)"
            );
            m.clear_poison();
            poisoned.into_inner()
        }
    }
}

/// Installs a panic hook that prints the first few panics at each place in full (the default
/// hook: message, place, backtrace when asked for) and then only every thousandth: a step that
/// panics at every tick of a supervised loop must not fill the journal (and wear the SD card)
/// with ten backtraces a second. The loops log and count every panic anyway ([`Pulse`]).
pub fn quiet_repeated_panics() {
    let seen: Mutex<std::collections::HashMap<String, u64>> = Mutex::default();
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let place = info
            .location()
            .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
        let n = {
            let mut seen = lock(&seen);
            let n = seen.entry(place.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if n <= 3 {
            default(info);
        } else if n.is_multiple_of(1000) {
            // Not `eprintln!`: it panics when standard error fails (a log file on a full
            // disk), and a panic inside the panic hook aborts the whole agent.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "(a panic at {place} again: {n} times so far; only every 1000th is shown)"
            );
        }
    }));
}

/// Monotonic milliseconds since the first use in this process.
fn mono_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// One loop's heartbeat.
#[derive(Debug)]
pub struct Pulse {
    name: String,
    interval: Duration,
    stuck_after: Duration,
    /// [`mono_ms`] of the last completed step (the start, before the first).
    last: AtomicU64,
    panics: AtomicU64,
    last_panic: Mutex<Option<String>>,
}

/// A pulse as `/healthz` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PulseView {
    pub name: String,
    pub interval_ms: u64,
    /// Milliseconds since the loop last completed a step.
    pub last_tick_age_ms: u64,
    /// Older than this, the loop counts as stuck.
    pub stuck_after_ms: u64,
    pub stuck: bool,
    pub panics: u64,
    pub last_panic: Option<String>,
}

impl Pulse {
    /// A loop that should complete a step every `interval`, stuck when it has not for
    /// `stuck_after`.
    pub fn new(name: impl Into<String>, interval: Duration, stuck_after: Duration) -> Arc<Pulse> {
        Arc::new(Pulse {
            name: name.into(),
            interval,
            stuck_after,
            last: AtomicU64::new(mono_ms()),
            panics: AtomicU64::new(0),
            last_panic: Mutex::new(None),
        })
    }

    /// The loop completed a step.
    pub fn beat(&self) {
        self.last.store(mono_ms(), Ordering::Relaxed);
    }

    /// A step panicked with `message`: logged and counted (the loop goes on).
    pub fn panicked(&self, message: &str) {
        let n = self.panics.fetch_add(1, Ordering::Relaxed) + 1;
        // Once per panic would flood the log (and wear the SD card) when a step panics at
        // every tick: the first few, then every hundredth.
        if n <= 3 || n.is_multiple_of(100) {
            tracing::error!(
                "{}: a step panicked ({n} so far), skipped; the loop goes on: {message}",
                self.name
            );
        }
        *lock(&self.last_panic) = Some(message.to_string());
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    pub fn age(&self) -> Duration {
        Duration::from_millis(mono_ms().saturating_sub(self.last.load(Ordering::Relaxed)))
    }

    pub fn stuck(&self) -> bool {
        self.age() > self.stuck_after
    }

    pub fn view(&self) -> PulseView {
        let age = self.age();
        PulseView {
            name: self.name.clone(),
            interval_ms: self.interval.as_millis() as u64,
            last_tick_age_ms: age.as_millis() as u64,
            stuck_after_ms: self.stuck_after.as_millis() as u64,
            stuck: age > self.stuck_after,
            panics: self.panics(),
            last_panic: lock(&self.last_panic).clone(),
        }
    }
}

/// How long a loop ticking every `interval` may go without a completed step before it counts
/// as stuck: a few intervals, and never less than `floor` (a loaded 2-core Pi stalls for a
/// second now and then without anything being wrong).
pub fn stuck_after(interval: Duration, floor: Duration) -> Duration {
    (interval * 5).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(catch(|| 7), Ok(7));
        let e = catch(|| -> i32 { panic!("boom {}", 1) }).unwrap_err();
        assert_eq!(e, "boom 1");
        let e = catch(|| -> i32 { panic!("static") }).unwrap_err();
        assert_eq!(e, "static");
    }

    #[test]
    fn a_poisoned_lock_is_recovered_with_its_data() {
        let m = Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("while holding the lock");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), vec![1, 2]);
        assert!(!m.is_poisoned(), "recovered once, not at every lock");
        lock(&m).push(3);
        assert_eq!(*lock(&m), vec![1, 2, 3]);
    }

    #[test]
    fn a_pulse_that_stops_beating_is_stuck() {
        let quiet = Pulse::new("quiet", Duration::from_millis(1), Duration::from_millis(20));
        let start = Instant::now();
        while !quiet.stuck() {
            assert!(start.elapsed() < Duration::from_secs(5), "never stuck");
            std::thread::yield_now();
        }
        let p = Pulse::new("t", Duration::from_millis(1), Duration::from_secs(60));
        p.beat();
        assert!(!p.stuck());
        p.panicked("x");
        let v = p.view();
        assert_eq!((v.panics, v.last_panic.as_deref()), (1, Some("x")));
        assert_eq!(
            stuck_after(Duration::from_millis(100), Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(
            stuck_after(Duration::from_secs(2), Duration::from_secs(5)),
            Duration::from_secs(10)
        );
    }
}
