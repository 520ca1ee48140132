//! Cutting the signal stream into operations (and parts), from the CNC's own state: a cut runs
//! while the spindle turns, the feed moves at a cutting rate, the channel is active and the
//! spindle is loaded; idle, rapid moves and tool changes are not cutting. A little hysteresis
//! (start and end delays) keeps a flickering value from splitting an operation; a change of
//! program, operation name or tool ends one at once.
//!
//! This is not an evaluator but the stage every evaluator reads (`Activity`): the green-cutting
//! checks judge the operations it cuts, the life evaluator counts tool usage over exactly the
//! seconds it counts as cutting. It knows nothing of rules: the compliance evaluator adds an
//! operation's compliant seconds and verdict to the records it stores.

use super::frame::Frame;
use super::plausibility::{self, Since, Step};
use crate::config::{Carbon, OperationSettings};
use crate::records::operation::{OperationRecord, PartRecord};

/// The machine's activity at a tick: the meters, the open operation, and what finished.
pub struct Activity {
    meters: Meters,
    segmenter: Segmenter,
    parts: Parts,
    finished: Vec<OperationRecord>,
    part: Option<PartRecord>,
    /// Turns each finished record's energy and oil into kg CO₂e and oil saved.
    carbon: Carbon,
}

impl Activity {
    pub fn new(settings: OperationSettings) -> Activity {
        Activity {
            meters: Meters::default(),
            segmenter: Segmenter::new(settings),
            parts: Parts::default(),
            finished: Vec::new(),
            part: None,
            carbon: Carbon::default(),
        }
    }

    /// With the plant's carbon factors (`[carbon]`) instead of the defaults.
    pub fn with_carbon(mut self, carbon: Carbon) -> Activity {
        self.carbon = carbon;
        self
    }

    /// Advances one tick of `dt_s` seconds.
    pub fn step(&mut self, f: &Frame, dt_s: f64) {
        self.meters.step(f, dt_s);
        self.finished = self.segmenter.step(f, &self.meters, dt_s);
        self.part = self
            .parts
            .step(f, &self.meters, dt_s, self.segmenter.in_operation());
        // At the factors in force when the record is made: a factor changed later does not
        // rewrite what was recorded under the old one.
        let c = &self.carbon;
        for o in &mut self.finished {
            o.co2e_kg = Some(c.co2e_kg(o.energy_kwh, o.oil_ml));
            o.oil_saved_ml = c.oil_saved_ml(o.cutting_s, o.oil_ml);
        }
        if let Some(p) = &mut self.part {
            p.co2e_kg = Some(c.co2e_kg(p.energy_kwh, p.oil_ml));
            p.oil_saved_ml = c.oil_saved_ml(p.cutting_s, p.oil_ml);
        }
    }

    /// An operation is open: what the rules take as "cutting".
    pub fn cutting(&self) -> bool {
        self.segmenter.in_operation()
    }

    /// The operation under way (its compliance figures not filled in).
    pub fn current(&self) -> Option<&OperationRecord> {
        self.segmenter.current()
    }

    /// The tool and the cutting seconds this tick added to the open operation, if any.
    pub fn counted(&self) -> Option<(&str, f64)> {
        self.segmenter.counted()
    }

    /// Cutting seconds this tick added to the open operation (0 when none).
    pub fn counted_s(&self) -> f64 {
        self.segmenter.counted_s
    }

    /// Operations that finished at this tick (at most two), compliance figures not filled in.
    pub fn finished(&self) -> &[OperationRecord] {
        &self.finished
    }

    /// The part that finished at this tick.
    pub fn part(&self) -> Option<&PartRecord> {
        self.part.as_ref()
    }

    /// The parts counter went up at this tick (also for the first part seen, which is
    /// incomplete and has no record).
    pub fn part_boundary(&self) -> bool {
        self.parts.boundary
    }

