//! From conditions to alarms: one alarm per condition key (deduplication), an on-delay and an
//! off-delay per key (so a flickering value raises and clears nothing), shelving that expires,
//! out-of-service, and escalation of what stays unacknowledged.
//!
//! Pure apart from the time it is given: every method takes a [`Now`], so tests run hours of
//! alarm life in microseconds (an accelerated clock). Delays, shelving and escalation are
//! measured on its monotonic part, so a wall clock stepped by NTP or by hand (a Pi without a
//! battery clock) neither fires nor holds back anything; the wall part only stamps what
//! happened.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::lifecycle::{Action, Lifecycle, Refused};
use crate::clock::Now;
use crate::condition::{Condition, Severity};
use crate::config::AlarmSettings;
use crate::records::alarm::{AlarmState, Suppression, Transition};
use crate::text::Text;

/// An alarm as the API and the page show it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlarmView {
    pub key: String,
    pub state: AlarmState,
    pub severity: Severity,
    pub message: String,
    /// `None` only for an alarm restored from a store written before Chinese was kept, until
    /// its condition reports again.
    pub message_zh: Option<String>,
    pub source: String,
    pub source_zh: Option<String>,
    /// The (debounced) condition, also while shelved or out of service.
    pub condition: bool,
    pub acked: bool,
    /// When the state last changed (ms since the Unix epoch).
    pub since_ms: i64,
    pub active_since_ms: Option<i64>,
    pub shelved_until_ms: Option<i64>,
    pub tier: u8,
}

/// Everything the engine knows about one key; also what the audit store persists so that a
/// restart neither forgets an acknowledgement nor re-raises what was shelved.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub life: Lifecycle,
    pub severity: Severity,
    pub message: String,
    pub message_zh: Option<String>,
    pub source: String,
    pub source_zh: Option<String>,
    pub tier: u8,
    pub since_ms: i64,
    pub active_since_ms: Option<i64>,
    /// When the alarm was last sent to anyone while unacknowledged (escalation counts from it).
    pub notice_ms: i64,
    /// The condition as last reported, before the delays, and since when (a timestamp, and
    /// the monotonic time the delay counts from).
    pub(super) raw: bool,
    pub(super) raw_since_ms: i64,
    pub(super) raw_since_mono: i64,
    /// `notice_ms` on the monotonic clock: escalation counts from it.
    pub(super) notice_mono: i64,
    /// When a shelving runs out, on the monotonic clock.
    pub(super) shelved_until_mono: Option<i64>,
}

/// A timestamp from before `now` as a monotonic time: as long ago as the wall clock says (a
/// timestamp the wall clock now puts in the future counts as now).
fn mono_of(now: Now, wall_ms: i64) -> i64 {
    now.mono_ms - (now.wall_ms - wall_ms).max(0)
}

impl Entry {
    /// An entry as the audit trail kept it: the condition as last reported is taken to be the
    /// debounced one, since when the state last changed. Its times are placed on this run's
    /// monotonic clock as far back as the wall clock says they were.
    #[allow(clippy::too_many_arguments)]
    pub fn restored(
        life: Lifecycle,
        severity: Severity,
        message: String,
        message_zh: Option<String>,
        source: String,
        source_zh: Option<String>,
        tier: u8,
        since_ms: i64,
        active_since_ms: Option<i64>,
        notice_ms: i64,
        now: Now,
    ) -> Entry {
        Entry {
            raw: life.condition,
            raw_since_ms: since_ms,
            raw_since_mono: mono_of(now, since_ms),
            notice_mono: mono_of(now, notice_ms),
            shelved_until_mono: life
                .shelved_until()
                .map(|until| now.mono_ms + (until - now.wall_ms)),
            life,
            severity,
            message,
            message_zh,
            source,
            source_zh,
            tier,
            since_ms,
            active_since_ms,
            notice_ms,
        }
    }

