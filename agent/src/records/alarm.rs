//! An alarm's state and its transitions as every layer above the alarm engine sees them: the
//! store keeps them (audit trail), the channels send them, the API shows them.

use serde::{Deserialize, Serialize};

use crate::condition::Severity;

/// What a person sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Condition inactive, nothing to acknowledge.
    Normal,
    /// Condition active, nobody has acknowledged it yet.
    ActiveUnacked,
    /// Condition active, acknowledged.
    ActiveAcked,
    /// Condition returned to normal before anybody acknowledged it: still needs an
    /// acknowledgement, so a short fault is not missed.
    ClearedUnacked,
    /// Suppressed by an operator until a set time.
    Shelved,
    /// Removed from service (maintenance, a broken sensor) until returned by hand.
    OutOfService,
}

impl AlarmState {
    pub const ALL: [AlarmState; 6] = [
        AlarmState::Normal,
        AlarmState::ActiveUnacked,
        AlarmState::ActiveAcked,
        AlarmState::ClearedUnacked,
        AlarmState::Shelved,
        AlarmState::OutOfService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Normal => "normal",
            AlarmState::ActiveUnacked => "active_unacked",
            AlarmState::ActiveAcked => "active_acked",
            AlarmState::ClearedUnacked => "cleared_unacked",
            AlarmState::Shelved => "shelved",
            AlarmState::OutOfService => "out_of_service",
        }
    }

    pub fn parse(s: &str) -> Option<AlarmState> {
        AlarmState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Needs someone's acknowledgement.
    pub fn unacked(self) -> bool {
        matches!(self, AlarmState::ActiveUnacked | AlarmState::ClearedUnacked)
    }

    /// The condition is active and annunciated (not suppressed).
    pub fn active(self) -> bool {
        matches!(self, AlarmState::ActiveUnacked | AlarmState::ActiveAcked)
    }
}

/// An operator's suppression of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Suppression {
    #[default]
    None,
    Shelved {
        until_ms: i64,
    },
    OutOfService,
}

/// One change of an alarm, as stored in the audit trail and sent to the channels.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Transition {
    pub ts_ms: i64,
    pub key: String,
    pub state: AlarmState,
    pub previous: AlarmState,
    pub severity: Severity,
    pub message: String,
    /// The message in Simplified Chinese; `None` for a transition stored before the agent kept
    /// it (never a translation made up afterwards).
    pub message_zh: Option<String>,
    pub source: String,
    /// The source in Simplified Chinese; `None` as for `message_zh`.
    pub source_zh: Option<String>,
    /// Why: the condition, an operator's action, a shelve running out, an escalation.
    pub cause: String,
    /// The cause in Simplified Chinese; `None` for a transition stored before the agent kept it.
    pub cause_zh: Option<String>,
    /// Who: `system`, `button`, or the name the HTTP layer gives an authenticated user.
    pub by: String,
    /// Escalation tier the alarm has reached (0 = first responders).
    pub tier: u8,
}
