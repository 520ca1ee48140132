//! The machine's service history per component, accumulated from what the agent reads while
//! the machine runs: the spindle (hours, revolutions, a speed × load spectrum, bearing
//! temperature), each axis' ball screw (travel, reversals, travel over axis load) and the MQL
//! pump (strokes, operating time). Rated lives (`component_life.rs`) are computed from it.
//!
//! Fed by `life::Life` on the compliance evaluator's tick with the tick's `dt`, from a frame of
//! good values only: a stale or absent signal adds nothing (its time is not counted, its
//! revolutions are not guessed). Axis travel and the pump's counters are guarded
//! (`plausibility.rs`): a jump beyond what the axis or the pump can do is not counted, a
//! counter that goes back counts on from its new value; [`ServiceHistory::step`] returns each
//! such event for the audit trail. Everything is a fixed-size array: the history never grows.
//!
//! Stored as one JSON row (`component_life`, name `service-history`) in the store's file, at
//! most once a minute and at a clean stop: SD cards wear by writes, so **a power cut loses at
//! most the last minute of counting** (the counters restart from the last stored row).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::evaluators::frame::Frame;
use crate::evaluators::plausibility::{self, Limit, Since, Step, MAX_AXIS_SPEED_MM_S};

/// Row name in `component_life`.
pub const ROW: &str = "service-history";

/// How often the history is stored (ms).
pub const SAVE_EVERY_MS: i64 = 60_000;

/// Lower edges of the spindle speed bins (rev/min). Bin i holds [edge i, edge i+1); the last
/// bin holds everything from 12 000 rev/min up. Negative speeds (reverse) count by magnitude.
pub const SPEED_EDGES_RPM: [f64; 9] = [
    0.0, 500.0, 1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0,
];
/// Lower edges of the spindle load bins (% of rated power, `spindle.load`); the last bin
/// holds 100 % and above (short-time overload).
pub const SPINDLE_LOAD_EDGES_PCT: [f64; 8] = [0.0, 5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0];
/// Lower edges of the axis drive load bins (% of rated, `axis.<a>.load`, by magnitude).
pub const AXIS_LOAD_EDGES_PCT: [f64; 8] = [0.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0];

const NS: usize = SPEED_EDGES_RPM.len();
const NL: usize = SPINDLE_LOAD_EDGES_PCT.len();
const NA: usize = AXIS_LOAD_EDGES_PCT.len();

/// Time constant of the "recent duty" copies of the spectra (hours of their own clock:
/// spindle running hours, powered hours for the axes): remaining life is projected at the
/// duty of about the last shift, not at the average since commissioning.
pub const RECENT_TAU_H: f64 = 8.0;

/// A move back by more than this (mm) after a move forward is a reversal: below it, position
/// jitter of a standing axis would count as cycles.
pub const REVERSAL_HYSTERESIS_MM: f64 = 0.05;

/// Signals read (canonical names).
const AXES: [&str; 3] = ["x", "y", "z"];
const POSITIONS: [&str; 3] = ["axis.x.position", "axis.y.position", "axis.z.position"];

/// The bin of `v` among lower `edges` (values below the first edge go to the first bin).
pub fn bin(edges: &[f64], v: f64) -> usize {
    edges.iter().rposition(|e| v >= *e).unwrap_or(0)
}

/// Time and revolutions of the spindle over speed bins × load bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadSpectrum {
    /// `SPEED_EDGES_RPM` as stored: a history binned with other edges is not mixed in.
    pub speed_edges_rpm: Vec<f64>,
    /// `SPINDLE_LOAD_EDGES_PCT` as stored.
    pub load_edges_pct: Vec<f64>,
    /// Hours of spindle running per [speed bin][load bin].
    pub time_h: [[f64; NL]; NS],
    /// Spindle revolutions per [speed bin][load bin].
    pub revolutions: [[f64; NL]; NS],
    /// Σ load % × revolutions per cell: the revolution-weighted mean load of a cell is this
    /// over `revolutions` (the bearing load of a cell, without rounding to its edges).
    pub load_pct_x_revolutions: [[f64; NL]; NS],
}

impl Default for LoadSpectrum {
    fn default() -> Self {
        LoadSpectrum {
            speed_edges_rpm: SPEED_EDGES_RPM.to_vec(),
            load_edges_pct: SPINDLE_LOAD_EDGES_PCT.to_vec(),
            time_h: [[0.0; NL]; NS],
            revolutions: [[0.0; NL]; NS],
            load_pct_x_revolutions: [[0.0; NL]; NS],
        }
    }
}

