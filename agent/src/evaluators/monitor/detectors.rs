//! The detectors: each a small typed kind (`config::monitor::Detector`, parameters as data) with
//! the state it keeps over one run of an operation. They see only samples the monitor could
//! judge (a good, finite value at a position the envelope covers); what cannot be judged never
//! reaches them, and the monitor says why.

use super::envelope::Expect;
use crate::config::monitor::Detector;

/// One judged sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds of cutting feed into the operation.
    pub time_s: f64,
    pub value: f64,
    pub expect: Expect,
}

/// The evidence of a finding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    pub time_s: f64,
    pub position: f64,
    pub measured: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
}

impl Evidence {
    fn of(s: &Sample) -> Evidence {
        Evidence {
            time_s: s.time_s,
            position: s.expect.position,
            measured: s.value,
            expected: s.expect.expected,
            lower: s.expect.lower,
            upper: s.expect.upper,
        }
    }
}

/// One detector over one run.
#[derive(Debug, Clone)]
pub struct Watch {
    pub detector: Detector,
    /// Consecutive samples with no cut where one is expected.
    below: u32,
    /// A cut as expected was seen in this run.
    seen_cut: bool,
    /// When the load last spiked above the upper band.
    spike_at: Option<f64>,
    /// Seconds above the overload limit, continuously.
    above_s: f64,
    /// What it found in this run (once per run).
    pub found: Option<Evidence>,
}

impl Watch {
    pub fn new(detector: Detector) -> Watch {
        Watch {
            detector,
            below: 0,
            seen_cut: false,
            spike_at: None,
            above_s: 0.0,
            found: None,
        }
    }

    /// Takes one sample `dt_s` after the last; returns a finding the first time there is one.
    pub fn sample(&mut self, s: &Sample, dt_s: f64) -> Option<Evidence> {
        if self.found.is_some() {
            return None;
        }
        let e = s.expect;
        let no_cut = |ratio: f64| e.cutting && s.value < e.lower && s.value < ratio * e.expected;
        let found = match self.detector {
            Detector::Breakage {
                drop_ratio,
                confirm_ticks,
                spike_ratio,
                spike_window,
                ..
            } => {
                if s.value > e.upper * spike_ratio {
                    self.spike_at = Some(s.time_s);
                }
                if no_cut(drop_ratio) {
                    self.below += 1;
                } else {
                    self.below = 0;
                    if e.cutting && s.value >= drop_ratio * e.expected {
                        self.seen_cut = true;
                    }
                }
                // A spike just before the drop is the breakage's own signature: the first
                // sample below confirms it; without one, `confirm_ticks` samples must.
                let spiked = self
                    .spike_at
                    .is_some_and(|t| s.time_s - t <= spike_window.as_secs_f64());
                self.seen_cut && self.below > 0 && (self.below >= confirm_ticks || spiked)
            }
            Detector::MissingTool {
                drop_ratio,
                confirm_ticks,
                ..
            } => {
                if no_cut(drop_ratio) {
                    self.below += 1;
                } else if e.cutting && s.value >= drop_ratio * e.expected {
                    // The tool cut: whatever comes later is a breakage's business.
                    self.seen_cut = true;
                }
                !self.seen_cut && self.below >= confirm_ticks
            }
            Detector::Overload {
                margin_pct, hold, ..
            } => {
                if s.value > e.upper * (1.0 + margin_pct / 100.0) {
                    self.above_s += dt_s;
                } else {
                    self.above_s = 0.0;
                }
                self.above_s > 0.0 && self.above_s >= hold.as_secs_f64()
            }
            Detector::WearDrift { .. } => false,
        };
        if found {
            self.found = Some(Evidence::of(s));
        }
        self.found
    }
}

/// Wear drift over finished cycles: the mean of the last `parts` feed-normalised load indices
/// (1 = as learned) and whether it is `rise_pct` above the envelope. `None` until there are
/// `parts` cycles to judge.
pub fn drift(detector: &Detector, indices: &[f64]) -> Option<(f64, bool)> {
    let Detector::WearDrift {
        rise_pct, parts, ..
    } = detector
    else {
        return None;
    };
    let k = *parts as usize;
    if indices.len() < k || k == 0 {
        return None;
    }
    let mean = indices[indices.len() - k..].iter().sum::<f64>() / k as f64;
    Some((mean, mean >= 1.0 + rise_pct / 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::monitor::Detector;
    use std::time::Duration;

    fn defaults(kind: usize) -> Detector {
        Detector::defaults()[kind].clone()
    }

    fn s(t: f64, value: f64) -> Sample {
        Sample {
            time_s: t,
            value,
            expect: Expect {
                position: t / 100.0,
                expected: 20.0,
                lower: 16.0,
                upper: 24.0,
                cutting: true,
                learned_feed: 1000.0,
            },
        }
    }

    fn run(w: &mut Watch, values: &[f64]) -> Option<(usize, Evidence)> {
        values
            .iter()
            .enumerate()
            .find_map(|(i, &v)| w.sample(&s(i as f64 * 0.1, v), 0.1).map(|e| (i, e)))
    }

    #[test]
    fn breakage_after_a_spike_is_confirmed_at_the_first_drop() {
        let mut w = Watch::new(defaults(0));
        let (i, e) = run(&mut w, &[20.0, 21.0, 40.0, 5.0, 5.0]).unwrap();
        assert_eq!(i, 3, "the first sample after the spike");
        assert_eq!(e.measured, 5.0);
        assert_eq!(e.expected, 20.0);
        // Without a spike, two samples below.
        let mut w = Watch::new(defaults(0));
        assert_eq!(run(&mut w, &[20.0, 20.0, 5.0, 5.0, 5.0]).unwrap().0, 3);
        // One sample below is noise, not a breakage.
        let mut w = Watch::new(defaults(0));
        assert!(run(&mut w, &[20.0, 5.0, 20.0, 5.0, 20.0]).is_none());
    }

    #[test]
    fn a_cut_never_seen_is_a_missing_tool_not_a_breakage() {
        let air = [5.0; 6];
        let mut b = Watch::new(defaults(0));
        assert!(run(&mut b, &air).is_none());
        let mut m = Watch::new(defaults(1));
        let (i, e) = run(&mut m, &air).unwrap();
        assert_eq!(i, 1, "confirm_ticks = 2");
        assert_eq!(e.measured, 5.0);
        // A tool that cut first is no missing tool.
        let mut m = Watch::new(defaults(1));
        assert!(run(&mut m, &[20.0, 5.0, 5.0, 5.0, 5.0]).is_none());
    }

    #[test]
    fn overload_must_hold() {
        let d = Detector::Overload {
            margin_pct: 0.0,
            hold: Duration::from_millis(300),
            severity: crate::condition::Severity::Critical,
        };
        let mut w = Watch::new(d.clone());
        assert!(run(&mut w, &[30.0, 30.0, 20.0, 30.0, 30.0, 20.0]).is_none());
        let mut w = Watch::new(d);
        assert_eq!(run(&mut w, &[30.0, 30.0, 30.0, 30.0]).unwrap().0, 2);
    }

    #[test]
    fn drift_needs_its_parts_and_its_rise() {
        let d = defaults(3);
        assert_eq!(drift(&d, &[1.3, 1.3]), None);
        assert_eq!(drift(&d, &[1.0, 1.0, 1.05]).map(|x| x.1), Some(false));
        assert_eq!(drift(&d, &[1.0, 1.1, 1.2, 1.2]).map(|x| x.1), Some(true));
    }
}
