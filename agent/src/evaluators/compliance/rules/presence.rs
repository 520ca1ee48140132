//! `present_while_cutting`: while cutting, the signal is present (a bool on, or a number ≥
//! min); absent for longer than the grace is a violation (MQL starvation).

use std::time::Duration;

use super::grace::Grace;
use super::{Context, Judgement, Kind, RuleState};
use crate::text::Text;

pub struct PresentWhileCutting {
    pub signal: String,
    pub unit: String,
    pub min: Option<f64>,
    pub grace: Duration,
    pub lapse: Grace,
}

impl Kind for PresentWhileCutting {
    fn name(&self) -> &'static str {
        "present_while_cutting"
    }

    fn inputs(&self) -> Vec<&str> {
        vec![&self.signal]
    }

    fn limit(&self) -> (Text, String) {
        let (unit, grace) = (&self.unit, self.grace.as_secs_f64());
        let text = match self.min {
            Some(m) => Text::new(
                format!("≥ {m} {unit} while cutting (grace {grace} s)"),
                format!("切削时 ≥ {m} {unit}（允许延时 {grace} s）"),
            ),
            None => Text::new(
                format!("on while cutting (grace {grace} s)"),
                format!("切削时必须开启（允许延时 {grace} s）"),
            ),
        };
        (text, unit.clone())
    }

    fn judge(&mut self, ctx: &Context, _limit: &Text) -> Judgement {
        let (signal, unit, f) = (&self.signal, &self.unit, ctx.frame);
        if !ctx.cutting {
            self.lapse.clear();
            return Judgement::not_applicable(Text::new(
                "only checked while cutting",
                "仅在切削时检查",
            ));
        }
        let (present, value) = match (f.flag(signal), f.num(signal), self.min) {
            (_, Some(v), Some(m)) => (v >= m, Some(v)),
            (Some(b), _, None) => (b, Some(f64::from(u8::from(b)))),
            _ => return Judgement::no_data(signal),
        };
        if present {
            self.lapse.clear();
            return Judgement::new(
                RuleState::Ok,
                value,
                Text::new(
                    format!("{signal} present while cutting"),
                    format!("切削时 {signal} 供给正常"),
                ),
            );
        }
        let (absent_s, past) = self.lapse.lapse(f.now_ms, self.grace);
        if past {
            Judgement::new(
                RuleState::Violated,
                value,
                absent(signal, unit, value, self.min, absent_s),
            )
        } else {
            Judgement::new(
                RuleState::Ok,
                value,
                Text::new(
                    format!("{signal} absent for {absent_s:.1} s (within grace)"),
                    format!("{signal} 缺失 {absent_s:.1} s（在允许延时内）"),
                ),
            )
        }
    }
}

/// Absent past the grace: below the minimum, or off.
fn absent(signal: &str, unit: &str, value: Option<f64>, min: Option<f64>, s: f64) -> Text {
    match (value, min) {
        (Some(v), Some(m)) => Text::new(
            format!("{signal} at {v:.1} {unit} (< {m} {unit}) while cutting for {s:.0} s"),
            format!("切削时 {signal} 仅 {v:.1} {unit}（< {m} {unit}），已持续 {s:.0} s"),
        ),
        _ => Text::new(
            format!("{signal} off while cutting for {s:.0} s"),
            format!("切削时 {signal} 关闭，已持续 {s:.0} s"),
        ),
    }
}
