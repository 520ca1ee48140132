//! `range`: the signal's average over a window stays within [min, max] while `when` holds
//! (cutting, idle or always).

use std::time::Duration;

use super::window::WindowMean;
use super::{fmt_bounds, outside, Context, Judgement, Kind, RuleState};
use crate::config::profile::When;

pub struct Range {
    pub signal: String,
    pub unit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub when: When,
    pub window: Option<WindowMean>,
    pub window_len: Duration,
}

fn when_word(w: When) -> &'static str {
    match w {
        When::Cutting => "cutting",
        When::Idle => "idle",
        When::Always => "always",
    }
}

impl Kind for Range {
    fn name(&self) -> &'static str {
        "range"
    }

    fn inputs(&self) -> Vec<&str> {
        vec![&self.signal]
    }

    fn limit(&self) -> (String, String) {
        let avg = if self.window_len.is_zero() {
            String::new()
        } else {
            format!(" ({} s average)", self.window_len.as_secs())
        };
        (
            format!("{}{avg}", fmt_bounds(self.min, self.max, &self.unit)),
            self.unit.clone(),
        )
    }

    fn judge(&mut self, ctx: &Context, limit: &str) -> Judgement {
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
            return Judgement::not_applicable(format!(
                "only checked while {}",
                when_word(self.when)
            ));
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
                format!("{signal} at {value:.3} {unit}, limit {limit}"),
            )
        } else {
            Judgement::new(
                RuleState::Ok,
                Some(value),
                format!("{signal} at {value:.3} {unit}"),
            )
        }
    }
}
