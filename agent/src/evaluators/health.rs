//! Device health as conditions: a device unavailable (disconnected or erroring), connected but
//! with values gone stale, or connected with tags that failed on their own (a Bad status, a
//! Modbus exception, a value that is not finite: without this, such a tag would just vanish
//! from the rules that read it). Every device reports all three keys on every tick, so an
//! alarm clears as soon as its device is back.

use std::time::{Duration, Instant};

use super::{Evaluator, Output, Tick};
use crate::condition::{Condition, Severity};
use crate::state::DeviceView;
use crate::text::Text;

/// A device still connecting for the first time (no poll, no error yet) is not reported during
/// this grace after the agent starts: an OPC UA session takes seconds to open, that is no fault.
pub const START_GRACE: Duration = Duration::from_secs(20);

/// The device health evaluator; its grace starts when it is built (with the agent).
pub struct Health {
    started: Instant,
    severity: Severity,
    /// Each device's conditions as last built, with what they were built from: rebuilt only
    /// when that changes (formatting them at every tick was a sixth of the evaluator loop's CPU
    /// in the footprint benchmark).
    built: Vec<Option<(Built, Vec<Condition>)>>,
}

/// What a device's conditions say, compared without copying a string.
#[derive(Debug, Clone, PartialEq)]
struct Built {
    down: bool,
    connected: bool,
    last_error: Option<String>,
    stale: usize,
    total: usize,
    failed: Vec<(String, String)>,
}

impl Built {
    fn of(d: &DeviceView, down: bool) -> Built {
        Built {
            down,
            connected: d.connected,
            last_error: d.last_error.clone(),
            stale: d.signals_stale,
            total: d.signals_good + d.signals_stale + d.signals_unavailable,
            failed: d
                .failed_tags
                .iter()
                .map(|t| (t.signal.clone(), t.error.clone()))
                .collect(),
        }
    }

    fn still(&self, d: &DeviceView, down: bool) -> bool {
        self.down == down
            && self.connected == d.connected
            && self.last_error.as_deref() == d.last_error.as_deref()
            && self.stale == d.signals_stale
            && self.total == d.signals_good + d.signals_stale + d.signals_unavailable
            && self.failed.len() == d.failed_tags.len()
            && self
                .failed
                .iter()
                .zip(&d.failed_tags)
                .all(|((s, e), t)| *s == t.signal && *e == t.error)
    }
}

impl Health {
    /// `severity`: of device unavailable / stale alarms (`[alarms] device_severity`).
    pub fn new(severity: Severity) -> Health {
        Health {
            started: Instant::now(),
            severity,
            built: Vec::new(),
        }
    }
}

impl Evaluator for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn step(&mut self, tick: &Tick) -> Output {
        let starting = self.started.elapsed() < START_GRACE;
        self.built.resize(tick.devices.len(), None);
        let mut out = Vec::with_capacity(3 * tick.devices.len());
        for (d, built) in tick.devices.iter().zip(&mut self.built) {
            let down = is_down(d, starting);
            match built {
                Some((b, c)) if b.still(d, down) => out.extend(c.iter().cloned()),
                _ => {
                    let c = device_conditions(d, down, self.severity);
                    out.extend(c.iter().cloned());
                    *built = Some((Built::of(d, down), c));
                }
            }
        }
        Output {
            conditions: out,
            records: Vec::new(),
        }
    }
}

/// Every device's conditions built afresh: what [`Health::step`] must always equal (its tests
/// compare the two); the agent itself builds them through the step's memo.
#[cfg(test)]
fn conditions(devices: &[DeviceView], started: Instant, severity: Severity) -> Vec<Condition> {
    let starting = started.elapsed() < START_GRACE;
    devices
        .iter()
        .flat_map(|d| device_conditions(d, is_down(d, starting), severity))
        .collect()
}

/// Unavailable: neither connected nor, during the start grace, still connecting for the first
/// time (no poll, no error yet).
fn is_down(d: &DeviceView, starting: bool) -> bool {
    let never_seen = d.polls == 0 && !d.connected && d.last_error.is_none();
    !(d.connected || (starting && never_seen))
}

/// One device's three conditions: unavailable, stale, tag failed.
fn device_conditions(d: &DeviceView, down: bool, severity: Severity) -> Vec<Condition> {
    let mut out = Vec::with_capacity(3);
    let text = unavailable(&d.name, d.last_error.as_deref());
    out.push(Condition {
        key: format!("device:{}:unavailable", d.name),
        active: down,
        severity,
        message: text.en,
        message_zh: text.zh,
        source: format!("{} {}", d.protocol, d.endpoint),
        source_zh: format!("{} {}", d.protocol, d.endpoint),
    });
    let text = stale(
        &d.name,
        d.signals_stale,
        d.signals_good + d.signals_stale + d.signals_unavailable,
    );
    out.push(Condition {
        key: format!("device:{}:stale", d.name),
        active: d.connected && d.signals_stale > 0,
        severity,
        message: text.en,
        message_zh: text.zh,
        source: format!("{} {}", d.protocol, d.endpoint),
        source_zh: format!("{} {}", d.protocol, d.endpoint),
    });
    out.push(tag_failed(d, severity));
    out
}

/// The device's own error is quoted as the device or its library gave it (it cannot be
/// translated in general); the agent's own few words are.
fn error_zh(e: &str) -> &str {
    match e {
        "not finite" => "数值无效（非有限数）",
        "internal error in the source task; restarting" => "采集任务内部错误，正在重启",
        other => other,
    }
}

