//! `absent_while_idle`: while idle (spindle stopped, or the door open), the bool signal is off;
//! on for longer than the grace is a violation (aerosol left on: needless mist).

use std::time::Duration;

use super::grace::Grace;
use super::{Context, Judgement, Kind, RuleState};
use crate::text::Text;

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

    fn limit(&self) -> (Text, String) {
        let g = self.grace.as_secs_f64();
        (
            Text::new(
                format!("off while idle (grace {g} s)"),
                format!("空闲时必须关闭（允许延时 {g} s）"),
            ),
            String::new(),
        )
    }

    fn judge(&mut self, ctx: &Context, _limit: &Text) -> Judgement {
        let signal = &self.signal;
        let Some(idle) = ctx.idle() else {
            return Judgement::new(
                RuleState::NoData,
                None,
                Text::new("spindle state unknown", "主轴状态未知"),
            );
        };
        if !idle {
            self.lapse.clear();
            return Judgement::not_applicable(Text::new(
                "only checked while idle",
                "仅在空闲时检查",
            ));
        }
        let Some(on) = ctx.frame.flag(signal) else {
            return Judgement::no_data(signal);
        };
        if !on {
            self.lapse.clear();
            return Judgement::new(
                RuleState::Ok,
                Some(0.0),
                Text::new(
                    format!("{signal} off while idle"),
                    format!("空闲时 {signal} 已关闭"),
                ),
            );
        }
        let (on_s, past) = self.lapse.lapse(ctx.frame.now_ms, self.grace);
        if past {
            Judgement::new(
                RuleState::Violated,
                Some(1.0),
                Text::new(
                    format!(
                        "{signal} on while idle (spindle stopped or door open) for {on_s:.0} s"
                    ),
                    format!("空闲（主轴停转或防护门打开）时 {signal} 仍开启，已持续 {on_s:.0} s"),
                ),
            )
        } else {
            Judgement::new(
                RuleState::Ok,
                Some(1.0),
                Text::new(
                    format!("{signal} on while idle for {on_s:.1} s (within grace)"),
                    format!("空闲时 {signal} 开启 {on_s:.1} s（在允许延时内）"),
                ),
            )
        }
    }
}