    pub fn view(&self, key: &str) -> AlarmView {
        AlarmView {
            key: key.to_string(),
            state: self.life.state(),
            severity: self.severity,
            message: self.message.clone(),
            message_zh: self.message_zh.clone(),
            source: self.source.clone(),
            source_zh: self.source_zh.clone(),
            condition: self.life.condition,
            acked: self.life.acked,
            since_ms: self.since_ms,
            active_since_ms: self.active_since_ms,
            shelved_until_ms: self.life.shelved_until(),
            tier: self.tier,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActError {
    #[error("no alarm `{0}`")]
    Unknown(String),
    #[error(transparent)]
    Refused(#[from] Refused),
}

pub struct Engine {
    settings: AlarmSettings,
    max_tier: u8,
    entries: BTreeMap<String, Entry>,
}

impl Engine {
    /// `max_tier`: the highest escalation tier anyone listens on.
    pub fn new(settings: AlarmSettings, max_tier: u8) -> Engine {
        Engine {
            settings,
            max_tier,
            entries: BTreeMap::new(),
        }
    }

    pub fn restore(&mut self, key: String, entry: Entry) {
        self.entries.insert(key, entry);
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Every alarm that is not normal, worst first, then oldest first.
    pub fn views(&self) -> Vec<AlarmView> {
        let mut v: Vec<AlarmView> = self
            .entries
            .iter()
            .filter(|(_, e)| e.life.state() != AlarmState::Normal)
            .map(|(k, e)| e.view(k))
            .collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.since_ms.cmp(&b.since_ms))
        });
        v
    }

    fn delays(&self, key: &str) -> (Duration, Duration) {
        self.settings
            .delays
            .iter()
            .filter(|d| key.starts_with(&d.prefix))
            .max_by_key(|d| d.prefix.len())
            .map_or((self.settings.on_delay, self.settings.off_delay), |d| {
                (d.on_delay, d.off_delay)
            })
    }

    /// One evaluation tick: every condition every producer reports now. A key that is absent
    /// counts as inactive (its producer no longer sees it, e.g. the tool was changed).
    pub fn tick(&mut self, now: impl Into<Now>, conditions: &[Condition]) -> Vec<Transition> {
        let now = now.into();
        let now_ms = now.wall_ms;
        // Deduplicate: one alarm per key, active if any report says so, the worst severity.
        let mut seen: BTreeMap<&str, &Condition> = BTreeMap::new();
        for c in conditions {
            let keep = match seen.get(c.key.as_str()) {
                None => true,
                Some(prev) => (c.active, c.severity) > (prev.active, prev.severity),
            };
            if keep {
                seen.insert(&c.key, c);
            }
        }
        for (key, c) in &seen {
            match self.entries.get_mut(*key) {
                Some(e) => {
                    if c.active {
                        e.severity = c.severity;
                        e.message = c.message.clone();
                        e.message_zh = Some(c.message_zh.clone());
                        e.source = c.source.clone();
                        e.source_zh = Some(c.source_zh.clone());
                    }
                    if e.raw != c.active {
                        e.raw = c.active;
                        e.raw_since_ms = now_ms;
                        e.raw_since_mono = now.mono_ms;
                    }
                }
                None if c.active => {
                    self.entries.insert(
                        key.to_string(),
                        Entry {
                            life: Lifecycle::default(),
                            severity: c.severity,
                            message: c.message.clone(),
                            message_zh: Some(c.message_zh.clone()),
                            source: c.source.clone(),
                            source_zh: Some(c.source_zh.clone()),
                            tier: 0,
                            since_ms: now_ms,
                            active_since_ms: None,
                            notice_ms: now_ms,
                            raw: true,
                            raw_since_ms: now_ms,
                            raw_since_mono: now.mono_ms,
                            notice_mono: now.mono_ms,
                            shelved_until_mono: None,
                        },
                    );
                }
                None => {}
            }
        }
        let mut out = Vec::new();
        let keys: Vec<String> = self.entries.keys().cloned().collect();
        for key in keys {
            let (on, off) = self.delays(&key);
            let e = self.entries.get_mut(&key).unwrap();
            if !seen.contains_key(key.as_str()) && e.raw {
                e.raw = false;
                e.raw_since_ms = now_ms;
                e.raw_since_mono = now.mono_ms;
            }
            // Debounced condition change.
            let delay = if e.raw { on } else { off };
            if e.raw != e.life.condition
                && now.mono_ms - e.raw_since_mono >= delay.as_millis() as i64
            {
                let before = e.life.state();
                e.life.set_condition(e.raw);
                if e.raw {
                    e.active_since_ms = Some(e.raw_since_ms);
                }
                let cause = if e.raw {
                    Text::new(
                        format!("condition active: {}", e.message),
                        format!(
                            "报警条件成立：{}",
                            e.message_zh.as_deref().unwrap_or(&e.message)
                        ),
                    )
                } else {
                    Text::new("condition cleared", "报警条件已消除")
                };
                record(&mut out, &key, e, before, now, cause, "system");
            }
            // Shelving runs out by itself, when its time has passed on the monotonic clock.
            if let Suppression::Shelved { until_ms } = e.life.suppression {
                let until = e
                    .shelved_until_mono
                    .unwrap_or_else(|| now.mono_ms + (until_ms - now_ms));
                if now.mono_ms >= until {
                    let before = e.life.state();
                    let _ = e.life.apply(Action::Unshelve);
                    record(
                        &mut out,
                        &key,
                        e,
                        before,
                        now,
                        Text::new("shelve expired", "搁置时间已到"),
                        "system",
                    );
                }
            }
            // Escalation: still unacknowledged and active after the configured time.
            if let Some(after) = self.settings.escalate_after {
                let after = after.as_millis() as i64;
                if e.life.state() == AlarmState::ActiveUnacked
                    && e.tier < self.max_tier
                    && now.mono_ms - e.notice_mono >= after
                {
                    e.tier += 1;
                    e.notice_ms = now_ms;
                    e.notice_mono = now.mono_ms;
                    let state = e.life.state();
                    let (s, tier) = (after / 1000, e.tier);
                    out.push(Transition {
                        ts_ms: now_ms,
                        key: key.clone(),
                        state,
                        previous: state,
                        severity: e.severity,
                        message: e.message.clone(),
                        message_zh: e.message_zh.clone(),
                        source: e.source.clone(),
                        source_zh: e.source_zh.clone(),
                        cause: format!("not acknowledged within {s} s: escalated to tier {tier}"),
                        cause_zh: Some(format!("{s} s 内无人确认：已升级到第 {tier} 级")),
                        by: "system".into(),
                        tier: e.tier,
                    });
                }
            }
        }
        // Normal, unsuppressed and quiet: nothing left to remember (the audit trail has it).
        self.entries.retain(|_, e| {
            !(e.life.state() == AlarmState::Normal && !e.raw && e.life.condition == e.raw)
        });
        out
    }

    /// An operator's action on one alarm.
    pub fn act(
        &mut self,
        key: &str,
        action: Action,
        by: &str,
        now: impl Into<Now>,
    ) -> Result<Transition, ActError> {
        let now = now.into();
        let e = self
            .entries
            .get_mut(key)
            .ok_or_else(|| ActError::Unknown(key.to_string()))?;
        let before = e.life.state();
        e.life.apply(action)?;
        let mut out = Vec::new();
        let cause = match action {
            Action::Shelve { until_ms } => {
                // Asked for as a length of time: it runs on the monotonic clock.
                e.shelved_until_mono = Some(now.mono_ms + (until_ms - now.wall_ms));
                let min = (until_ms - now.wall_ms + 59_999) / 60_000;
                Text::new(
                    format!("shelved for {min} min"),
                    format!("已搁置 {min} min"),
                )
            }
            a => Text::new(a.verb(), a.verb_zh()),
        };
        // An action is recorded even when the visible state stays (e.g. shelving again).
        record_always(&mut out, key, e, before, now, cause, by);
        Ok(out.pop().unwrap())
    }

    /// Acknowledges every alarm that needs it (the push-button beside the stack light).
    pub fn acknowledge_all(&mut self, by: &str, now: impl Into<Now>) -> Vec<Transition> {
        let now = now.into();
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.life.state().unacked())
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter()
            .filter_map(|k| self.act(k, Action::Acknowledge, by, now).ok())
            .collect()
    }
}

fn record(
    out: &mut Vec<Transition>,
    key: &str,
    e: &mut Entry,
    before: AlarmState,
    now: Now,
    cause: Text,
    by: &str,
) {
    if e.life.state() != before {
        record_always(out, key, e, before, now, cause, by);
    }
}

fn record_always(
    out: &mut Vec<Transition>,
    key: &str,
    e: &mut Entry,
    before: AlarmState,
    now: Now,
    cause: Text,
    by: &str,
) {
    let now_ms = now.wall_ms;
    let state = e.life.state();
    if state != before {
        e.since_ms = now_ms;
    }
    if state == AlarmState::ActiveUnacked && before != state {
        e.notice_ms = now_ms;
        e.notice_mono = now.mono_ms;
    }
    if state != AlarmState::Shelved {
        e.shelved_until_mono = None;
    }
    if state == AlarmState::Normal {
        e.tier = 0;
        e.active_since_ms = None;
    }
    out.push(Transition {
        ts_ms: now_ms,
        key: key.to_string(),
        state,
        previous: before,
        severity: e.severity,
        message: e.message.clone(),
        message_zh: e.message_zh.clone(),
        source: e.source.clone(),
        source_zh: e.source_zh.clone(),
        cause: cause.en,
        cause_zh: Some(cause.zh),
        by: by.to_string(),
        tier: e.tier,
    });
}

#[cfg(test)]
mod tests {
    use super::AlarmState::*;
    use super::*;
    use crate::config::DelayOverride;