fn unavailable(name: &str, error: Option<&str>) -> Text {
    Text::new(
        format!(
            "device {name} unavailable: {}",
            error.unwrap_or("not connected")
        ),
        format!("设备 {name} 不可用：{}", error.map_or("未连接", error_zh)),
    )
}

fn stale(name: &str, stale: usize, total: usize) -> Text {
    Text::new(
        format!("device {name}: {stale} of {total} values stale"),
        format!("设备 {name}：{total} 个数值中有 {stale} 个超时未更新"),
    )
}

/// `device:<name>:tag-failed`: active while any tag of a connected device is unavailable with
/// an error of its own; the message names every failing tag and why.
fn tag_failed(d: &DeviceView, severity: Severity) -> Condition {
    let n = d.failed_tags.len();
    let which: Vec<String> = d
        .failed_tags
        .iter()
        .map(|t| format!("{} ({})", t.signal, t.error))
        .collect();
    let which_zh: Vec<String> = d
        .failed_tags
        .iter()
        .map(|t| format!("{}（{}）", t.signal, error_zh(&t.error)))
        .collect();
    Condition {
        key: format!("device:{}:tag-failed", d.name),
        active: d.connected && n > 0,
        severity,
        message: format!(
            "device {}: {n} tag{} failed: {}",
            d.name,
            if n == 1 { "" } else { "s" },
            which.join(", ")
        ),
        message_zh: format!(
            "设备 {}：{n} 个数据点读取失败：{}",
            d.name,
            which_zh.join("，")
        ),
        source: format!("{} {}", d.protocol, d.endpoint),
        source_zh: format!("{} {}", d.protocol, d.endpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use std::path::Path;

    const CONFIG: &str = r#"
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
  [[device.tag]]
  name = "mist"
  table = "input"
  address = 1
  signal = "mql.mist_concentration"
  [[device.tag]]
  name = "level"
  table = "input"
  address = 2
  signal = "mql.aerosol_temp"
"#;

    fn state() -> State {
        State::new(&crate::config::parse(Path::new("t.toml"), CONFIG).unwrap())
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
        assert!(
            !c.iter().any(|c| c.key.ends_with(":tag-failed") && c.active),
            "a device that is gone is unavailable, its tags did not fail on their own"
        );
        assert_eq!(
            active(&c),
            vec!["device:mql:unavailable"],
            "seen once: no grace"
        );
        assert!(c[0].message.contains("connection refused"));
        assert_eq!(c[0].severity, Severity::Critical);
    }

    #[test]
    fn a_failed_tag_of_a_connected_device_is_named_with_its_reason() {
        let s = state();
        let now = Instant::now();
        let cfg = crate::config::parse(Path::new("t.toml"), CONFIG).unwrap();
        let activity = super::super::operations::Activity::new(cfg.operations);
        // Through the evaluator, which rebuilds a device's conditions only when what they say
        // changed: each tick must read as the conditions built afresh.
        let mut health = Health::new(Severity::Warning);
        let mut failed = |s: &State| {
            let devices = s.device_views();
            let frame = super::super::frame::Frame::default();
            let tick = Tick {
                frame: &frame,
                dt_s: 0.1,
                activity: &activity,
                devices: &devices,
            };
            let stepped = health.step(&tick).conditions;
            assert_eq!(
                stepped,
                conditions(&devices, health.started, Severity::Warning)
            );
            stepped
                .into_iter()
                .find(|c| c.key == "device:mql:tag-failed")
                .expect("reported on every tick")
        };
        s.device_connected(0);
        for id in 0..3 {
            s.update(id, crate::value::Value::Number(1.0), now);
        }
        assert!(!failed(&s).active);
        s.update(1, crate::value::Value::Number(f64::NAN), now);
        s.fail(
            2,
            "unit 1 answered exception IllegalDataAddress to input register 2..2",
        );
        let c = failed(&s);
        assert!(c.active);
        assert_eq!(
            c.message,
            "device mql: 2 tags failed: mql.mist_concentration (not finite), \
             mql.aerosol_temp (unit 1 answered exception IllegalDataAddress to input register 2..2)"
        );
        // The device goes: that is `unavailable`, not a tag failure; back, the tags read again.
        s.device_lost(0, "connection refused");
        assert!(!failed(&s).active);
        s.device_connected(0);
        for id in 0..3 {
            s.update(id, crate::value::Value::Number(2.0), now);
        }
        assert!(!failed(&s).active);
        s.fail(0, "BadNodeIdUnknown");
        assert_eq!(
            failed(&s).message,
            "device mql: 1 tag failed: mql.oil_flow (BadNodeIdUnknown)"
        );
        let c = failed(&s);
        assert_eq!(
            c.message_zh,
            "设备 mql：1 个数据点读取失败：mql.oil_flow（BadNodeIdUnknown）"
        );
    }

    #[test]
    fn every_device_message_reads_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        chinese(&unavailable("mql", None), &["mql"]);
        chinese(
            &unavailable("mql", Some("internal error in the source task; restarting")),
            &["mql"],
        );
        chinese(&stale("cnc", 3, 12), &["cnc"]);
        let s = state();
        s.device_connected(0);
        let now = Instant::now();
        for id in 0..3 {
            s.update(id, crate::value::Value::Number(1.0), now);
        }
        s.update(1, crate::value::Value::Number(f64::NAN), now);
        let c = conditions(&s.device_views(), now, Severity::Warning)
            .into_iter()
            .find(|c| c.key == "device:mql:tag-failed")
            .unwrap();
        chinese(
            &Text::new(c.message, c.message_zh),
            &["mql", "mql.mist_concentration"],
        );
    }
}