impl LoadSpectrum {
    fn add(&mut self, speed_rpm: f64, load_pct: f64, h: f64, revs: f64) {
        let (s, l) = (
            bin(&SPEED_EDGES_RPM, speed_rpm.abs()),
            bin(&SPINDLE_LOAD_EDGES_PCT, load_pct),
        );
        self.time_h[s][l] += h;
        self.revolutions[s][l] += revs;
        self.load_pct_x_revolutions[s][l] += load_pct.max(0.0) * revs;
    }

    fn decay(&mut self, f: f64) {
        for a in [
            &mut self.time_h,
            &mut self.revolutions,
            &mut self.load_pct_x_revolutions,
        ] {
            a.iter_mut().flatten().for_each(|v| *v *= f);
        }
    }

    /// (mean load %, revolutions) of every cell that turned.
    pub fn load_revolutions(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for s in 0..NS {
            for l in 0..NL {
                let n = self.revolutions[s][l];
                if n > 0.0 {
                    out.push((self.load_pct_x_revolutions[s][l] / n, n));
                }
            }
        }
        out
    }

    pub fn total_h(&self) -> f64 {
        self.time_h.iter().flatten().sum()
    }

    fn current(&self) -> bool {
        self.speed_edges_rpm == SPEED_EDGES_RPM && self.load_edges_pct == SPINDLE_LOAD_EDGES_PCT
    }
}

/// The spindle's service history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpindleService {
    /// Hours the CNC was on and answering (a good `spindle.speed` or `spindle.rotating`).
    pub powered_h: f64,
    /// Hours the spindle turned.
    pub running_h: f64,
    /// Hours of cutting as the operation segmentation counts them (the same seconds as the
    /// tools' and the operations' cutting time).
    pub cutting_h: f64,
    /// ∫ |spindle.speed| dt.
    pub revolutions: f64,
    /// Time and revolutions over speed × load bins, while turning with good speed and load.
    pub spectrum: LoadSpectrum,
    /// The same with exponential forgetting (time constant `RECENT_TAU_H` running hours):
    /// the recent duty that remaining life is projected at.
    pub recent: LoadSpectrum,
    /// Front bearing temperature (`spindle.bearing_temp`) while powered, °C.
    pub bearing_temp_min_c: Option<f64>,
    pub bearing_temp_mean_c: Option<f64>,
    pub bearing_temp_max_c: Option<f64>,
    /// Hours the mean is over.
    pub bearing_temp_h: f64,
}

/// One axis' (ball screw's) service history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AxisService {
    /// `x`, `y` or `z`.
    pub axis: String,
    /// Σ |Δ position| between consecutive good positions (mm). A gap in the position signal
    /// is not bridged: motion while it was not good is not counted.
    pub travel_mm: f64,
    /// Screw revolutions = travel / lead; `null` without a configured lead.
    pub revolutions: Option<f64>,
    /// The lead used for `revolutions` (from `[life.components.ball_screw_<a>]`).
    pub lead_mm: Option<f64>,
    /// Direction reversals (a move back by more than `REVERSAL_HYSTERESIS_MM`); a
    /// back-and-forth cycle is two.
    pub reversals: u64,
    /// Hours with a good position (the axes' clock: the CNC on and answering).
    pub powered_h: f64,
    /// `AXIS_LOAD_EDGES_PCT` as stored.
    pub load_edges_pct: Vec<f64>,
    /// Travel per axis-load bin (mm); travel with no good load is in `travel_mm` only.
    pub travel_by_load_mm: [f64; NA],
    /// Screw revolutions per axis-load bin (travel / lead); `null` without a lead.
    pub revolutions_by_load: Option<[f64; NA]>,
    /// Σ |load %| × travel per bin: the travel-weighted mean load of a bin is this over the
    /// bin's travel.
    pub load_pct_x_travel_mm: [f64; NA],
    /// Travel per load bin with exponential forgetting (`RECENT_TAU_H` powered hours) ...
    pub recent_travel_by_load_mm: [f64; NA],
    pub recent_load_pct_x_travel_mm: [f64; NA],
    /// ... over these forgotten-alike powered hours.
    pub recent_powered_h: f64,
    /// Reversal tracking: the last good position, the extreme of the current stroke and its
    /// direction (+1, −1, 0 before the first move). Not history, but kept so a restart does
    /// not count a reversal that did not happen.
    pub last_position_mm: Option<f64>,
    pub stroke_extreme_mm: Option<f64>,
    pub direction: i8,
    /// When `last_position_mm` was read, for the plausibility guard.
    #[serde(default)]
    pub position_since: Since,
}

