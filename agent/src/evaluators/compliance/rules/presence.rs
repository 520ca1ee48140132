//! `present_while_cutting`: while cutting, the signal is present (a bool on, or a number ≥
//! min); absent for longer than the grace is a violation (MQL starvation).

use std::time::Duration;

use super::grace::Grace;
use super::{Context, Judgement, Kind, RuleState};

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

    fn limit(&self) -> (String, String) {
        let (unit, grace) = (&self.unit, self.grace.as_secs_f64());
        let text = match self.min {
            Some(m) => format!("≥ {m} {unit} while cutting (grace {grace} s)"),
            None => format!("on while cutting (grace {grace} s)"),
        };
        (text, unit.clone())
    }

    fn judge(&mut self, ctx: &Context, _limit: &str) -> Judgement {
        let (signal, unit, f) = (&self.signal, &self.unit, ctx.frame);
        if !ctx.cutting {
            self.lapse.clear();
            return Judgement::not_applicable("only checked while cutting".into());
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
                format!("{signal} present while cutting"),
            );
        }
        let (absent_s, past) = self.lapse.lapse(f.now_ms, self.grace);
        if past {
            let what = match (value, self.min) {
                (Some(v), Some(m)) => format!("{signal} at {v:.1} {unit} (< {m} {unit})"),
                _ => format!("{signal} off"),
            };
            Judgement::new(
                RuleState::Violated,
                value,
                format!("{what} while cutting for {absent_s:.0} s"),
            )
        } else {
            Judgement::new(
                RuleState::Ok,
                value,
                format!("{signal} absent for {absent_s:.1} s (within grace)"),
            )
        }
    }
}