    fn settings(on_ms: u64, off_ms: u64, escalate_s: Option<u64>) -> AlarmSettings {
        AlarmSettings {
            on_delay: Duration::from_millis(on_ms),
            off_delay: Duration::from_millis(off_ms),
            escalate_after: escalate_s.map(Duration::from_secs),
            ..AlarmSettings::default()
        }
    }

    fn cond(key: &str, active: bool) -> Condition {
        Condition {
            key: key.into(),
            active,
            severity: Severity::Warning,
            message: format!("{key} is {active}"),
            message_zh: format!("{key} 为 {active}"),
            source: "test".into(),
            source_zh: "测试".into(),
        }
    }

    /// The wall clock steps (NTP after a Pi booted at its last saved time, or a person setting
    /// it) while the monotonic clock runs on: delays, shelving and escalation keep their
    /// lengths; only the timestamps follow the wall clock.
    #[test]
    fn a_wall_clock_step_changes_no_delay_shelving_or_escalation() {
        const YEAR: i64 = 365 * 86_400_000;
        const HOUR: i64 = 3_600_000;
        let wall0 = 1_800_000_000_000;
        // Mono `m` ms into the run; the wall clock is `step` ms off from where it was.
        let at = |m: i64, step: i64| Now {
            wall_ms: wall0 + m + step,
            mono_ms: m,
        };
        let mut e = Engine::new(settings(10_000, 0, Some(600)), 2);
        e.tick(at(0, 0), &[cond("a", true)]);
        // A year forward in the middle of the 10 s on-delay: nothing is raised early.
        assert!(e.tick(at(5_000, YEAR), &[cond("a", true)]).is_empty());
        assert!(e.tick(at(9_999, YEAR), &[cond("a", true)]).is_empty());
        let t = e.tick(at(10_000, YEAR), &[cond("a", true)]);
        assert_eq!(states(&t), vec![("a".into(), AlarmState::ActiveUnacked)]);
        assert_eq!(
            t[0].ts_ms,
            wall0 + 10_000 + YEAR,
            "stamped with the wall clock"
        );
        // An hour back: escalation still comes 600 s after the notice, not an hour later.
        assert!(e
            .tick(at(609_999, YEAR - HOUR), &[cond("a", true)])
            .is_empty());
        let t = e.tick(at(610_000, YEAR - HOUR), &[cond("a", true)]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].tier, 1, "{t:?}");
        // Shelved for 30 min; the wall clock goes a year forward, then an hour back: the
        // shelving ends after 30 min of running, neither at once nor an hour late.
        let now = at(700_000, YEAR - HOUR);
        let until_ms = now.wall_ms + 30 * 60_000;
        e.act("a", Action::Shelve { until_ms }, "anna", now)
            .unwrap();
        assert!(e.tick(at(800_000, 2 * YEAR), &[cond("a", true)]).is_empty());
        let end = 700_000 + 30 * 60_000;
        assert!(e
            .tick(at(end - 1, YEAR - 2 * HOUR), &[cond("a", true)])
            .is_empty());
        let t = e.tick(at(end, YEAR - 2 * HOUR), &[cond("a", true)]);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(t[0].cause, "shelve expired");
    }

