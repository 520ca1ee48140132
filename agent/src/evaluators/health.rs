//! Device health as conditions: a device unavailable (disconnected or erroring), or connected
//! but with values gone stale. Every device reports both keys on every tick, so an alarm clears
//! as soon as its device is back.

use std::time::{Duration, Instant};

use super::{Evaluator, Output, Tick};
use crate::condition::{Condition, Severity};
use crate::state::DeviceView;

/// A device still connecting for the first time (no poll, no error yet) is not reported during
/// this grace after the agent starts: an OPC UA session takes seconds to open, that is no fault.
pub const START_GRACE: Duration = Duration::from_secs(20);

/// The device health evaluator; its grace starts when it is built (with the agent).
pub struct Health {
    started: Instant,
    severity: Severity,
}

impl Health {
    /// `severity`: of device unavailable / stale alarms (`[alarms] device_severity`).
    pub fn new(severity: Severity) -> Health {
        Health {
            started: Instant::now(),
            severity,
        }
    }
}

impl Evaluator for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn step(&mut self, tick: &Tick) -> Output {
        Output {
            conditions: conditions(tick.devices, self.started, self.severity),
            records: Vec::new(),
        }
    }
}

pub fn conditions(devices: &[DeviceView], started: Instant, severity: Severity) -> Vec<Condition> {
    let starting = started.elapsed() < START_GRACE;
    let mut out = Vec::new();
    for d in devices {
        // Still connecting for the first time: no poll, no error yet.
        let never_seen = d.polls == 0 && !d.connected && d.last_error.is_none();
        let down = !(d.connected || (starting && never_seen));
        out.push(Condition {
            key: format!("device:{}:unavailable", d.name),
            active: down,
            severity,
            message: format!(
                "device {} unavailable: {}",
                d.name,
                d.last_error.as_deref().unwrap_or("not connected")
            ),
            source: format!("{} {}", d.protocol, d.endpoint),
        });
        out.push(Condition {
            key: format!("device:{}:stale", d.name),
            active: d.connected && d.signals_stale > 0,
            severity,
            message: format!(
                "device {}: {} of {} values stale",
                d.name,
                d.signals_stale,
                d.signals_good + d.signals_stale + d.signals_unavailable
            ),
            source: format!("{} {}", d.protocol, d.endpoint),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use std::path::Path;

    fn state() -> State {
        let src = r#"
[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
stale_after_ms = 100
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
"#;
        State::new(&crate::config::parse(Path::new("t.toml"), src).unwrap())
    }

    fn active(cs: &[Condition]) -> Vec<&str> {
        cs.iter()
            .filter(|c| c.active)
            .map(|c| c.key.as_str())
            .collect()
    }

    #[test]
    fn unavailable_after_the_grace_then_stale_then_fine() {
        let s = state();
        let long_ago = Instant::now() - START_GRACE - Duration::from_secs(1);
        assert!(
            active(&conditions(
                &s.device_views(),
                Instant::now(),
                Severity::Warning
            ))
            .is_empty(),
            "grace"
        );
        assert_eq!(
            active(&conditions(&s.device_views(), long_ago, Severity::Warning)),
            vec!["device:mql:unavailable"]
        );
        s.device_connected(0);
        s.update(
            0,
            crate::value::Value::Number(1.0),
            Instant::now() - Duration::from_secs(1),
        );
        assert_eq!(
            active(&conditions(&s.device_views(), long_ago, Severity::Warning)),
            vec!["device:mql:stale"]
        );
        s.update(0, crate::value::Value::Number(1.0), Instant::now());
        assert!(active(&conditions(&s.device_views(), long_ago, Severity::Warning)).is_empty());
        s.device_lost(0, "connection refused");
        let c = conditions(&s.device_views(), Instant::now(), Severity::Critical);
        assert_eq!(
            active(&c),
            vec!["device:mql:unavailable"],
            "seen once: no grace"
        );
        assert!(c[0].message.contains("connection refused"));
        assert_eq!(c[0].severity, Severity::Critical);
    }
}
