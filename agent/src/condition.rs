//! Conditions: named facts that are either active or not (a rule violated, a device
//! unavailable, a tool past its warning level), as the evaluators report them and the alarm
//! engine turns them into alarms, with how much each matters.

use serde::{Deserialize, Serialize};

/// How much a condition matters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|x| x.as_str() == s)
    }
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
    /// The same in Simplified Chinese, with the same numbers (`text::Text` builds both).
    pub message_zh: String,
    /// Where the limit comes from (a standard, a guideline, the CNC's own tool life setting).
    pub source: String,
    /// The same in Simplified Chinese.
    pub source_zh: String,
}
