//! Evaluators: the stage between the state and the sinks. Each reads the state on a fixed tick
//! and reports *conditions*: named facts that are either active or not (a rule violated, a
//! device unavailable, a tool past its warning level). The alarm engine turns conditions into
//! alarms with a lifecycle; the API shows them; the store keeps what they conclude.

use serde::Serialize;

/// How much a condition matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One condition as an evaluator sees it at one tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// Stable identity across ticks and restarts, e.g. `rule:gbt31210.mql-starvation`,
    /// `device:mql:unavailable`, `tool:T2-0007:life-warning`. One alarm per key.
    pub key: String,
    pub active: bool,
    pub severity: Severity,
    /// What a person needs to read: what is wrong, by how much.
    pub message: String,
    /// Where the limit comes from (a standard, a guideline, the CNC's own tool life setting).
    pub source: String,
}

pub mod clock;
pub mod compliance;
pub mod component_life;
pub mod frame;
pub mod health;
pub mod life;
pub mod lifetimes;
pub mod operations;
pub mod profile;
pub mod records;
pub mod rules;
pub mod service;
pub mod tool_life;
pub mod window;
