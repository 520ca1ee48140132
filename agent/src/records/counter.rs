//! Counter events: a counter signal that jumped further than its physics allows (the step is
//! not counted) or went backwards (a reset or a replaced controller at the device: counting
//! goes on from the new value). Kept in the store (`counter_event`) as the audit trail of what
//! the agent refused to count, logged once, and counted in `/metrics`.

use serde::{Deserialize, Serialize};

/// What the counter did.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CounterEventKind {
    /// A change beyond the most the signal can change in the time since its last value: a
    /// glitch, ignored (not counted).
    Jump,
    /// The counter went back: reset at the device. Counting goes on from the new value.
    Backwards,
}

impl CounterEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CounterEventKind::Jump => "jump",
            CounterEventKind::Backwards => "backwards",
        }
    }

    pub fn parse(s: &str) -> Option<CounterEventKind> {
        match s {
            "jump" => Some(CounterEventKind::Jump),
            "backwards" => Some(CounterEventKind::Backwards),
            _ => None,
        }
    }
}

/// One event, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CounterEvent {
    pub ts_ms: i64,
    /// What the agent counts from the signal: `service-history` (axis travel, pump strokes
    /// and hours), `operations` (the oil meter) or `component:<name>` (a counter component's
    /// life used).
    pub counter: String,
    /// The canonical signal.
    pub signal: String,
    pub kind: CounterEventKind,
    /// The last value counted, and the value that was not.
    pub from_value: f64,
    pub to_value: f64,
    /// For a jump: the most the signal could have changed in the time since `from_value`.
    pub max_step: Option<f64>,
    /// For a counter component: its life used at the event, counted on from `to_value` (what
    /// a restart resumes from).
    pub used: Option<f64>,
    pub message: String,
    /// The message in Simplified Chinese; `None` for an event stored before the store kept it.
    pub message_zh: Option<String>,
}
