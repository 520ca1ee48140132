//! The lifecycle of one alarm, after ISA-18.2 and OPC UA Alarms & Conditions, as a pure state
//! machine: no clock, no I/O, so every transition is a unit test.
//!
//! The state is *derived* from three facts rather than stored as an enum, so that an impossible
//! combination cannot be represented: whether the (debounced) condition is active, whether the
//! last activation has been acknowledged, and whether an operator has suppressed the alarm
//! (shelved for a time, or out of service for maintenance). While suppressed, the condition is
//! still tracked, so that when the suppression ends the alarm shows what is true then.

use crate::records::alarm::{AlarmState, Suppression};

/// What a person (or the acknowledge button) asks of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Shelve { until_ms: i64 },
    Unshelve,
    RemoveFromService,
    ReturnToService,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Shelve { .. } => "shelved",
            Action::Unshelve => "unshelved",
            Action::RemoveFromService => "removed from service",
            Action::ReturnToService => "returned to service",
        }
    }

    /// The same, as the audit trail says it in Simplified Chinese.
    pub fn verb_zh(self) -> &'static str {
        match self {
            Action::Acknowledge => "已确认",
            Action::Shelve { .. } => "已搁置",
            Action::Unshelve => "已解除搁置",
            Action::RemoveFromService => "已停用",
            Action::ReturnToService => "已恢复投用",
        }
    }
}

/// Why an action was refused; the state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("nothing to acknowledge: the alarm is {0}")]
    NothingToAcknowledge(&'static str),
    #[error("the alarm is not shelved")]
    NotShelved,
    #[error("the alarm is out of service; return it to service first")]
    OutOfService,
    #[error("the alarm is not out of service")]
    NotOutOfService,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// The debounced condition.
    pub condition: bool,
    /// The last activation has been acknowledged (true in normal).
    pub acked: bool,
    pub suppression: Suppression,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            condition: false,
            acked: true,
            suppression: Suppression::None,
        }
    }
}

impl Lifecycle {
    pub fn state(&self) -> AlarmState {
        match self.suppression {
            Suppression::OutOfService => AlarmState::OutOfService,
            Suppression::Shelved { .. } => AlarmState::Shelved,
            Suppression::None => match (self.condition, self.acked) {
                (true, false) => AlarmState::ActiveUnacked,
                (true, true) => AlarmState::ActiveAcked,
                (false, false) => AlarmState::ClearedUnacked,
                (false, true) => AlarmState::Normal,
            },
        }
    }

    /// The debounced condition changed (or not).
    pub fn set_condition(&mut self, active: bool) {
        if active && !self.condition {
            // A new activation needs its own acknowledgement.
            self.acked = false;
        }
        self.condition = active;
    }

    pub fn apply(&mut self, action: Action) -> Result<(), Refused> {
        match action {
            Action::Acknowledge => {
                let s = self.state();
                if !s.unacked() {
                    return Err(Refused::NothingToAcknowledge(s.as_str()));
                }
                self.acked = true;
            }
            Action::Shelve { until_ms } => {
                if self.suppression == Suppression::OutOfService {
                    return Err(Refused::OutOfService);
                }
                self.suppression = Suppression::Shelved { until_ms };
            }
            Action::Unshelve => {
                if !matches!(self.suppression, Suppression::Shelved { .. }) {
                    return Err(Refused::NotShelved);
                }
                self.unsuppress();
            }
            Action::RemoveFromService => self.suppression = Suppression::OutOfService,
            Action::ReturnToService => {
                if self.suppression != Suppression::OutOfService {
                    return Err(Refused::NotOutOfService);
                }
                self.unsuppress();
            }
        }
        Ok(())
    }

    /// Ends a suppression: an alarm whose condition is active then is annunciated afresh
    /// (what happened while it was suppressed is not silently taken as acknowledged).
    fn unsuppress(&mut self) {
        self.suppression = Suppression::None;
        self.acked = !self.condition;
    }

