//! Sources: the tasks that read devices and write the state. One module per protocol; each
//! device (or shared Modbus link) runs in its own task, so a dead or slow device never delays
//! the others.

pub mod backoff;
pub mod modbus;
pub mod modbus_plan;
pub mod opcua;

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
    tasks
}

/// A raw device value in engineering units: scaled, offset, or turned into its label.
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
        Raw::Number(x) => Value::Number(x * tag.scale + tag.offset),
    }
}
