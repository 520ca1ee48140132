//! `range`: the signal's average over a window stays within [min, max] while `when` holds
//! (cutting, idle or always).

use std::time::Duration;

use super::window::WindowMean;
use super::{fmt_bounds, outside, Context, Judgement, Kind, RuleState};
use crate::config::profile::When;
use crate::text::Text;

pub struct Range {
    pub signal: String,
    pub unit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub when: When,
    pub window: Option<WindowMean>,
    pub window_len: Duration,
}

fn only_while(w: When) -> Text {
    let (en, zh) = match w {
        When::Cutting => ("cutting", "切削"),
        When::Idle => ("idle", "空闲"),
        When::Always => ("always", "任何状态"),
    };
    Text::new(
        format!("only checked while {en}"),
        format!("仅在{zh}时检查"),
    )
}

fn at(signal: &str, value: f64, unit: &str, limit: Option<&Text>) -> Text {
    let t = Text::new(
        format!("{signal} at {value:.3} {unit}"),
        format!("{signal} 为 {value:.3} {unit}"),
    );
    match limit {
        Some(l) => Text::new(
            format!("{}, limit {}", t.en, l.en),
            format!("{}，超出限值 {}", t.zh, l.zh),
        ),
        None => t,
    }
}

impl Kind for Range {
    fn name(&self) -> &'static str {
        "range"
    }

    fn inputs(&self) -> Vec<&str> {
        vec![&self.signal]
    }

    fn limit(&self) -> (Text, String) {
        let bounds = fmt_bounds(self.min, self.max, &self.unit);
        let n = self.window_len.as_secs();
        let text = if self.window_len.is_zero() {
            Text::same(bounds)
        } else {
            Text::new(
                format!("{bounds} ({n} s average)"),
                format!("{bounds}（{n} s 平均值）"),
            )
        };
        (text, self.unit.clone())
    }

    fn judge(&mut self, ctx: &Context, limit: &Text) -> Judgement {
        let now = ctx.frame.now_ms;
        let applies = match self.when {
            When::Cutting => ctx.cutting,
            When::Idle => ctx.idle() == Some(true),
            When::Always => true,
        };
        if let Some(w) = &mut self.window {
            w.expire(now);
        }
        if !applies {
            return Judgement::not_applicable(only_while(self.when));
        }
        let Some(v) = ctx.frame.num(&self.signal) else {
            return Judgement::no_data(&self.signal);
        };
        let value = match &mut self.window {
            Some(w) => {
                w.push(now, v);
                w.mean().unwrap_or(v)
            }
            None => v,
        };
        let (signal, unit) = (&self.signal, &self.unit);
        if outside(value, self.min, self.max) {
            Judgement::new(
                RuleState::Violated,
                Some(value),
                at(signal, value, unit, Some(limit)),
            )
        } else {
            Judgement::new(RuleState::Ok, Some(value), at(signal, value, unit, None))
        }
    }
}