    fn states(t: &[Transition]) -> Vec<(String, AlarmState)> {
        t.iter().map(|t| (t.key.clone(), t.state)).collect()
    }

    #[test]
    fn one_alarm_per_condition_not_one_per_sample() {
        let mut e = Engine::new(settings(0, 0, None), 0);
        let mut all = Vec::new();
        for i in 0..100 {
            // The same condition every tick, and twice in one tick from two producers.
            all.extend(e.tick(
                i * 250,
                &[cond("a", true), cond("a", true), cond("b", false)],
            ));
        }
        assert_eq!(states(&all), vec![("a".into(), ActiveUnacked)]);
        assert_eq!(e.views().len(), 1);
    }

    #[test]
    fn on_delay_ignores_a_flicker_and_off_delay_holds_through_a_dropout() {
        let mut e = Engine::new(settings(1000, 3000, None), 0);
        let mut t = Vec::new();
        // Flickering shorter than the on-delay: never raised.
        for i in 0..20 {
            t.extend(e.tick(i * 250, &[cond("f", i % 3 == 0)]));
        }
        assert!(t.is_empty(), "{t:?}");
        // Steady for the on-delay: raised after 1 s, not before.
        assert!(e.tick(10_000, &[cond("f", true)]).is_empty());
        assert!(e.tick(10_750, &[cond("f", true)]).is_empty());
        assert_eq!(
            states(&e.tick(11_000, &[cond("f", true)])),
            vec![("f".into(), ActiveUnacked)]
        );
        // Dropouts shorter than the off-delay: still active.
        for i in 0..20 {
            assert!(e
                .tick(11_250 + i * 250, &[cond("f", i % 4 != 0)])
                .is_empty());
        }
        // Absent (its producer stopped reporting it) for the off-delay: cleared, unacked.
        assert!(e.tick(20_000, &[]).is_empty());
        let c = e.tick(23_000, &[]);
        assert_eq!(states(&c), vec![("f".into(), ClearedUnacked)]);
        assert_eq!(c[0].cause, "condition cleared");
    }