    /// Energy (kWh) and oil (ml) counted since the agent started.
    pub fn meters(&self) -> (f64, f64) {
        (self.meters.energy_kwh, self.meters.oil_ml)
    }

    /// Steps of the oil meter that its plausibility guard refused at this tick (signal,
    /// event): not counted as oil.
    pub fn counter_events(&self) -> &[(&'static str, plausibility::Event)] {
        &self.meters.events
    }
}

/// Energy and oil counted since the agent started.
#[derive(Debug, Clone, Default)]
struct Meters {
    /// ∫ spindle power dt.
    pub energy_kwh: f64,
    /// From the MQL unit's own dispensed-oil counter where it is good (a metered total beats an
    /// integrated rate), else ∫ oil flow dt.
    pub oil_ml: f64,
    last_dispensed: Option<f64>,
    dispensed_since: Since,
    /// The oil meter's refused steps at the last tick.
    events: Vec<(&'static str, plausibility::Event)>,
}

impl Meters {
    fn step(&mut self, f: &Frame, dt_s: f64) {
        self.events.clear();
        if let Some(p) = f.num("spindle.power") {
            self.energy_kwh += p.max(0.0) * dt_s / 3600.0;
        }
        const DISPENSED: &str = "mql.oil_dispensed";
        match f.num(DISPENSED) {
            Some(total) => {
                // A counter reset or a refill correction is no consumption, nor is a jump
                // beyond what an MQL unit can dispense.
                match plausibility::check(
                    &mut self.last_dispensed,
                    &mut self.dispensed_since,
                    Some(total),
                    dt_s,
                    f.now_ms,
                    plausibility::counter_limit(DISPENSED, "ml"),
                ) {
                    Step::Counted(d) => self.oil_ml += d,
                    Step::Event(e) => self.events.push((DISPENSED, e)),
                    Step::First | Step::Absent => {}
                }
            }
            None => {
                self.last_dispensed = None;
                if let Some(flow) = f.num("mql.oil_flow") {
                    self.oil_ml += flow.max(0.0) * dt_s / 3600.0;
                }
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Mean {
    sum: f64,
    n: u32,
    max: Option<f64>,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.n += 1;
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }
    fn get(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
}

#[derive(Debug, Clone)]
struct Open {
    rec: OperationRecord,
    identity: Identity,
    energy0: f64,
    oil0: f64,
    speed: Mean,
    feed: Mean,
    vc: Mean,
    fz: Mean,
    load: Mean,
    power: Mean,
    last_cut_ms: i64,
}

type Identity = (Option<String>, Option<String>, Option<String>);

fn identity(f: &Frame) -> Identity {
    let t = |n: &str| f.text(n).map(str::to_string);
    (t("channel.program"), t("channel.operation"), t("tool.id"))
}

struct Segmenter {
    settings: OperationSettings,
    open: Option<Open>,
    /// Cutting first seen (with the meters then), waiting for `start_delay`.
    pending: Option<(i64, f64, f64)>,
    quiet_since: Option<i64>,
    /// Cutting seconds added to the open operation at the last step (what tool usage counts).
    counted_s: f64,
}

impl Segmenter {
    pub fn new(settings: OperationSettings) -> Self {
        Segmenter {
            settings,
            open: None,
            pending: None,
            quiet_since: None,
            counted_s: 0.0,
        }
    }

    /// The tool and the cutting seconds the last step added to the open operation, if any:
    /// usage counters count exactly what the operations count.
    pub fn counted(&self) -> Option<(&str, f64)> {
        let tool = self.current()?.tool_id.as_deref()?;
        (self.counted_s > 0.0).then_some((tool, self.counted_s))
    }

    /// Whether the frame shows a cut, before hysteresis.
    pub fn cutting_now(&self, f: &Frame) -> bool {
        let rotating = f
            .flag("spindle.rotating")
            .or_else(|| f.num("spindle.speed").map(|n| n > 1.0))
            .unwrap_or(false);
        let feed = f.num("channel.feedrate").unwrap_or(0.0);
        let active = f.text("channel.state").is_none_or(|s| s == "active");
        let loaded = f
            .num("spindle.load")
            .is_none_or(|l| l >= self.settings.min_load_pct);
        rotating && feed > 0.0 && feed <= self.settings.max_cutting_feed_mm_min && active && loaded
    }

    /// The operation under way, if any.
    pub fn current(&self) -> Option<&OperationRecord> {
        self.open.as_ref().map(|o| &o.rec)
    }

    /// True while an operation is open: what the rules take as "cutting".
    pub fn in_operation(&self) -> bool {
        self.open.is_some()
    }

    /// Advances one tick. Returns the operations that finished at this tick (at most two: a
    /// change of tool or program ends one and may start the next).
    fn step(&mut self, f: &Frame, meters: &Meters, dt_s: f64) -> Vec<OperationRecord> {
        let now = f.now_ms;
        let cutting = self.cutting_now(f);
        self.counted_s = 0.0;
        let mut done = Vec::new();
        if let Some(open) = &self.open {
            let id = identity(f);
            let changed = (id.0.is_some() && id.0 != open.identity.0)
                || (id.1.is_some() && id.1 != open.identity.1)
                || (id.2.is_some() && id.2 != open.identity.2);
            if changed {
                done.push(self.finish(meters, open.last_cut_ms));
                if cutting {
                    self.start(f, now, meters);
                }
            }
        }
        match &mut self.open {
            Some(open) => {
                if cutting {
                    self.quiet_since = None;
                    open.last_cut_ms = now;
                    open.rec.cutting_s += dt_s;
                    self.counted_s = dt_s;
                    let n = f.num("spindle.speed");
                    let vf = f.num("channel.feedrate");
                    let d = f.num("tool.diameter");
                    let z = f.num("tool.edges");
                    open.speed.add(n);
                    open.feed.add(vf);
                    open.load.add(f.num("spindle.load"));
                    open.power.add(f.num("spindle.power"));
                    if let (Some(n), Some(d)) = (n, d) {
                        open.vc.add(Some(std::f64::consts::PI * d * n / 1000.0));
                    }
                    if let (Some(n), Some(vf), Some(z)) = (n, vf, z) {
                        if n > 0.0 && z > 0.0 {
                            open.fz.add(Some(vf / (n * z)));
                        }
                    }
                } else {
                    let since = *self.quiet_since.get_or_insert(now);
                    if (now - since) as u128 >= self.settings.end_delay.as_millis() {
                        let end = open.last_cut_ms;
                        done.push(self.finish(meters, end));
                    }
                }
            }
            None => {
                if cutting {
                    let (since, e0, o0) =
                        *self
                            .pending
                            .get_or_insert((now, meters.energy_kwh, meters.oil_ml));
                    if (now - since) as u128 >= self.settings.start_delay.as_millis() {
                        self.start(f, since, meters);
                        let open = self.open.as_mut().unwrap();
                        open.energy0 = e0;
                        open.oil0 = o0;
                    }
                } else {
                    self.pending = None;
                }
            }
        }
        // An operation opened on the tick before a tool or program change never cut: it is no
        // operation (its start delay is not cutting time either).
        done.retain(|op| op.cutting_s > 0.0);
        done
    }

    fn start(&mut self, f: &Frame, start_ms: i64, meters: &Meters) {
        let t = |n: &str| f.text(n).map(str::to_string);
        self.pending = None;
        self.quiet_since = None;
        self.open = Some(Open {
            rec: OperationRecord {
                start_ms,
                end_ms: start_ms,
                program: t("channel.program"),
                operation: t("channel.operation"),
                tool_id: t("tool.id"),
                tool_material: t("tool.material"),
                tool_coating: t("tool.coating"),
                tool_diameter_mm: f.num("tool.diameter"),
                tool_edges: f.num("tool.edges"),
                tool_class: t("tool.class"),
                workpiece_material: t("workpiece.material"),
                workpiece_group: t("workpiece.material_group"),
                workpiece_hardness_hrc: f.num("workpiece.hardness"),
                cooling_mode: t("cooling.mode"),
                part_no: f.num("machine.parts_count").map(|p| p + 1.0),
                ..OperationRecord::default()
            },
            identity: identity(f),
            energy0: meters.energy_kwh,
            oil0: meters.oil_ml,
            speed: Mean::default(),
            feed: Mean::default(),
            vc: Mean::default(),
            fz: Mean::default(),
            load: Mean::default(),
            power: Mean::default(),
            last_cut_ms: start_ms,
        });
    }

    fn finish(&mut self, meters: &Meters, end_ms: i64) -> OperationRecord {
        let o = self.open.take().expect("an open operation");
        self.quiet_since = None;
        OperationRecord {
            end_ms,
            speed_mean_rpm: o.speed.get(),
            feed_mean_mm_min: o.feed.get(),
            vc_mean_m_min: o.vc.get(),
            fz_mean_mm: o.fz.get(),
            spindle_load_mean_pct: o.load.get(),
            spindle_load_max_pct: o.load.max,
            spindle_power_mean_kw: o.power.get(),
            spindle_power_max_kw: o.power.max,
            energy_kwh: meters.energy_kwh - o.energy0,
            oil_ml: meters.oil_ml - o.oil0,
            ..o.rec
        }
    }
}

/// Watches the parts counter; the first part seen is incomplete and not recorded.
#[derive(Default)]
struct Parts {
    last: Option<f64>,
    started: Option<(i64, f64, f64)>,
    cutting_s: f64,
    /// The counter went up at the last step.
    boundary: bool,
}

impl Parts {
    fn step(&mut self, f: &Frame, meters: &Meters, dt_s: f64, cutting: bool) -> Option<PartRecord> {
        self.boundary = false;
        if cutting {
            self.cutting_s += dt_s;
        }
        let count = f.num("machine.parts_count")?;
        let last = self.last.replace(count);
        match last {
            Some(prev) if count > prev => {
                let done = self.started.map(|(start_ms, e0, o0)| PartRecord {
                    part_no: count,
                    program: f.text("channel.program").map(str::to_string),
                    start_ms,
                    end_ms: f.now_ms,
                    energy_kwh: meters.energy_kwh - e0,
                    oil_ml: meters.oil_ml - o0,
                    cutting_s: self.cutting_s,
                    // Judged by the compliance evaluator, which knows the rules.
                    judged_s: 0.0,
                    compliant_s: 0.0,
                    // Filled in by `Activity::step`, which holds the factors.
                    co2e_kg: None,
                    oil_saved_ml: None,
                });
                self.started = Some((f.now_ms, meters.energy_kwh, meters.oil_ml));
                self.cutting_s = 0.0;
                self.boundary = true;
                done
            }
            Some(prev) if count < prev => {
                // Counter reset at the CNC: start afresh.
                self.started = None;
                None
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use std::time::Duration;

    fn settings() -> OperationSettings {
        OperationSettings {
            tick: Duration::from_millis(100),
            min_load_pct: 2.0,
            max_cutting_feed_mm_min: 10_000.0,
            start_delay: Duration::from_millis(300),
            end_delay: Duration::from_millis(1000),
        }
    }

    fn frame(t: i64, tool: &str, cutting: bool) -> Frame {
        Frame::from_values(
            t,
            [
                ("spindle.rotating", Value::Bool(cutting)),
                (
                    "spindle.speed",
                    Value::Number(if cutting { 5000.0 } else { 0.0 }),
                ),
                (
                    "channel.feedrate",
                    Value::Number(if cutting { 1000.0 } else { 0.0 }),
                ),
                (
                    "spindle.load",
                    Value::Number(if cutting { 20.0 } else { 0.0 }),
                ),
                (
                    "spindle.power",
                    Value::Number(if cutting { 3.6 } else { 0.0 }),
                ),
                ("tool.id", Value::Text(tool.into())),
                ("tool.diameter", Value::Number(10.0)),
                ("tool.edges", Value::Number(4.0)),
                ("channel.program", Value::Text("O1".into())),
                ("channel.state", Value::Text("active".into())),
            ],
        )
    }

    fn run(
        seg: &mut Segmenter,
        meters: &mut Meters,
        t: &mut i64,
        tool: &str,
        cutting: bool,
        ticks: usize,
    ) -> Vec<OperationRecord> {
        let mut done = Vec::new();
        for _ in 0..ticks {
            *t += 100;
            let f = frame(*t, tool, cutting);
            meters.step(&f, 0.1);
            done.extend(seg.step(&f, meters, 0.1));
        }
        done
    }

    #[test]
    fn a_cut_becomes_one_operation_with_its_figures() {
        let (mut seg, mut m, mut t) = (Segmenter::new(settings()), Meters::default(), 0);
        assert!(run(&mut seg, &mut m, &mut t, "T1", true, 100).is_empty());
        // A one-tick dropout does not split it.
        assert!(run(&mut seg, &mut m, &mut t, "T1", false, 1).is_empty());
        assert!(run(&mut seg, &mut m, &mut t, "T1", true, 50).is_empty());
        let done = run(&mut seg, &mut m, &mut t, "T1", false, 20);
        assert_eq!(done.len(), 1);
        let op = &done[0];
        assert!((op.cutting_s - 14.7).abs() < 0.11, "{}", op.cutting_s);
        // 3.6 kW for ~15 s = 0.015 kWh
        assert!((op.energy_kwh - 0.015).abs() < 0.0003, "{}", op.energy_kwh);
        assert!((op.vc_mean_m_min.unwrap() - std::f64::consts::PI * 10.0 * 5.0).abs() < 1e-9);
        assert!((op.fz_mean_mm.unwrap() - 0.05).abs() < 1e-12);
    }

    #[test]
    fn an_operation_that_never_cut_is_not_recorded() {
        let (mut seg, mut m, mut t) = (Segmenter::new(settings()), Meters::default(), 0);
        // Opens after the 300 ms start delay, then the tool changes on the very next tick.
        run(&mut seg, &mut m, &mut t, "T1", true, 4);
        assert!(seg.in_operation());
        assert!(run(&mut seg, &mut m, &mut t, "T2", true, 1).is_empty());
        assert_eq!(seg.current().unwrap().tool_id.as_deref(), Some("T2"));
    }

    #[test]
    fn a_tool_change_ends_the_operation_at_once() {
        let (mut seg, mut m, mut t) = (Segmenter::new(settings()), Meters::default(), 0);
        run(&mut seg, &mut m, &mut t, "T1", true, 30);
        let done = run(&mut seg, &mut m, &mut t, "T2", true, 1);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].tool_id.as_deref(), Some("T1"));
        assert_eq!(seg.current().unwrap().tool_id.as_deref(), Some("T2"));
    }

    #[test]
    fn rapid_moves_and_air_cutting_are_not_cuts() {
        let seg = Segmenter::new(settings());
        let mut f = frame(0, "T1", true);
        assert!(seg.cutting_now(&f));
        f = Frame::from_values(
            0,
            [
                ("spindle.rotating", Value::Bool(true)),
                ("channel.feedrate", Value::Number(15_000.0)),
            ],
        );
        assert!(!seg.cutting_now(&f), "rapid");
        f = Frame::from_values(
            0,
            [
                ("spindle.rotating", Value::Bool(true)),
                ("channel.feedrate", Value::Number(800.0)),
                ("spindle.load", Value::Number(0.5)),
            ],
        );
        assert!(!seg.cutting_now(&f), "air cutting");
    }
}
