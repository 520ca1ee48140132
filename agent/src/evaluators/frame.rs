//! A frame: the good values of every canonical signal at one tick. Evaluators read frames, never
//! the state directly, so a stale or unavailable value is simply absent to them and can never
//! be judged as if it were live.

use std::sync::Arc;

use crate::state::{NameIndex, State};
use crate::value::{now_ms, Value};

#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub now_ms: i64,
    /// Name → position in `values`: the state's own index, shared, so a capture builds no map
    /// (building one, 200 names hashed at every tick, was a sixth of the evaluator loop's CPU).
    index: Arc<NameIndex>,
    /// The good values by position; `None` where the value is not good.
    values: Vec<Option<Value>>,
}

impl Frame {
    pub fn capture(state: &State) -> Frame {
        let (index, values) = state.good_values();
        Frame {
            now_ms: now_ms(),
            index,
            values,
        }
    }

    /// A frame built by hand, for tests.
    pub fn from_values(
        now_ms: i64,
        values: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Frame {
        values
            .into_iter()
            .fold(Frame::default(), |f, (k, v)| f.with(k, v))
            .at(now_ms)
    }

    fn at(mut self, now_ms: i64) -> Frame {
        self.now_ms = now_ms;
        self
    }

    /// The frame with one more value (tests).
    pub fn with(mut self, name: &str, value: Value) -> Frame {
        match self.index.get(name) {
            Some(&i) => self.values[i] = Some(value),
            None => {
                Arc::make_mut(&mut self.index).insert(Arc::from(name), self.values.len());
                self.values.push(Some(value));
            }
        }
        self
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(*self.index.get(name)?)?.as_ref()
    }

    pub fn num(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::Number(x) => Some(*x != 0.0),
            Value::Text(_) => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }
}
