//! Counter components (`[[alarms.component]]`): a wearing part whose life used is a counter
//! signal (pump hours, strokes) since maintenance last reset it. Life used is the counter less
//! its baseline, plus what was carried over when the counter stopped counting on: a counter
//! reset at the device (it goes back) or a glitch (a jump beyond its physics, `plausibility.rs`)
//! takes the new value as the baseline and keeps the life used so far. So usage never goes
//! negative and never falls back, and the component's alarms do not fall silent after a reset
//! at the device.

use crate::evaluators::plausibility::{self, Limit, Since, Step};
use crate::records::counter::CounterEventKind;

/// One counter component's life used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CounterLife {
    /// The counter value life counts from: maintenance's reset, or the device's reset or a
    /// glitch since.
    baseline: f64,
    /// Life used before `baseline` was taken.
    carried: f64,
    last: Option<f64>,
    since: Since,
    /// Life used as the last tick judged it (`None` while the counter is not good): what the
    /// maintenance page shows, never a value before its step was judged.
    judged: Option<f64>,
}

/// A refused step of a counter component, with its life used at the event (counted on from
/// the event's new value: what a restart resumes from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rebaselined {
    pub event: plausibility::Event,
    pub used: f64,
}

impl CounterLife {
    /// Life counted from `baseline`, with `carried` used before it.
    pub fn new(baseline: f64, carried: f64) -> CounterLife {
        CounterLife {
            baseline,
            carried,
            ..CounterLife::default()
        }
    }

    /// Life used at counter value `counter`: never negative.
    pub fn used_at(&self, counter: f64) -> f64 {
        (self.carried + counter - self.baseline).max(0.0)
    }

    /// Life used as of the last tick.
    pub fn used(&self) -> Option<f64> {
        self.judged
    }

    /// One tick: the counter now (`None`: not good), the time step and the frame's wall clock.
    pub fn step(
        &mut self,
        counter: Option<f64>,
        dt_s: f64,
        now_ms: i64,
        limit: Limit,
    ) -> Option<Rebaselined> {
        let event = self.judge(counter, dt_s, now_ms, limit);
        self.judged = counter.map(|v| self.used_at(v));
        event
    }

    fn judge(
        &mut self,
        counter: Option<f64>,
        dt_s: f64,
        now_ms: i64,
        limit: Limit,
    ) -> Option<Rebaselined> {
        // The first value after a start below the baseline: the counter was reset at the
        // device while the agent was away. What it counted between the last record and the
        // reset is unknown; the life used so far is kept.
        if let (None, Some(v)) = (self.last, counter) {
            if v < self.baseline {
                let event = plausibility::Event {
                    kind: CounterEventKind::Backwards,
                    from: self.baseline,
                    to: v,
                    max_step: None,
                };
                self.baseline = v;
                plausibility::check(
                    &mut self.last,
                    &mut self.since,
                    counter,
                    dt_s,
                    now_ms,
                    limit,
                );
                return Some(Rebaselined {
                    event,
                    used: self.carried,
                });
            }
        }
        match plausibility::check(
            &mut self.last,
            &mut self.since,
            counter,
            dt_s,
            now_ms,
            limit,
        ) {
            Step::Event(event) => {
                self.carried = self.used_at(event.from);
                self.baseline = event.to;
                Some(Rebaselined {
                    event,
                    used: self.carried,
                })
            }
            Step::Counted(_) | Step::First | Step::Absent => None,
        }
    }

    /// Maintenance replaced the component: life counts afresh from `counter`.
    pub fn reset(&mut self, counter: f64) {
        *self = CounterLife::new(counter, 0.0);
        self.last = Some(counter);
        self.judged = Some(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operating hours, ticks of 0.1 s (0.1 s on the wall clock too).
    fn run(c: &mut CounterLife, values: &[f64], t0: i64) -> Vec<Option<Rebaselined>> {
        let limit = plausibility::counter_limit("mql.pump_operating_time", "h");
        values
            .iter()
            .enumerate()
            .map(|(i, v)| c.step(Some(*v), 0.1, t0 + 100 * i as i64, limit))
            .collect()
    }

    #[test]
    fn a_reset_at_the_device_keeps_the_life_used_and_counts_on() {
        // Maintenance reset at 100 h; the pump ran to 130 h, then its controller was replaced.
        let mut c = CounterLife::new(100.0, 0.0);
        let got = run(&mut c, &[129.9999, 130.0, 0.0, 0.00002], 1_000);
        assert!(got[..2].iter().all(Option::is_none));
        let r = got[2].expect("a backwards step");
        assert_eq!(r.event.kind, CounterEventKind::Backwards);
        assert!((r.used - 30.0).abs() < 1e-9, "{r:?}");
        assert!((c.used_at(0.00002) - 30.00002).abs() < 1e-9);
        assert!(
            (c.used().unwrap() - 30.00002).abs() < 1e-9,
            "as judged at the last tick"
        );
        assert!(c.used_at(0.0) >= 0.0);
        // Restored as a restart restores it: from the event's new value and life used.
        let back = CounterLife::new(r.event.to, r.used);
        assert!((back.used_at(5.0) - 35.0).abs() < 1e-9);
    }

    #[test]
    fn a_glitch_is_not_life_used() {
        let mut c = CounterLife::new(0.0, 0.0);
        let got = run(&mut c, &[10.0, 10.00001, 65_535.0, 65_535.000_01], 1_000);
        let r = got[2].expect("a jump");
        assert_eq!(r.event.kind, CounterEventKind::Jump);
        assert!((c.used_at(65_535.000_01) - 10.00002).abs() < 1e-9);
    }

    #[test]
    fn a_counter_below_its_baseline_at_start_was_reset_while_the_agent_was_away() {
        let mut c = CounterLife::new(500.0, 20.0);
        let r = run(&mut c, &[3.0], 1_000)[0].expect("re-baselined");
        assert_eq!((r.event.from, r.event.to, r.used), (500.0, 3.0, 20.0));
        assert!((c.used_at(4.0) - 21.0).abs() < 1e-9);
        // Maintenance replaces the pump: from zero.
        c.reset(4.0);
        assert_eq!(c.used_at(4.0), 0.0);
        assert!(run(&mut c, &[4.00001], 2_000)[0].is_none());
    }
}
