//! `absent_while_idle`: while idle (spindle stopped, or the door open), the bool signal is off;
//! on for longer than the grace is a violation (aerosol left on: needless mist).

use std::time::Duration;

use super::grace::Grace;
use super::{Context, Judgement, Kind, RuleState};

pub struct AbsentWhileIdle {
    pub signal: String,
    pub grace: Duration,
    pub lapse: Grace,
}

impl Kind for AbsentWhileIdle {
    fn name(&self) -> &'static str {
        "absent_while_idle"
    }

    fn inputs(&self) -> Vec<&str> {
        vec![&self.signal]
    }

    fn limit(&self) -> (String, String) {
        (
            format!("off while idle (grace {} s)", self.grace.as_secs_f64()),
            String::new(),
        )
    }

    fn judge(&mut self, ctx: &Context, _limit: &str) -> Judgement {
        let signal = &self.signal;
        let Some(idle) = ctx.idle() else {
            return Judgement::new(RuleState::NoData, None, "spindle state unknown".into());
        };
        if !idle {
            self.lapse.clear();
            return Judgement::not_applicable("only checked while idle".into());
        }
        let Some(on) = ctx.frame.flag(signal) else {
            return Judgement::no_data(signal);
        };
        if !on {
            self.lapse.clear();
            return Judgement::new(RuleState::Ok, Some(0.0), format!("{signal} off while idle"));
        }
        let (on_s, past) = self.lapse.lapse(ctx.frame.now_ms, self.grace);
        if past {
            Judgement::new(
                RuleState::Violated,
                Some(1.0),
                format!("{signal} on while idle (spindle stopped or door open) for {on_s:.0} s"),
            )
        } else {
            Judgement::new(
                RuleState::Ok,
                Some(1.0),
                format!("{signal} on while idle for {on_s:.1} s (within grace)"),
            )
        }
    }
}
