//! Sources: the tasks that read devices and write the state. One module per protocol; each
//! device (or shared Modbus link) runs in its own task, so a dead or slow device never delays
//! the others.

pub mod context;
pub mod modbus;
pub mod modbus_plan;
pub mod opcua;

use std::future::Future;
use std::sync::Arc;

use crate::codec::Raw;
use crate::config::{Config, Connection, Tag};
use crate::state::State;
use crate::value::Value;

/// Starts reading every configured device.
pub fn spawn_all(config: &Config, state: &Arc<State>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = modbus::spawn(config, state);
    let mut first_signal = 0;
    for (i, d) in config.devices.iter().enumerate() {
        if let Connection::OpcUa { .. } = d.connection {
            tasks.push(opcua::spawn(i, d, first_signal, state));
        }
        first_signal += d.tags.len();
    }
    tasks.extend(context::spawn(config, state));
    tasks
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
/// text signal (a program or tool number), the number's own text.
pub(crate) fn to_value(tag: &Tag, raw: Raw) -> Value {
    match raw {
        Raw::Bool(b) => Value::Bool(b),
        Raw::Number(x) if !tag.labels.is_empty() => {
            let code = x.round() as i64;
            match tag.labels.iter().find(|(c, _)| *c == code) {
                Some((_, label)) => Value::Text(label.clone()),
                None => Value::Text(format!("unknown ({code})")),
            }
        }
        Raw::Number(x) if tag.text => {
            noted_once(&tag.signal, || {
                format!(
                    "{}: the device sends a number for text signal `{}`; it is kept as its text",
                    tag.name, tag.signal
                )
            });
            Value::Text(number_text(x))
        }
        Raw::Number(x) => Value::Number(x * tag.scale + tag.offset),
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
