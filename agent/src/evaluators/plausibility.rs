//! Plausibility guards on the counters the agent integrates (axis travel, pump strokes and
//! operating hours, the oil meter, counter components' life): a signal cannot change faster
//! than its physics allows. A change beyond that in the time since its last value is a glitch
//! (a torn register, a CNC switching coordinate systems, a bit error on a serial line): it is
//! ignored, not counted, and counting goes on from the new value. A counter that goes back was
//! reset at the device (a replaced controller, a 32-bit wrap, a service reset): counting goes
//! on from the new value, and nothing already counted is taken back. Either way the caller
//! gets an [`Event`] to log once and record.
//!
//! The allowed change uses the longer of two clocks since the last value: the evaluators' time
//! step (the machine's own clock where mapped, so a simulator at a time scale above 1 is judged
//! in machine time) and the wall clock (so an evaluator thread that stalled, or an agent that
//! was stopped while the machine ran on, does not turn real counting into a "jump"). Twice
//! that, plus a second: the counter and the clock are polled at different moments, so one
//! tick's counter can hold up to a poll more than its step. And the machine's clock advances
//! in steps of its own poll: polled every 500 ms on a simulator at 60×, it moves 30 s at one
//! tick and nothing at the four between, while a counter polled every 100 ms moves at each.
//! The largest recent step of the clock is added, so that granularity is no "jump".

use serde::{Deserialize, Serialize};

use crate::records::counter::CounterEventKind;
use crate::text::Text;

/// The fastest an axis can move, mm/s: 120 m/min. Ball-screw machining centres rapid at
/// 20-60 m/min and the fastest linear-motor machines at about 120 m/min, so a position that
/// moved further than this in the time since its last value did not move: it glitched (or the
/// CNC switched coordinate systems), and that distance is no wear of the ball screw.
pub const MAX_AXIS_SPEED_MM_S: f64 = 2000.0;

/// The fastest an MQL dosing pump can stroke, strokes/s. MQL micro-dosing pumps are driven at
/// a few strokes per second at most (their volume per stroke is what sets the oil rate); 20
/// per second is several times beyond any, so more strokes than that in a tick are a glitch.
pub const MAX_PUMP_STROKES_PER_S: f64 = 20.0;

/// The most oil an MQL unit can dispense, ml/h. Near-dry machining doses tens to a few hundred
/// ml/h; 2 l/h is far beyond it (flood cooling uses litres per minute, but has no MQL meter).
pub const MAX_OIL_ML_PER_H: f64 = 2000.0;

/// How much longer than the time since the last value a change may take (see the module
/// documentation), and the seconds added to it.
const WINDOW_FACTOR: f64 = 2.0;
const SLACK_S: f64 = 1.0;
/// Per tick, how much of the largest recent step is kept: at 10 ticks a second it halves in
/// about 7 s, long enough to span any machine clock's poll.
const STEP_DECAY: f64 = 0.99;

/// How a signal may change: a counter only goes up (by at most `max_per_s` a second, where its
/// physics is known); a position moves either way, by at most `max_per_s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Counter { max_per_s: Option<f64> },
    Position { max_per_s: f64 },
}

/// The physics of a counter signal: its maximum rate from the vocabulary's quantity, or from
/// its unit for a time counter (operating hours cannot pass faster than time). `None` for a
/// counter of unknown physics: only a backwards step is caught.
pub fn counter_limit(signal: &str, unit: &str) -> Limit {
    let max_per_s = match (signal, unit) {
        ("mql.pump_strokes", _) => Some(MAX_PUMP_STROKES_PER_S),
        ("mql.oil_dispensed", _) => Some(MAX_OIL_ML_PER_H / 3600.0),
        (_, "h") => Some(1.0 / 3600.0),
        (_, "min") => Some(1.0 / 60.0),
        (_, "s") => Some(1.0),
        _ => None,
    };
    Limit::Counter { max_per_s }
}

/// Where a guarded signal was last accepted, in time: kept with the counter's last value (and
/// stored with it, so a restart judges the first value against the time the agent was away).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Since {
    /// Seconds of the evaluators' time step since the last accepted value.
    pub elapsed_s: f64,
    /// Wall-clock time of the last accepted value (ms since the Unix epoch; 0: unknown).
    pub at_ms: i64,
    /// The largest recent time step (decaying): how coarsely the clock advances.
    #[serde(default)]
    pub step_s: f64,
}

/// What a guarded signal did at one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// No good value now.
    Absent,
    /// The first value: nothing to compare it with; counting starts from it.
    First,
    /// A plausible change: this much to count (a position's distance, a counter's increase).
    Counted(f64),
    /// Implausible: not counted, counting goes on from `to`.
    Event(Event),
}

