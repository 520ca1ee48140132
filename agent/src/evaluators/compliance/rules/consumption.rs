//! `consumption`: the average rate while cutting over a window ≤ max, and no value above
//! `peak_max` (short peaks below it are allowed).

use std::time::Duration;

use super::window::WindowMean;
use super::{Context, Judgement, Kind, RuleState};

pub struct Consumption {
    pub signal: String,
    pub unit: String,
    pub max: f64,
    pub peak_max: Option<f64>,
    pub window: Option<WindowMean>,
    pub window_len: Duration,
}

impl Kind for Consumption {
    fn name(&self) -> &'static str {
        "consumption"
    }

    fn inputs(&self) -> Vec<&str> {
        vec![&self.signal]
    }

    fn limit(&self) -> (String, String) {
        let unit = &self.unit;
        (
            format!(
                "≤ {} {unit} ({} s average){}",
                self.max,
                self.window_len.as_secs(),
                self.peak_max
                    .map_or(String::new(), |p| format!(", peaks ≤ {p} {unit}"))
            ),
            unit.clone(),
        )
    }

    fn judge(&mut self, ctx: &Context, _limit: &str) -> Judgement {
        let (now, unit, max) = (ctx.frame.now_ms, &self.unit, self.max);
        if let Some(w) = &mut self.window {
            w.expire(now);
        }
        let current = ctx.frame.num(&self.signal);
        if ctx.cutting {
            if let (Some(v), Some(w)) = (current, &mut self.window) {
                w.push(now, v);
            }
        }
        let Some(mean) = self.window.as_ref().and_then(WindowMean::mean) else {
            return Judgement::new(
                RuleState::NoData,
                None,
                "no consumption measured while cutting yet".into(),
            );
        };
        if mean > max {
            return Judgement::new(
                RuleState::Violated,
                Some(mean),
                format!("average {mean:.1} {unit} while cutting, limit {max} {unit}"),
            );
        }
        if let (Some(p), Some(c)) = (self.peak_max, current) {
            if c > p {
                return Judgement::new(
                    RuleState::Violated,
                    Some(c),
                    format!("peak {c:.1} {unit} above {p} {unit}"),
                );
            }
        }
        Judgement::new(
            RuleState::Ok,
            Some(mean),
            format!("average {mean:.1} {unit} while cutting"),
        )
    }
}