    pub fn shelved_until(&self) -> Option<i64> {
        match self.suppression {
            Suppression::Shelved { until_ms } => Some(until_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AlarmState::*;
    use super::*;

    type Step = dyn Fn(&mut Lifecycle) -> Result<(), Refused>;

    fn after(steps: &[&Step]) -> Lifecycle {
        let mut l = Lifecycle::default();
        for s in steps {
            s(&mut l).unwrap();
        }
        l
    }
    fn on(l: &mut Lifecycle) -> Result<(), Refused> {
        l.set_condition(true);
        Ok(())
    }
    fn off(l: &mut Lifecycle) -> Result<(), Refused> {
        l.set_condition(false);
        Ok(())
    }
    fn ack(l: &mut Lifecycle) -> Result<(), Refused> {
        l.apply(Action::Acknowledge)
    }

    #[test]
    fn the_four_isa_states() {
        assert_eq!(after(&[]).state(), Normal);
        assert_eq!(after(&[&on]).state(), ActiveUnacked);
        assert_eq!(after(&[&on, &ack]).state(), ActiveAcked);
        assert_eq!(after(&[&on, &ack, &off]).state(), Normal);
        assert_eq!(after(&[&on, &off]).state(), ClearedUnacked);
        assert_eq!(after(&[&on, &off, &ack]).state(), Normal);
        // Returning before the acknowledgement is the same unacknowledged activation.
        assert_eq!(after(&[&on, &off, &on]).state(), ActiveUnacked);
        // A new activation after an acknowledged one needs its own acknowledgement.
        assert_eq!(after(&[&on, &ack, &off, &on]).state(), ActiveUnacked);
        // The same condition reported again changes nothing.
        assert_eq!(after(&[&on, &ack, &on]).state(), ActiveAcked);
    }

    #[test]
    fn acknowledging_what_needs_none_is_refused_and_changes_nothing() {
        let mut l = after(&[&on, &ack]);
        assert_eq!(
            l.apply(Action::Acknowledge),
            Err(Refused::NothingToAcknowledge("active_acked"))
        );
        assert_eq!(l.state(), ActiveAcked);
        let mut n = Lifecycle::default();
        assert!(n.apply(Action::Acknowledge).is_err());
        assert_eq!(n.state(), Normal);
    }

    #[test]
    fn shelving_tracks_the_condition_and_annunciates_what_is_true_at_the_end() {
        let mut l = after(&[&on]);
        l.apply(Action::Shelve { until_ms: 100 }).unwrap();
        assert_eq!(l.state(), Shelved);
        assert_eq!(l.shelved_until(), Some(100));
        assert!(
            l.apply(Action::Acknowledge).is_err(),
            "shelved: nothing shown"
        );
        l.set_condition(false);
        assert_eq!(l.state(), Shelved);
        l.apply(Action::Unshelve).unwrap();
        assert_eq!(l.state(), Normal, "cleared while shelved");

        let mut l = after(&[&on, &ack]);
        l.apply(Action::Shelve { until_ms: 100 }).unwrap();
        l.set_condition(false);
        l.set_condition(true);
        l.apply(Action::Unshelve).unwrap();
        assert_eq!(l.state(), ActiveUnacked, "active at the end: annunciated");
        assert_eq!(l.apply(Action::Unshelve), Err(Refused::NotShelved));
    }

    #[test]
    fn out_of_service_until_returned_and_not_shelvable() {
        let mut l = after(&[&on]);
        l.apply(Action::RemoveFromService).unwrap();
        assert_eq!(l.state(), OutOfService);
        assert_eq!(
            l.apply(Action::Shelve { until_ms: 5 }),
            Err(Refused::OutOfService)
        );
        l.set_condition(false);
        l.set_condition(true);
        assert_eq!(l.state(), OutOfService);
        l.apply(Action::ReturnToService).unwrap();
        assert_eq!(l.state(), ActiveUnacked);
        assert_eq!(
            l.apply(Action::ReturnToService),
            Err(Refused::NotOutOfService)
        );
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in AlarmState::ALL {
            assert_eq!(AlarmState::parse(s.as_str()), Some(s));
        }
        assert_eq!(AlarmState::parse("active"), None);
    }
}
