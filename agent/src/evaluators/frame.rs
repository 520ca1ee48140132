//! A frame: the good values of every canonical signal at one tick. Evaluators read frames, never
//! the state directly, so a stale or unavailable value is simply absent to them and can never
//! be judged as if it were live.

use std::collections::HashMap;
use std::sync::Arc;

use crate::state::State;
use crate::value::{now_ms, Value};

#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub now_ms: i64,
    /// Keyed by the state's shared names: a capture copies no string.
    values: HashMap<Arc<str>, Value>,
}

impl Frame {
    pub fn capture(state: &State) -> Frame {
        // Sized once: grown from empty, the map was rehashed seven times a tick for 200 signals.
        let mut values = HashMap::with_capacity(state.signals().len());
        values.extend(state.good_values().map(|(name, v)| (name.clone(), v)));
        Frame {
            now_ms: now_ms(),
            values,
        }
    }

    /// A frame built by hand, for tests.
    pub fn from_values(
        now_ms: i64,
        values: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Frame {
        Frame {
            now_ms,
            values: values.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
        }
    }

    /// The frame with one more value (tests).
    pub fn with(mut self, name: &str, value: Value) -> Frame {
        self.values.insert(Arc::from(name), value);
        self
    }

    pub fn num(&self, name: &str) -> Option<f64> {
        match self.values.get(name)? {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.values.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::Number(x) => Some(*x != 0.0),
            Value::Text(_) => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            Value::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
}
