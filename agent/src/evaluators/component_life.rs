//! Remaining life of machine components from what the agent reads: the MQL pump's stroke
//! counter against its rated strokes (`models::rated_life::MqlPump`) and the spindle bearing's
//! vibration trend (`models::bearing::BearingMonitor`). Driven by `life::Life` on the
//! compliance evaluator's tick; the bearing's history is kept in the store so a restart does
//! not forget the healthy baseline it has learned.

use models::bearing::{BearingMonitor, BearingStatus, TrendConfig};
use models::rated_life::MqlPump;
use models::Quantiles;
use serde::{Deserialize, Serialize};

use super::frame::Frame;

/// The bearing's persisted state: spindle running hours, the record being averaged, the
/// monitor with its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BearingTrack {
    pub running_h: f64,
    acc_sum: f64,
    acc_h: f64,
    pub monitor: BearingMonitor,
    pub last: Option<BearingStatus>,
}

impl Default for BearingTrack {
    fn default() -> Self {
        BearingTrack {
            running_h: 0.0,
            acc_sum: 0.0,
            acc_h: 0.0,
            monitor: BearingMonitor::new(TrendConfig::default(), None, 0.0),
            last: None,
        }
    }
}

/// One component as `/api/life` shows it under `components`.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub name: String,
    pub method: String,
    pub signal: String,
    pub unit: String,
    pub used: Option<f64>,
    pub rated: Option<f64>,
    pub consumed_fraction: Option<f64>,
    pub remaining: Option<Quantiles>,
    pub note: Option<String>,
}

pub struct Components {
    pump: Option<MqlPump>,
    pump_strokes: Option<f64>,
    /// Hours of spindle running per bearing health record.
    record_h: f64,
    pub bearing: BearingTrack,
    /// A record was added since the bearing was last stored.
    pub dirty: bool,
}

impl Components {
    pub fn new(pump_rated_strokes: Option<f64>, record_min: f64, bearing: BearingTrack) -> Self {
        Components {
            pump: pump_rated_strokes.map(|rated_strokes| MqlPump { rated_strokes }),
            pump_strokes: None,
            record_h: record_min / 60.0,
            bearing,
            dirty: false,
        }
    }

    pub fn step(&mut self, f: &Frame, dt_s: f64) {
        if let Some(s) = f.num("mql.pump_strokes") {
            self.pump_strokes = Some(s);
        }
        let rotating = f
            .flag("spindle.rotating")
            .or_else(|| f.num("spindle.speed").map(|n| n > 1.0))
            .unwrap_or(false);
        // Bearing wear goes with running time, not the wall clock: the time axis is spindle
        // running hours, and a record is the mean vibration over `record_h` of running.
        let (Some(v), true) = (f.num("spindle.vibration_rms"), rotating) else {
            return;
        };
        let b = &mut self.bearing;
        let h = dt_s / 3600.0;
        b.running_h += h;
        b.acc_h += h;
        b.acc_sum += v * h;
        if b.acc_h >= self.record_h {
            let mean = b.acc_sum / b.acc_h;
            b.last = Some(b.monitor.push(b.running_h, mean));
            b.acc_h = 0.0;
            b.acc_sum = 0.0;
            // Stored once per record, not per tick: the history grows, the SD card wears by
            // writes. A power cut loses at most one record's running time.
            self.dirty = true;
        }
    }

    pub fn view(&self) -> Vec<ComponentView> {
        let mut out = Vec::new();
        let c = self
            .pump
            .zip(self.pump_strokes)
            .map(|(p, s)| p.consumption(s));
        out.push(ComponentView {
            name: "mql-pump".into(),
            method: match self.pump {
                Some(p) => format!(
                    "rated life: stroke counter against the maker's rated {} strokes (models::rated_life::MqlPump)",
                    p.rated_strokes
                ),
                None => "rated life: not configured ([life] mql_pump_rated_strokes)".into(),
            },
            signal: "mql.pump_strokes".into(),
            unit: "strokes".into(),
            used: self.pump_strokes,
            rated: self.pump.map(|p| p.rated_strokes),
            consumed_fraction: c.map(|c| c.consumed_fraction),
            remaining: c.map(|c| Quantiles {
                p10: c.remaining,
                p50: c.remaining,
                p90: c.remaining,
            }),
            note: match (self.pump, self.pump_strokes) {
                (None, _) => Some("no rated stroke count configured".into()),
                (_, None) => Some("no good value of mql.pump_strokes".into()),
                // A rated life is one number: no spread is claimed.
                _ => Some("rated life, not a prediction: P10 = P50 = P90".into()),
            },
        });
        let b = &self.bearing;
        let cfg = b.monitor.config;
        let note = match &b.last {
            None => Some(format!(
                "{:.2} spindle running hours so far; first record after {:.0} min of running",
                b.running_h,
                self.record_h * 60.0
            )),
            Some(s) if s.baseline.is_none() => Some(format!(
                "learning the healthy baseline: {:.2} of {} spindle running hours",
                s.hours, cfg.baseline_hours
            )),
            Some(s) if s.onset_hours.is_none() => Some(
                "no degradation onset; without an ISO 281 prior there is no remaining-life figure"
                    .into(),
            ),
            Some(_) => None,
        };
        out.push(ComponentView {
            name: "spindle-bearing".into(),
            method: format!(
                "vibration trend (models::bearing::BearingMonitor): mean spindle.vibration_rms per \
                 {:.0} min of spindle running; healthy baseline over the first {} running hours, \
                 onset at baseline + {} spreads held for {} records, exponential fit to {} x \
                 baseline (an assumed threshold, see models/README.md); no ISO 281 prior configured",
                self.record_h * 60.0,
                cfg.baseline_hours,
                cfg.onset_sigmas,
                cfg.onset_persistence,
                cfg.failure_factor
            ),
            signal: "spindle.vibration_rms".into(),
            unit: "h".into(),
            used: Some(b.running_h),
            rated: None,
            consumed_fraction: None,
            remaining: b.last.and_then(|s| s.rul_hours),
            note,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn pump_strokes_and_bearing_records_from_frames() {
        let mut c = Components::new(Some(1_000_000.0), 1.0, BearingTrack::default());
        let f = |rot: bool| {
            Frame::from_values(
                0,
                [
                    ("mql.pump_strokes", Value::Number(250_000.0)),
                    ("spindle.rotating", Value::Bool(rot)),
                    ("spindle.vibration_rms", Value::Number(0.8)),
                ],
            )
        };
        for _ in 0..600 {
            c.step(&f(false), 0.1);
        }
        assert_eq!(
            c.bearing.running_h, 0.0,
            "a stopped spindle does not age the bearing"
        );
        for _ in 0..601 {
            c.step(&f(true), 0.1);
        }
        let v = c.view();
        assert_eq!(v[0].consumed_fraction, Some(0.25));
        assert_eq!(v[0].remaining.unwrap().p50, 750_000.0);
        let s = c
            .bearing
            .last
            .expect("one record after a minute of running");
        assert!((s.health - 0.8).abs() < 1e-9);
        assert!(v[1].note.as_deref().unwrap().contains("baseline"));
    }
}