impl AxisService {
    fn new(axis: &str) -> Self {
        AxisService {
            axis: axis.to_string(),
            travel_mm: 0.0,
            revolutions: None,
            lead_mm: None,
            reversals: 0,
            powered_h: 0.0,
            load_edges_pct: AXIS_LOAD_EDGES_PCT.to_vec(),
            travel_by_load_mm: [0.0; NA],
            revolutions_by_load: None,
            load_pct_x_travel_mm: [0.0; NA],
            recent_travel_by_load_mm: [0.0; NA],
            recent_load_pct_x_travel_mm: [0.0; NA],
            recent_powered_h: 0.0,
            last_position_mm: None,
            stroke_extreme_mm: None,
            direction: 0,
            position_since: Since::default(),
        }
    }

    /// One tick of `dt_s` at `now_ms`; a position that moved faster than an axis can is
    /// returned as an event and its distance is not counted.
    fn step(
        &mut self,
        position: Option<f64>,
        load_pct: Option<f64>,
        dt_s: f64,
        now_ms: i64,
    ) -> Option<plausibility::Event> {
        let h = dt_s.max(0.0) / 3600.0;
        let step = plausibility::check(
            &mut self.last_position_mm,
            &mut self.position_since,
            position,
            dt_s,
            now_ms,
            Limit::Position {
                max_per_s: MAX_AXIS_SPEED_MM_S,
            },
        );
        let Some(pos) = position else {
            // A gap: the next good position starts afresh (the reversal state is kept).
            self.last_position_mm = None;
            return None;
        };
        self.powered_h += h;
        let f = (-h / RECENT_TAU_H).exp();
        self.recent_powered_h = self.recent_powered_h * f + h;
        self.recent_travel_by_load_mm
            .iter_mut()
            .for_each(|v| *v *= f);
        self.recent_load_pct_x_travel_mm
            .iter_mut()
            .for_each(|v| *v *= f);
        let d = match step {
            Step::Counted(d) => d,
            Step::Event(e) => {
                // Not a move: the stroke starts afresh from here, with no reversal counted.
                self.stroke_extreme_mm = Some(pos);
                return Some(e);
            }
            Step::First | Step::Absent => 0.0,
        };
        self.travel_mm += d;
        if let (Some(load), true) = (load_pct, d > 0.0) {
            let b = bin(&AXIS_LOAD_EDGES_PCT, load.abs());
            self.travel_by_load_mm[b] += d;
            self.load_pct_x_travel_mm[b] += load.abs() * d;
            self.recent_travel_by_load_mm[b] += d;
            self.recent_load_pct_x_travel_mm[b] += load.abs() * d;
        }
        // Reversals with hysteresis: the stroke's extreme follows the axis; a return by more
        // than the hysteresis from it is a reversal.
        let ext = *self.stroke_extreme_mm.get_or_insert(pos);
        match self.direction {
            0 if (pos - ext).abs() > REVERSAL_HYSTERESIS_MM => {
                self.direction = if pos > ext { 1 } else { -1 };
                self.stroke_extreme_mm = Some(pos);
            }
            1 if pos > ext => self.stroke_extreme_mm = Some(pos),
            -1 if pos < ext => self.stroke_extreme_mm = Some(pos),
            1 | -1 if (pos - ext).abs() > REVERSAL_HYSTERESIS_MM => {
                self.direction = -self.direction;
                self.reversals += 1;
                self.stroke_extreme_mm = Some(pos);
            }
            _ => {}
        }
        None
    }

    /// Fills `revolutions`, `revolutions_by_load` and `lead_mm` for a configured lead.
    pub fn with_lead(&mut self, lead_mm: Option<f64>) {
        self.lead_mm = lead_mm;
        self.revolutions = lead_mm.map(|l| self.travel_mm / l);
        self.revolutions_by_load = lead_mm.map(|l| self.travel_by_load_mm.map(|t| t / l));
    }