    #[test]
    fn per_key_delays_by_longest_prefix() {
        let mut s = settings(0, 0, None);
        s.delays = vec![
            DelayOverride {
                prefix: "device:".into(),
                on_delay: Duration::from_secs(5),
                off_delay: Duration::ZERO,
            },
            DelayOverride {
                prefix: "device:cnc:".into(),
                on_delay: Duration::from_secs(60),
                off_delay: Duration::ZERO,
            },
        ];
        let mut e = Engine::new(s, 0);
        let cs = [
            cond("device:mql:stale", true),
            cond("device:cnc:stale", true),
            cond("tool:x", true),
        ];
        assert_eq!(
            states(&e.tick(0, &cs)),
            vec![("tool:x".into(), ActiveUnacked)]
        );
        assert_eq!(
            states(&e.tick(5_000, &cs)),
            vec![("device:mql:stale".into(), ActiveUnacked)]
        );
        assert_eq!(
            states(&e.tick(60_000, &cs)),
            vec![("device:cnc:stale".into(), ActiveUnacked)]
        );
    }

    #[test]
    fn acknowledge_shelve_and_expiry() {
        let mut e = Engine::new(settings(0, 0, None), 0);
        e.tick(0, &[cond("a", true)]);
        let t = e.act("a", Action::Acknowledge, "anna", 10).unwrap();
        assert_eq!(
            (t.previous, t.state, t.by.as_str()),
            (ActiveUnacked, ActiveAcked, "anna")
        );
        assert!(matches!(
            e.act("a", Action::Acknowledge, "anna", 11),
            Err(ActError::Refused(_))
        ));
        assert!(matches!(
            e.act("zzz", Action::Acknowledge, "anna", 11),
            Err(ActError::Unknown(_))
        ));
        let t = e
            .act("a", Action::Shelve { until_ms: 60_010 }, "anna", 10)
            .unwrap();
        assert_eq!((t.state, t.cause.as_str()), (Shelved, "shelved for 1 min"));
        assert!(e.tick(60_000, &[cond("a", true)]).is_empty());
        let t = e.tick(60_010, &[cond("a", true)]);
        assert_eq!(states(&t), vec![("a".into(), ActiveUnacked)]);
        assert_eq!(t[0].cause, "shelve expired");
    }

