//! The feed-hold output (`[monitor.feed_hold]`): a Raspberry Pi GPIO pin, wired through a relay
//! or an optocoupler to the CNC's feed-hold input, held for `hold_ms` when the monitor finds a
//! broken or missing tool (the kinds configured), then released. The CNC latches its feed
//! hold; the operator looks at the tool and resumes at the machine. It is one more input of the
//! machine's control, never a part of its safety chain, and the only output the agent drives
//! towards a machine (nothing is written over the network).
//!
//! The pin is driven from a thread of its own that waits on the monitor's requests: it is set
//! the moment the detector decides, without waiting for the alarm engine's tick or the async
//! runtime. Each set is logged with its latency from the detection.
//!
//! Released when the monitor stops (the requests' channel closes) and when the driver is
//! dropped. A process killed outright while it holds leaves the pin held (rppal keeps the
//! level) until the agent starts again and claims the pin released: the machine errs to hold.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::config::monitor::FeedHoldSettings;
use crate::evaluators::monitor::HoldRequest;

/// Where the feed hold is driven: the Pi's pin ([`Pin`]), or a recording in the tests and the
/// benchmark.
pub trait HoldOutput {
    fn set(&mut self, hold: bool);
}

/// The pin's level (high) for `hold`.
pub fn level(settings: &FeedHoldSettings, hold: bool) -> bool {
    hold != settings.active_low
}

/// Releases the output when dropped: at the end of [`drive`], and on a panic through it.
struct ReleasedWhenDropped<O: HoldOutput>(O);

impl<O: HoldOutput> Drop for ReleasedWhenDropped<O> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Drives `output` from `requests` until they close: each request sets it (at once, if it is
/// not already) and holds it `hold` from the latest request; then it is released. `on_set` is
/// told the latency from each request's detection to its output set (or found set).
pub fn drive<O: HoldOutput>(
    output: O,
    requests: Receiver<HoldRequest>,
    hold: Duration,
    mut on_set: impl FnMut(&HoldRequest, Duration),
) {
    let mut out = ReleasedWhenDropped(output);
    out.0.set(false);
    let mut until: Option<Instant> = None;
    loop {
        let next = match until {
            None => requests.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => requests.recv_timeout(t.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(r) => {
                if until.is_none() {
                    out.0.set(true);
                }
                on_set(&r, r.detected.elapsed());
                until = Some(Instant::now() + hold);
            }
            Err(RecvTimeoutError::Timeout) => {
                out.0.set(false);
                until = None;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The feed-hold pin on the Pi.
#[cfg(target_os = "linux")]
pub struct Pin {
    settings: FeedHoldSettings,
    pin: rppal::gpio::OutputPin,
}

#[cfg(target_os = "linux")]
impl HoldOutput for Pin {
    fn set(&mut self, hold: bool) {
        if level(&self.settings, hold) {
            self.pin.set_high()
        } else {
            self.pin.set_low()
        }
    }
}

/// An output that cannot be driven (no GPIO here, or the pin could not be had): every request
/// is logged as not held.
struct Unavailable(String);

impl HoldOutput for Unavailable {
    fn set(&mut self, hold: bool) {
        if hold {
            tracing::error!("monitor: feed hold NOT set: {}", self.0);
        }
    }
}

/// Starts the driver's thread on the configured pin.
pub fn spawn(settings: FeedHoldSettings, requests: Receiver<HoldRequest>) {
    let hold = settings.hold;
    let log = |r: &HoldRequest, latency: Duration| {
        tracing::warn!(
            "monitor: feed hold set {:.2} ms after the detection: {}",
            latency.as_secs_f64() * 1000.0,
            r.message
        );
    };
    let started = std::thread::Builder::new()
        .name("feed-hold".into())
        .spawn(move || match open(&settings) {
            Ok(pin) => {
                tracing::info!(
                    "monitor: feed hold on GPIO {} (holds {}), for {}",
                    settings.pin,
                    if settings.active_low { "low" } else { "high" },
                    settings
                        .kinds
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                drive(pin, requests, hold, log)
            }
            Err(why) => {
                tracing::error!("monitor: feed hold unavailable: {why}");
                drive(Unavailable(why), requests, hold, log)
            }
        });
    if let Err(e) = started {
        tracing::error!("monitor: feed hold thread not started: {e}");
    }
}

/// Claims the pin at its released level.
#[cfg(target_os = "linux")]
fn open(settings: &FeedHoldSettings) -> Result<Pin, String> {
    let gpio = rppal::gpio::Gpio::new().map_err(|e| format!("GPIO unavailable ({e})"))?;
    let pin = super::gpio::claim_output(&gpio, settings.pin, level(settings, false))
        .map_err(|e| format!("GPIO pin {}: {e}", settings.pin))?;
    Ok(Pin {
        settings: settings.clone(),
        pin,
    })
}

#[cfg(not(target_os = "linux"))]
fn open(_settings: &FeedHoldSettings) -> Result<Unavailable, String> {
    Err("GPIO unavailable: not Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::monitor::FindingKind;
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    /// The output's levels as set, with when.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<(bool, Instant)>>>);

    impl HoldOutput for Recorded {
        fn set(&mut self, hold: bool) {
            self.0.lock().unwrap().push((hold, Instant::now()));
        }
    }

    impl Recorded {
        fn levels(&self) -> Vec<bool> {
            self.0.lock().unwrap().iter().map(|l| l.0).collect()
        }
    }

    fn request() -> HoldRequest {
        HoldRequest {
            kind: FindingKind::Breakage,
            message: "m".into(),
            detected: Instant::now(),
        }
    }

    fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_request_holds_then_releases_and_a_closed_channel_releases_at_once() {
        let out = Recorded::default();
        let (tx, rx) = sync_channel(4);
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let l = latencies.clone();
        let o = out.clone();
        let hold = Duration::from_millis(400);
        let driver =
            std::thread::spawn(move || drive(o, rx, hold, |_, d| l.lock().unwrap().push(d)));
        until("released at start", || out.levels() == [false]);
        tx.send(request()).unwrap();
        until("held", || out.levels() == [false, true]);
        until("released after the hold", || {
            out.levels() == [false, true, false]
        });
        {
            let v = out.0.lock().unwrap();
            assert!(v[2].1 - v[1].1 >= hold, "held for its hold");
        }
        assert_eq!(latencies.lock().unwrap().len(), 1);
        // Held again, and released at once when the monitor goes.
        tx.send(request()).unwrap();
        until("held again", || out.levels().len() == 4);
        drop(tx);
        driver.join().unwrap();
        assert_eq!(out.levels(), [false, true, false, true, false]);
        let v = out.0.lock().unwrap();
        assert!(v[4].1 - v[3].1 < hold, "released before its hold ran out");
    }

    #[test]
    fn the_level_follows_active_low() {
        let mut s = FeedHoldSettings {
            pin: 16,
            active_low: false,
            kinds: vec![FindingKind::Breakage],
            hold: Duration::from_millis(500),
        };
        assert!(level(&s, true));
        assert!(!level(&s, false));
        s.active_low = true;
        assert!(!level(&s, true));
        assert!(level(&s, false));
    }
}