    /// (mean load %, travel mm) per bin that moved, all time or recent.
    pub fn load_travel(&self, recent: bool) -> Vec<(f64, f64)> {
        let (t, lt) = if recent {
            (
                &self.recent_travel_by_load_mm,
                &self.recent_load_pct_x_travel_mm,
            )
        } else {
            (&self.travel_by_load_mm, &self.load_pct_x_travel_mm)
        };
        t.iter()
            .zip(lt)
            .filter(|(t, _)| **t > 0.0)
            .map(|(t, lt)| (lt / t, *t))
            .collect()
    }
}

/// The MQL pump's service history, from its own counters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PumpService {
    /// Strokes since the history started (increments of `mql.pump_strokes`; a counter that
    /// goes back, e.g. a replaced controller, adds nothing and restarts from its new value; a
    /// jump beyond what the pump can stroke is not counted).
    pub strokes: f64,
    /// Operating hours since the history started (increments of `mql.pump_operating_time`,
    /// guarded alike: no more hours than time passed).
    pub operating_h: f64,
    /// The counters' last good values.
    pub strokes_counter: Option<f64>,
    pub operating_time_counter_h: Option<f64>,
    /// When they were read, for the plausibility guard.
    #[serde(default)]
    pub strokes_since: Since,
    #[serde(default)]
    pub operating_time_since: Since,
}

/// Adds a guarded counter's increment to `total`; returns the event of an implausible step.
fn increment(
    total: &mut f64,
    last: &mut Option<f64>,
    since: &mut Since,
    (value, limit): (Option<f64>, Limit),
    dt_s: f64,
    now_ms: i64,
) -> Option<plausibility::Event> {
    match plausibility::check(last, since, value, dt_s, now_ms, limit) {
        Step::Counted(d) => {
            *total += d;
            None
        }
        Step::Event(e) => Some(e),
        Step::First | Step::Absent => None,
    }
}

/// Everything, as stored and as `/api/life` shows it per component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHistory {
    /// When this agent started the history (ms since the Unix epoch).
    pub since_ms: i64,
    /// Last tick counted.
    pub updated_ms: i64,
    pub spindle: SpindleService,
    pub axes: [AxisService; 3],
    pub mql_pump: PumpService,
}

impl ServiceHistory {
    pub fn new(now_ms: i64) -> Self {
        ServiceHistory {
            since_ms: now_ms,
            updated_ms: now_ms,
            spindle: SpindleService::default(),
            axes: AXES.map(AxisService::new),
            mql_pump: PumpService::default(),
        }
    }

    /// One tick: `dt_s` since the last, `cutting_s` the cutting seconds the operation
    /// segmentation counted at this tick. Returns the implausible steps of the guarded
    /// signals (canonical name and event), which were not counted.
    pub fn step(
        &mut self,
        f: &Frame,
        dt_s: f64,
        cutting_s: Option<f64>,
    ) -> Vec<(&'static str, plausibility::Event)> {
        let mut events = Vec::new();
        if self.since_ms == 0 {
            self.since_ms = f.now_ms;
        }
        self.updated_ms = f.now_ms;
        let h = dt_s.max(0.0) / 3600.0;
        let sp = &mut self.spindle;
        let speed = f.num("spindle.speed");
        let rotating = f
            .flag("spindle.rotating")
            .or_else(|| speed.map(|n| n.abs() > 1.0));
        if speed.is_some() || rotating.is_some() {
            sp.powered_h += h;
            if let Some(t) = f.num("spindle.bearing_temp") {
                sp.bearing_temp_min_c = Some(sp.bearing_temp_min_c.map_or(t, |m| m.min(t)));
                sp.bearing_temp_max_c = Some(sp.bearing_temp_max_c.map_or(t, |m| m.max(t)));
                sp.bearing_temp_h += h;
                let m = sp.bearing_temp_mean_c.unwrap_or(t);
                sp.bearing_temp_mean_c = Some(if sp.bearing_temp_h > 0.0 {
                    m + (t - m) * h / sp.bearing_temp_h
                } else {
                    t
                });
            }
        }
        if rotating == Some(true) {
            sp.running_h += h;
        }
        sp.cutting_h += cutting_s.unwrap_or(0.0).max(0.0) / 3600.0;
        if let Some(n) = speed {
            let revs = n.abs() / 60.0 * dt_s.max(0.0);
            sp.revolutions += revs;
            if let (true, Some(load)) = (rotating == Some(true), f.num("spindle.load")) {
                sp.spectrum.add(n, load, h, revs);
                sp.recent.decay((-h / RECENT_TAU_H).exp());
                sp.recent.add(n, load, h, revs);
            }
        }
        for ((a, name), signal) in self.axes.iter_mut().zip(AXES).zip(POSITIONS) {
            if let Some(e) = a.step(
                f.num(signal),
                f.num(&format!("axis.{name}.load")),
                dt_s,
                f.now_ms,
            ) {
                events.push((signal, e));
            }
        }
        let p = &mut self.mql_pump;
        let guarded =
            |signal: &'static str, unit| (f.num(signal), plausibility::counter_limit(signal, unit));
        if let Some(e) = increment(
            &mut p.strokes,
            &mut p.strokes_counter,
            &mut p.strokes_since,
            guarded("mql.pump_strokes", "count"),
            dt_s,
            f.now_ms,
        ) {
            events.push(("mql.pump_strokes", e));
        }
        if let Some(e) = increment(
            &mut p.operating_h,
            &mut p.operating_time_counter_h,
            &mut p.operating_time_since,
            guarded("mql.pump_operating_time", "h"),
            dt_s,
            f.now_ms,
        ) {
            events.push(("mql.pump_operating_time", e));
        }
        events
    }

