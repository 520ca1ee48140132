//! Sources: the tasks that read devices and write the state. One module per protocol; each
//! device (or shared Modbus link) runs in its own task, so a dead or slow device never delays
//! the others.

pub mod context;
pub mod modbus;
pub mod modbus_plan;
pub mod modbus_probe;
pub mod opcua;
pub mod opcua_browse;
pub mod opcua_draft;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::codec::Raw;
use crate::config::{Config, Connection, Tag};
use crate::state::State;
use crate::value::{Value, NOT_FINITE};

/// The running sources.
pub struct Sources {
    /// Modbus links and the machine context (fixed, table and derived signals): stopped by
    /// aborting them (closing a Modbus connection leaves nothing behind on the device).
    others: Vec<tokio::task::JoinHandle<()>>,
    /// OPC UA sessions: asked to stop, so that each closes its session on the server.
    opcua: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

/// How long a stop waits for the OPC UA sessions to close before abandoning them.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Sources {
    /// Stops reading. OPC UA sessions are closed on their servers (a CNC allows few sessions,
    /// and one dropped without closing it holds its place until it times out).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in &self.others {
            t.abort();
        }
        let mut opcua = self.opcua;
        if tokio::time::timeout(STOP_GRACE, futures::future::join_all(opcua.iter_mut()))
            .await
            .is_err()
        {
            tracing::warn!("opcua: sessions not closed within {STOP_GRACE:?}; abandoned");
            for t in &opcua {
                t.abort();
            }
        }
    }
}

/// Starts reading every configured device.
pub fn spawn_all(config: &Config, state: &Arc<State>) -> Sources {
    let (stop, stopping) = watch::channel(false);
    let mut opcua = Vec::new();
    let mut first_signal = 0;
    for (i, d) in config.devices.iter().enumerate() {
        if let Connection::OpcUa { .. } = d.connection {
            opcua.push(opcua::spawn(i, d, first_signal, state, stopping.clone()));
        }
        first_signal += d.tags.len();
    }
    let mut others = modbus::spawn(config, state);
    others.extend(context::spawn(config, state));
    Sources {
        others,
        opcua,
        stop,
    }
}

/// Runs a source task and restarts it if it panics: a bug triggered by one device's strange
/// answer must cost that device a reconnect, not the agent its acquisition.
pub(crate) fn supervise<F, Fut>(
    name: String,
    state: Arc<State>,
    devices: Vec<usize>,
    make: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = crate::backoff::Backoff::default();
        loop {
            let mut inner = AbortOnDrop(tokio::spawn(make()));
            match (&mut inner.0).await {
                Err(e) if e.is_panic() => {
                    tracing::error!("{name}: source task panicked; restarting it");
                    for d in &devices {
                        state.device_lost(*d, "internal error in the source task; restarting");
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                _ => return,
            }
        }
    })
}

/// Aborts a task when dropped, so aborting a supervisor also stops what it supervises.
pub(crate) struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A raw device value in engineering units: scaled, offset, or turned into its label; for a
/// text signal (a program or tool number), the number's own text. A number that is not finite,
/// before or after scaling (`raw * scale + offset` can overflow), is refused with
/// [`NOT_FINITE`].
pub(crate) fn to_value(tag: &Tag, raw: Raw) -> Result<Value, &'static str> {
    match raw {
        Raw::Bool(b) => Ok(Value::Bool(b)),
        Raw::Number(x) if !x.is_finite() => Err(NOT_FINITE),
        Raw::Number(x) if !tag.labels.is_empty() => {
            let code = x.round() as i64;
            Ok(match tag.labels.iter().find(|(c, _)| *c == code) {
                Some((_, label)) => Value::Text(label.clone()),
                None => Value::Text(format!("unknown ({code})")),
            })
        }
        Raw::Number(x) if tag.text => {
            noted_once(&tag.signal, || {
                format!(
                    "{}: the device sends a number for text signal `{}`; it is kept as its text",
                    tag.name, tag.signal
                )
            });
            Ok(Value::Text(number_text(x)))
        }
        Raw::Number(x) => {
            let v = x * tag.scale + tag.offset;
            if v.is_finite() {
                Ok(Value::Number(v))
            } else {
                Err(NOT_FINITE)
            }
        }
    }
}

/// A number as text: integers without a decimal point (`1001`), others as they are.
pub(crate) fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        x.to_string()
    }
}

/// Logs `message` the first time it is asked for `key` (a signal), never again: a fact about
/// a device's data, not an event.
fn noted_once(key: &str, message: impl FnOnce() -> String) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.iter().any(|k| k == key) {
        seen.push(key.to_string());
        tracing::info!("{}", message());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn tag(scale: f64, labels: &str) -> Tag {
        let src = format!(
            r#"
[[device]]
name = "d"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
  [[device.tag]]
  name = "t"
  table = "holding"
  address = 0
  type = "f64"
  scale = {scale:e}
  {labels}
"#
        );
        let cfg = crate::config::parse(Path::new("t.toml"), &src).unwrap();
        cfg.devices[0].tags[0].clone()
    }

    #[test]
    fn non_finite_numbers_are_refused_before_and_after_scaling() {
        let t = tag(10.0, "");
        assert_eq!(to_value(&t, Raw::Number(1.5)), Ok(Value::Number(15.0)));
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(to_value(&t, Raw::Number(x)), Err(NOT_FINITE), "{x}");
        }
        // Finite on the wire, infinite once scaled.
        assert_eq!(to_value(&t, Raw::Number(f64::MAX)), Err(NOT_FINITE));
        assert_eq!(to_value(&t, Raw::Bool(true)), Ok(Value::Bool(true)));
        // A NaN is no code either (it would round to 0, a real label).
        let labelled = tag(1.0, r#"labels = { "0" = "active" }"#);
        assert_eq!(
            to_value(&labelled, Raw::Number(0.0)),
            Ok(Value::Text("active".into()))
        );
        assert_eq!(to_value(&labelled, Raw::Number(f64::NAN)), Err(NOT_FINITE));
    }
}
