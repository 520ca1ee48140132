//! `consumption`: the average rate while cutting over a window ≤ max, and no value above
//! `peak_max` (short peaks below it are allowed).

use std::time::Duration;

use super::window::WindowMean;
use super::{Context, Judgement, Kind, RuleState};
use crate::text::Text;

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

    fn limit(&self) -> (Text, String) {
        let (unit, max, n) = (&self.unit, self.max, self.window_len.as_secs());
        let peaks = self.peak_max.map_or_else(Text::default, |p| {
            Text::new(
                format!(", peaks ≤ {p} {unit}"),
                format!("，峰值 ≤ {p} {unit}"),
            )
        });
        (
            Text::new(
                format!("≤ {max} {unit} ({n} s average){}", peaks.en),
                format!("≤ {max} {unit}（{n} s 平均值）{}", peaks.zh),
            ),
            unit.clone(),
        )
    }

    fn judge(&mut self, ctx: &Context, _limit: &Text) -> Judgement {
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
                Text::new(
                    "no consumption measured while cutting yet",
                    "尚未测得切削时的消耗量",
                ),
            );
        };
        if mean > max {
            return Judgement::new(
                RuleState::Violated,
                Some(mean),
                Text::new(
                    format!("average {mean:.1} {unit} while cutting, limit {max} {unit}"),
                    format!("切削时平均 {mean:.1} {unit}，超出限值 {max} {unit}"),
                ),
            );
        }
        if let (Some(p), Some(c)) = (self.peak_max, current) {
            if c > p {
                return Judgement::new(
                    RuleState::Violated,
                    Some(c),
                    Text::new(
                        format!("peak {c:.1} {unit} above {p} {unit}"),
                        format!("峰值 {c:.1} {unit}，超过 {p} {unit}"),
                    ),
                );
            }
        }
        Judgement::new(
            RuleState::Ok,
            Some(mean),
            Text::new(
                format!("average {mean:.1} {unit} while cutting"),
                format!("切削时平均 {mean:.1} {unit}"),
            ),
        )
    }
}