    /// Every cause the trail records (the condition, each action, a shelve running out, an
    /// escalation) reads in Chinese with the same numbers.
    #[test]
    fn every_cause_reads_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        let mut e = Engine::new(settings(0, 0, Some(300)), 2);
        let mut all = e.tick(0, &[cond("a", true)]);
        all.extend(e.tick(300_000, &[cond("a", true)]));
        all.push(e.act("a", Action::Acknowledge, "anna", 300_010).unwrap());
        all.push(
            e.act("a", Action::Shelve { until_ms: 420_010 }, "anna", 300_010)
                .unwrap(),
        );
        all.extend(e.tick(420_010, &[cond("a", true)]));
        all.push(e.act("a", Action::Acknowledge, "anna", 420_020).unwrap());
        all.push(
            e.act("a", Action::RemoveFromService, "anna", 420_030)
                .unwrap(),
        );
        all.push(
            e.act("a", Action::ReturnToService, "anna", 420_040)
                .unwrap(),
        );
        all.extend(e.tick(420_050, &[cond("a", false)]));
        all.push(
            e.act("a", Action::Shelve { until_ms: 500_000 }, "anna", 420_060)
                .unwrap(),
        );
        all.push(e.act("a", Action::Unshelve, "anna", 420_070).unwrap());
        let causes: Vec<&str> = all.iter().map(|t| t.cause.as_str()).collect();
        for want in [
            "condition active: a is true",
            "not acknowledged within 300 s: escalated to tier 1",
            "acknowledged",
            "shelved for 2 min",
            "shelve expired",
            "removed from service",
            "returned to service",
            "condition cleared",
            "unshelved",
        ] {
            assert!(causes.contains(&want), "{want} in {causes:?}");
        }
        for t in &all {
            let zh = t
                .cause_zh
                .clone()
                .expect("every new transition says it in Chinese");
            chinese(&Text::new(t.cause.clone(), zh), &["a", "true", "s", "min"]);
            assert_eq!(t.message_zh.as_deref(), Some("a 为 true"));
        }
    }

    #[test]
    fn escalation_with_an_accelerated_clock() {
        let mut e = Engine::new(settings(0, 0, Some(300)), 2);
        assert_eq!(e.tick(0, &[cond("a", true)])[0].tier, 0);
        let mut escalations = Vec::new();
        // One hour in 250 ms ticks, in no time at all.
        for i in 1..=14_400 {
            for t in e.tick(i * 250, &[cond("a", true)]) {
                escalations.push((t.ts_ms, t.tier, t.cause));
            }
        }
        assert_eq!(
            escalations,
            vec![
                (
                    300_000,
                    1,
                    "not acknowledged within 300 s: escalated to tier 1".into()
                ),
                (
                    600_000,
                    2,
                    "not acknowledged within 300 s: escalated to tier 2".into()
                ),
            ],
            "one escalation per period, up to the last tier"
        );
        // Acknowledged in time: no escalation.
        let mut e = Engine::new(settings(0, 0, Some(300)), 2);
        e.tick(0, &[cond("b", true)]);
        e.act("b", Action::Acknowledge, "anna", 299_000).unwrap();
        assert!(e.tick(900_000, &[cond("b", true)]).is_empty());
        // Cleared and acknowledged: back to normal, tier reset, forgotten.
        e.tick(900_250, &[]);
        assert!(e.views().is_empty());
        assert!(e.entry("b").is_none());
    }

    #[test]
    fn acknowledge_all_for_the_button() {
        let mut e = Engine::new(settings(0, 0, None), 0);
        e.tick(0, &[cond("a", true), cond("b", true), cond("c", true)]);
        e.tick(1, &[cond("a", true), cond("b", true)]); // c cleared unacked
        e.act("a", Action::Acknowledge, "x", 2).unwrap();
        let t = e.acknowledge_all("button", 3);
        assert_eq!(
            states(&t),
            vec![("b".into(), ActiveAcked), ("c".into(), Normal)]
        );
        assert!(t.iter().all(|t| t.by == "button"));
    }

    #[test]
    fn out_of_service_is_kept_while_quiet_and_returns() {
        let mut e = Engine::new(settings(0, 0, None), 0);
        e.tick(0, &[cond("a", true)]);
        e.act("a", Action::RemoveFromService, "m", 1).unwrap();
        e.tick(2, &[]);
        assert_eq!(e.views()[0].state, OutOfService);
        let t = e.act("a", Action::ReturnToService, "m", 3).unwrap();
        assert_eq!(t.state, Normal);
        e.tick(4, &[]);
        assert!(e.views().is_empty());
    }
}