/// A change the guard refused to count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub kind: CounterEventKind,
    pub from: f64,
    pub to: f64,
    /// For a jump: the most the signal could have changed.
    pub max_step: Option<f64>,
}

impl Event {
    /// For the log and the audit trail, e.g. `mql.pump_strokes went back from 1500 to 200`.
    pub fn describe(&self, signal: &str) -> Text {
        let (from, to) = (self.from, self.to);
        match self.kind {
            CounterEventKind::Backwards => Text::new(
                format!(
                    "{signal} went back from {from} to {to}: reset at the device; counting goes on \
                     from {to}"
                ),
                format!("{signal} 从 {from} 回退到 {to}：设备上已清零；从 {to} 继续计数"),
            ),
            CounterEventKind::Jump => {
                let max = self.max_step.unwrap_or(f64::NAN);
                Text::new(
                    format!(
                        "{signal} jumped from {from} to {to}, more than the {max:.3} it can change \
                         in that time; not counted"
                    ),
                    format!(
                        "{signal} 从 {from} 跳变到 {to}，超过这段时间内最多可能的变化量 {max:.3}；\
                         不计入"
                    ),
                )
            }
        }
    }
}

/// Judges `value` (`None`: not good now) against the `last` accepted value, `since` then; `dt_s`
/// is this tick's time step, `now_ms` the frame's wall-clock time. Updates `last` and `since`.
pub fn check(
    last: &mut Option<f64>,
    since: &mut Since,
    value: Option<f64>,
    dt_s: f64,
    now_ms: i64,
    limit: Limit,
) -> Step {
    since.elapsed_s += dt_s.max(0.0);
    since.step_s = (since.step_s * STEP_DECAY).max(dt_s.max(0.0));
    let Some(v) = value else {
        return Step::Absent;
    };
    let accept = |last: &mut Option<f64>, since: &mut Since| {
        *last = Some(v);
        *since = Since {
            elapsed_s: 0.0,
            at_ms: now_ms,
            step_s: since.step_s,
        };
    };
    let Some(from) = *last else {
        accept(last, since);
        return Step::First;
    };
    let wall_s = if since.at_ms > 0 {
        ((now_ms - since.at_ms) as f64 / 1000.0).max(0.0)
    } else {
        0.0
    };
    let window_s = WINDOW_FACTOR * since.elapsed_s.max(wall_s) + SLACK_S + since.step_s;
    let (change, max_per_s) = match limit {
        Limit::Counter { .. } if v < from => {
            accept(last, since);
            return Step::Event(Event {
                kind: CounterEventKind::Backwards,
                from,
                to: v,
                max_step: None,
            });
        }
        Limit::Counter { max_per_s } => (v - from, max_per_s),
        Limit::Position { max_per_s } => ((v - from).abs(), Some(max_per_s)),
    };
    accept(last, since);
    match max_per_s.map(|r| r * window_s) {
        Some(max) if change > max => Step::Event(Event {
            kind: CounterEventKind::Jump,
            from,
            to: v,
            max_step: Some(max),
        }),
        _ => Step::Counted(change),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `values` one tick of `dt` (0.1 s) apart, wall clock alike; returns the steps.
    fn run(limit: Limit, values: &[Option<f64>]) -> Vec<Step> {
        let (mut last, mut since) = (None, Since::default());
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                check(
                    &mut last,
                    &mut since,
                    *v,
                    0.1,
                    1_000 + 100 * i as i64,
                    limit,
                )
            })
            .collect()
    }

    /// A simulator at 60× with its clock polled every 500 ms and the pump's hours every 100 ms:
    /// the clock steps 30 s every fifth tick, the hours move 6 s at every tick. All counted;
    /// a real glitch still is not.
    #[test]
    fn counter_events_read_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        let back = Event {
            kind: CounterEventKind::Backwards,
            from: 1500.0,
            to: 200.5,
            max_step: None,
        };
        chinese(&back.describe("mql.pump_strokes"), &["mql.pump_strokes"]);
        let jump = Event {
            kind: CounterEventKind::Jump,
            from: 10.0,
            to: 9000.0,
            max_step: Some(12.3456),
        };
        let t = jump.describe("machine.operating_hours");
        chinese(&t, &["machine.operating_hours"]);
        assert!(t.zh.contains("12.346"), "{}", t.zh);
    }

    #[test]
    fn a_coarse_machine_clock_is_no_jump() {
        let limit = counter_limit("mql.pump_operating_time", "h");
        let (mut last, mut since) = (None, Since::default());
        let mut counted = 0.0;
        for i in 0..50 {
            let dt = if i % 5 == 0 { 30.0 } else { 0.0 };
            let v = 100.0 + i as f64 * 6.0 / 3600.0;
            match check(&mut last, &mut since, Some(v), dt, 1_000 + 100 * i, limit) {
                Step::Counted(c) => counted += c,
                Step::First => {}
                other => panic!("tick {i}: {other:?}"),
            }
        }
        assert!((counted - 49.0 * 6.0 / 3600.0).abs() < 1e-9, "{counted}");
        let glitch = check(&mut last, &mut since, Some(200.0), 0.0, 6_000, limit);
        assert!(matches!(glitch, Step::Event(_)), "{glitch:?}");
    }

    #[test]
    fn a_pump_counts_what_it_can_stroke_and_refuses_a_glitch_and_a_reset() {
        let limit = counter_limit("mql.pump_strokes", "count");
        // 0.1 s steps: at most 20/s × (2 × 0.1 + 1 + 0.1) = 26 strokes per tick.
        let steps = run(
            limit,
            &[
                Some(100.0),
                Some(101.0),
                Some(124.0),
                Some(4_000_000_000.0),
                Some(4_000_000_002.0),
                Some(3.0),
                Some(5.0),
            ],
        );
        assert_eq!(steps[0], Step::First);
        assert_eq!(steps[1], Step::Counted(1.0));
        assert_eq!(steps[2], Step::Counted(23.0), "near the limit");
        match steps[3] {
            Step::Event(e) => {
                assert_eq!(e.kind, CounterEventKind::Jump);
                assert_eq!((e.from, e.to), (124.0, 4e9));
                assert!((e.max_step.unwrap() - 26.0).abs() < 1e-9, "{e:?}");
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(steps[4], Step::Counted(2.0), "counted on from the glitch");
        assert!(matches!(
            steps[5],
            Step::Event(Event {
                kind: CounterEventKind::Backwards,
                from: 4_000_000_002.0,
                to: 3.0,
                ..
            })
        ));
        assert_eq!(steps[6], Step::Counted(2.0), "counted on from the reset");
    }

    #[test]
    fn a_gap_widens_the_window_by_the_time_that_passed() {
        let limit = counter_limit("mql.pump_strokes", "count");
        // 3 s without a good value: 20/s × (2 × 3.1 + 1) = 144 strokes may have passed.
        let mut v = vec![Some(0.0)];
        v.extend(std::iter::repeat_n(None, 30));
        v.push(Some(140.0));
        assert_eq!(*run(limit, &v).last().unwrap(), Step::Counted(140.0));
        *v.last_mut().unwrap() = Some(150.0);
        assert!(matches!(run(limit, &v).last().unwrap(), Step::Event(_)));
    }

    #[test]
    fn the_wall_clock_covers_a_stalled_thread_or_an_agent_that_was_away() {
        let limit = counter_limit("mql.pump_operating_time", "h");
        let (mut last, mut since) = (Some(10.0), Since::default());
        since.at_ms = 1_000;
        // Two hours later by the wall clock, one tick of the time step: two hours may pass.
        let two_h = 2 * 3600 * 1000;
        assert_eq!(
            check(&mut last, &mut since, Some(12.0), 0.1, 1_000 + two_h, limit),
            Step::Counted(2.0)
        );
        // The wall clock set back (a Pi without a battery clock): the time step alone counts.
        assert!(matches!(
            check(&mut last, &mut since, Some(13.0), 0.1, 0, limit),
            Step::Event(Event {
                kind: CounterEventKind::Jump,
                ..
            })
        ));
    }

    #[test]
    fn an_axis_moves_either_way_but_not_faster_than_a_rapid() {
        let limit = Limit::Position {
            max_per_s: MAX_AXIS_SPEED_MM_S,
        };
        // 0.1 s: at most 2000 × 1.2 = 2400 mm.
        let steps = run(
            limit,
            &[
                Some(0.0),
                Some(-150.0),
                Some(2000.0),
                Some(1e6),
                Some(1e6 - 5.0),
            ],
        );
        assert_eq!(steps[1], Step::Counted(150.0));
        assert_eq!(steps[2], Step::Counted(2150.0));
        assert!(matches!(
            steps[3],
            Step::Event(Event {
                kind: CounterEventKind::Jump,
                ..
            })
        ));
        assert_eq!(steps[4], Step::Counted(5.0));
    }

    #[test]
    fn unknown_physics_catches_only_a_backwards_step() {
        let limit = counter_limit("plc.cycles", "count");
        let steps = run(limit, &[Some(0.0), Some(1e12), Some(5.0)]);
        assert_eq!(steps[1], Step::Counted(1e12));
        assert!(matches!(
            steps[2],
            Step::Event(Event {
                kind: CounterEventKind::Backwards,
                ..
            })
        ));
        assert_eq!(
            counter_limit("plc.hours", "h"),
            Limit::Counter {
                max_per_s: Some(1.0 / 3600.0)
            }
        );
    }
}