    /// A stored history binned with other edges than this build's keeps its totals and
    /// starts its histograms afresh (with a warning) rather than mixing two binnings.
    fn upgrade(mut self) -> Self {
        let sp = &mut self.spindle;
        if !sp.spectrum.current() || !sp.recent.current() {
            tracing::warn!("service history: spindle spectrum bins changed; spectrum restarted");
            sp.spectrum = LoadSpectrum::default();
            sp.recent = LoadSpectrum::default();
        }
        for a in &mut self.axes {
            if a.load_edges_pct != AXIS_LOAD_EDGES_PCT {
                tracing::warn!(
                    "service history: axis {} load bins changed; histogram restarted",
                    a.axis
                );
                let fresh = AxisService::new(&a.axis);
                a.load_edges_pct = fresh.load_edges_pct;
                a.travel_by_load_mm = fresh.travel_by_load_mm;
                a.load_pct_x_travel_mm = fresh.load_pct_x_travel_mm;
                a.recent_travel_by_load_mm = fresh.recent_travel_by_load_mm;
                a.recent_load_pct_x_travel_mm = fresh.recent_load_pct_x_travel_mm;
                a.recent_powered_h = 0.0;
            }
        }
        self
    }

    /// A history as stored (JSON), brought to this agent's binning.
    pub fn from_json(json: &str) -> Result<ServiceHistory> {
        Ok(serde_json::from_str::<ServiceHistory>(json)?.upgrade())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn frame(t: i64, v: &[(&'static str, f64)]) -> Frame {
        Frame::from_values(t, v.iter().map(|(k, x)| (*k, Value::Number(*x))))
    }

    #[test]
    fn bins_have_closed_lower_edges_and_an_open_top() {
        assert_eq!(bin(&SPEED_EDGES_RPM, 0.0), 0);
        assert_eq!(bin(&SPEED_EDGES_RPM, 499.9), 0);
        assert_eq!(bin(&SPEED_EDGES_RPM, 500.0), 1);
        assert_eq!(bin(&SPEED_EDGES_RPM, 3999.0), 3);
        assert_eq!(bin(&SPEED_EDGES_RPM, 50_000.0), NS - 1);
        assert_eq!(
            bin(&SPINDLE_LOAD_EDGES_PCT, -3.0),
            0,
            "below the first edge"
        );
        assert_eq!(bin(&SPINDLE_LOAD_EDGES_PCT, 150.0), NL - 1);
    }

    #[test]
    fn spindle_spectrum_hours_and_revolutions() {
        let mut s = ServiceHistory::new(1);
        // 60 s at 3000 rpm and 30 % load, cutting; 60 s at 9000 rpm and 7 % load; 60 s
        // stopped but powered; 60 s with the CNC silent (no good values).
        for i in 0..600 {
            let f = frame(
                i,
                &[
                    ("spindle.speed", 3000.0),
                    ("spindle.load", 30.0),
                    ("spindle.rotating", 1.0),
                    ("spindle.bearing_temp", 30.0 + (i % 2) as f64 * 10.0),
                ],
            );
            s.step(&f, 0.1, Some(0.1));
        }
        for i in 0..600 {
            let f = frame(
                i,
                &[
                    ("spindle.speed", 9000.0),
                    ("spindle.load", 7.0),
                    ("spindle.rotating", 1.0),
                ],
            );
            s.step(&f, 0.1, None);
        }
        for i in 0..600 {
            let f = frame(i, &[("spindle.speed", 0.0), ("spindle.load", 0.0)]);
            s.step(&f, 0.1, None);
        }
        for i in 0..600 {
            s.step(&frame(i, &[]), 0.1, None);
        }
        let sp = &s.spindle;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * b.max(1.0);
        assert!(close(sp.powered_h, 3.0 / 60.0), "{}", sp.powered_h);
        assert!(close(sp.running_h, 2.0 / 60.0), "{}", sp.running_h);
        assert!(close(sp.cutting_h, 1.0 / 60.0), "{}", sp.cutting_h);
        assert!(close(sp.revolutions, 3000.0 + 9000.0), "{}", sp.revolutions);
        // 3000 rpm → bin [2000, 4000) = 3; 30 % → [20, 40) = 3.
        assert!(close(sp.spectrum.revolutions[3][3], 3000.0));
        assert!(close(sp.spectrum.time_h[3][3], 1.0 / 60.0));
        // 9000 rpm → [8000, 10000) = 6; 7 % → [5, 10) = 1.
        assert!(close(sp.spectrum.revolutions[6][1], 9000.0));
        assert!(
            close(sp.spectrum.total_h(), 2.0 / 60.0),
            "stopped time is not in it"
        );
        let lr = sp.spectrum.load_revolutions();
        assert_eq!(lr.len(), 2);
        assert!(lr.iter().any(|(l, n)| close(*l, 30.0) && close(*n, 3000.0)));
        assert_eq!(sp.bearing_temp_min_c, Some(30.0));
        assert_eq!(sp.bearing_temp_max_c, Some(40.0));
        assert!(close(sp.bearing_temp_mean_c.unwrap(), 35.0));
        // The recent copy holds the same as the all-time one after a short run (forgetting
        // over hours), slightly less.
        let r = sp.recent.revolutions[3][3];
        assert!(r < 3000.0 && r > 2990.0, "{r}");
    }

    #[test]
    fn axis_travel_reversals_and_load_histogram() {
        let mut s = ServiceHistory::new(1);
        // X: 0 → 100 → 40 → 100 mm in 1 mm steps at 25 % load, with 0.01 mm jitter at the
        // top (no reversal), then a gap, then a jump (not counted) and 10 mm more at 60 %.
        let mut path: Vec<f64> = (0..=100).map(f64::from).collect();
        path.extend([99.99, 100.0, 99.99]);
        path.extend((40..100).rev().map(f64::from));
        path.extend((41..=100).map(f64::from));
        let mut t = 0;
        for p in &path {
            t += 100;
            s.step(
                &frame(t, &[("axis.x.position", *p), ("axis.x.load", -25.0)]),
                0.1,
                None,
            );
        }
        s.step(&frame(t + 100, &[("axis.x.load", 25.0)]), 0.1, None);
        for p in 0..=10 {
            s.step(
                &frame(
                    t + 200 + p,
                    &[("axis.x.position", 500.0 + p as f64), ("axis.x.load", 60.0)],
                ),
                0.1,
                None,
            );
        }
        let x = &mut s.axes[0];
        // Up 100, jitter 0.03, down 59.99, up 60, and 10 after the gap.
        let expected = 100.0 + 0.03 + 59.99 + 60.0 + 10.0;
        assert!((x.travel_mm - expected).abs() < 1e-6, "{}", x.travel_mm);
        assert_eq!(x.reversals, 2, "100 → 40 and 40 → 100; jitter is none");
        // 25 % → bin [20, 30) = 3; 60 % → [50, 75) = 5.
        assert!((x.travel_by_load_mm[3] - 220.02).abs() < 1e-6);
        assert!((x.travel_by_load_mm[5] - 10.0).abs() < 1e-6);
        x.with_lead(Some(10.0));
        assert!((x.revolutions.unwrap() - expected / 10.0).abs() < 1e-9);
        assert!((x.revolutions_by_load.unwrap()[5] - 1.0).abs() < 1e-9);
        let lt = x.load_travel(false);
        assert!(lt
            .iter()
            .any(|(l, d)| (l - 25.0).abs() < 1e-9 && (d - 220.02).abs() < 1e-6));
        assert_eq!(s.axes[1].travel_mm, 0.0, "Y had no good position");
    }

    #[test]
    fn pump_counts_increments_and_survives_a_counter_reset_and_a_glitch() {
        let mut s = ServiceHistory::new(1);
        let mut events = Vec::new();
        // One tick an hour (the wall clock alike): at most 20 strokes/s and one hour per hour.
        for (i, (strokes, h)) in [
            (1000.0, 2.0),
            (1500.0, 2.5),
            (200.0, 2.6),
            (4.0e9, 2.7),
            (4.0e9 + 100.0, 2.8),
            (700.0, 3.0),
            (900.0, 3.1),
        ]
        .into_iter()
        .enumerate()
        {
            let f = frame(
                1 + 3_600_000 * i as i64,
                &[
                    ("mql.pump_strokes", strokes),
                    ("mql.pump_operating_time", h),
                ],
            );
            events.extend(s.step(&f, 3600.0, None));
        }
        // Counted: 1000 → 1500, 200 → glitch (not counted) → +100, reset → 700 → 900.
        assert_eq!(s.mql_pump.strokes, 500.0 + 100.0 + 200.0);
        assert!((s.mql_pump.operating_h - 1.1).abs() < 1e-9);
        let kinds: Vec<_> = events.iter().map(|(sig, e)| (*sig, e.kind)).collect();
        use crate::records::counter::CounterEventKind::{Backwards, Jump};
        assert_eq!(
            kinds,
            [
                ("mql.pump_strokes", Backwards),
                ("mql.pump_strokes", Jump),
                ("mql.pump_strokes", Backwards)
            ]
        );
    }

    #[test]
    fn an_axis_glitch_is_no_travel_and_no_reversal() {
        let mut s = ServiceHistory::new(1);
        let mut events = Vec::new();
        // 10 mm per 0.1 s (6 m/min), a glitch to 1e6 mm and back, then on.
        for (i, p) in [0.0, 10.0, 20.0, 1.0e6, 30.0, 40.0].into_iter().enumerate() {
            let f = frame(1 + 100 * i as i64, &[("axis.x.position", p)]);
            events.extend(s.step(&f, 0.1, None));
        }
        assert!(
            (s.axes[0].travel_mm - 30.0).abs() < 1e-9,
            "{}",
            s.axes[0].travel_mm
        );
        assert_eq!(s.axes[0].reversals, 0);
        assert_eq!(events.len(), 2, "there and back: {events:?}");
        assert!(events.iter().all(|(sig, _)| *sig == "axis.x.position"));
    }

    #[test]
    fn stored_in_a_real_sqlite_file_and_restored_after_a_restart() {
        let (store, _, _) = crate::store::test_store("service");
        let mut s = ServiceHistory::new(5);
        let run = |s: &mut ServiceHistory, n: i64| {
            for i in 0..n {
                s.step(
                    &frame(
                        i,
                        &[
                            ("spindle.speed", 6000.0),
                            ("spindle.load", 45.0),
                            ("axis.z.position", (i % 50) as f64),
                            ("axis.z.load", 14.0),
                        ],
                    ),
                    0.1,
                    Some(0.1),
                );
            }
        };
        let save = |json: String, now_ms: i64| {
            store.record(crate::store::Record::ComponentState {
                name: ROW.into(),
                json,
                now_ms,
            });
            store.sync();
        };
        let load = || {
            store
                .read(|r| r.component_state(ROW))
                .unwrap()
                .map(|j| ServiceHistory::from_json(&j).unwrap())
        };
        run(&mut s, 300);
        assert!(load().is_none(), "no row");
        save(serde_json::to_string(&s).unwrap(), 10);
        // Read back through another connection on the same file.
        let mut back = load().expect("stored");
        assert_eq!(back, s);
        // Counting goes on from the stored values.
        run(&mut back, 300);
        run(&mut s, 300);
        assert_eq!(back, s);
        assert!((back.spindle.revolutions - 6000.0).abs() < 1e-6);
        assert!(back.axes[2].reversals > 0);
        // A history from another binning keeps its totals, restarts its histograms.
        let mut old = serde_json::to_value(&back).unwrap();
        old["spindle"]["spectrum"]["speed_edges_rpm"] = serde_json::json!([0.0, 1.0]);
        save(old.to_string(), 20);
        let up = load().unwrap();
        assert_eq!(up.spindle.revolutions, back.spindle.revolutions);
        assert_eq!(up.spindle.spectrum.total_h(), 0.0);
    }
}
