//! Alarms: conditions from the evaluators become alarms with an ISA-18.2 lifecycle
//! (`lifecycle`), deduplicated, delayed against flicker, shelved, escalated (`engine`), every
//! transition kept in the store's audit trail and handed to whoever the composition root wired
//! in (the channels of `notify` and `fleet`).
//!
//! `Alarms` is the running service: one tick every `[alarms] tick_ms` takes the conditions of
//! the evaluators' latest tick, runs the engine, queues what changed for the store and hands
//! it to the channels. Operators act through `act` (the HTTP API) and `acknowledge_all` (the
//! push-button). Nothing in a tick waits: the store's writer and the channels have queues of
//! their own, so a slow SD card or a dead webhook never delays an alarm.

pub mod engine;
pub mod lifecycle;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use tokio::sync::watch;

use crate::condition::Condition;
use crate::config::Config;
use crate::records::alarm::Transition;
use crate::store::{CurrentAlarm, HistoryFilter, HistoryRow, Record, Store};
use crate::value::now_ms;
use engine::{ActError, AlarmView, Engine, Entry};
use lifecycle::{Action, Lifecycle};

/// Where every transition goes once stored: the channels (`notify`, and MQTT through `fleet`),
/// wired by the composition root. It must not block (the channels `try_send`).
pub type Publisher = Box<dyn Fn(&Transition) + Send + Sync>;

pub struct Alarms {
    engine: Mutex<Engine>,
    store: Arc<Store>,
    /// The evaluators' conditions at their latest tick.
    conditions: watch::Receiver<Arc<Vec<Condition>>>,
    publish: Publisher,
    current: watch::Sender<Arc<Vec<AlarmView>>>,
    transitions: AtomicU64,
}

impl Alarms {
    /// Restores the alarms that were not normal from the audit trail in the store and builds
    /// the service. Start ticking with `spawn`.
    pub fn open(
        config: &Config,
        store: Arc<Store>,
        conditions: watch::Receiver<Arc<Vec<Condition>>>,
        publish: Publisher,
    ) -> Result<Arc<Alarms>> {
        let mut engine = Engine::new(config.alarms.clone(), config.alarms.max_tier);
        let (restored, count) =
            store.read(|r| Ok((r.current_alarms()?, r.alarm_event_count()?)))?;
        if !restored.is_empty() {
            tracing::info!("alarms: {} restored from the audit trail", restored.len());
        }
        for (k, c) in restored {
            engine.restore(k, entry(c));
        }
        let (current, _) = watch::channel(Arc::new(engine.views()));
        Ok(Arc::new(Alarms {
            engine: Mutex::new(engine),
            store,
            conditions,
            publish,
            current,
            transitions: AtomicU64::new(count),
        }))
    }

    /// One evaluation: the evaluators' latest conditions through the engine.
    pub fn tick(&self, now_ms: i64) {
        let conditions = self.conditions.borrow().clone();
        let mut engine = self.engine.lock().unwrap();
        let t = engine.tick(now_ms, &conditions);
        self.commit(&engine, t);
    }

    /// Stores, publishes and shows transitions. Called with the engine locked, so the audit
    /// trail gets them in the order they happened.
    fn commit(&self, engine: &Engine, t: Vec<Transition>) {
        if t.is_empty() {
            return;
        }
        self.transitions
            .fetch_add(t.len() as u64, Ordering::Relaxed);
        for x in &t {
            tracing::info!(
                "alarm {} {} -> {} ({}, by {})",
                x.key,
                x.previous.as_str(),
                x.state.as_str(),
                x.cause,
                x.by
            );
            (self.publish)(x);
        }
        // The trail and the alarms it touched, as they are now, in one record: stored together.
        let current = t
            .iter()
            .map(|x| (x.key.clone(), engine.entry(&x.key).and_then(current)))
            .collect();
        self.store.record(Record::Alarms {
            transitions: t,
            current,
        });
        self.current.send_replace(Arc::new(engine.views()));
    }

    /// An operator's action; `by` names who did it in the audit trail.
    pub fn act(&self, key: &str, action: Action, by: &str) -> Result<AlarmView, ActError> {
        self.act_at(key, action, by, now_ms())
    }

    fn act_at(
        &self,
        key: &str,
        action: Action,
        by: &str,
        now_ms: i64,
    ) -> Result<AlarmView, ActError> {
        let mut engine = self.engine.lock().unwrap();
        let t = engine.act(key, action, by, now_ms)?;
        let view = engine
            .entry(key)
            .map_or_else(|| unknown_view(&t), |e| e.view(key));
        self.commit(&engine, vec![t]);
        Ok(view)
    }

    /// The push-button: acknowledges everything that waits for it.
    pub fn acknowledge_all(&self, by: &str) -> usize {
        let mut engine = self.engine.lock().unwrap();
        let t = engine.acknowledge_all(by, now_ms());
        let n = t.len();
        self.commit(&engine, t);
        n
    }

    /// Every alarm that is not normal.
    pub fn views(&self) -> Arc<Vec<AlarmView>> {
        self.current.borrow().clone()
    }

    /// Follows the set of alarms that are not normal (GPIO, MQTT state).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<AlarmView>>> {
        self.current.subscribe()
    }

    /// Stored transitions, newest first. Blocking (reads the store on a handle of its own,
    /// never holding up the tick).
    pub fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>> {
        self.store.read(|r| r.alarm_history(f))
    }

    /// Transitions since the audit trail began.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    /// Ticks until the task is aborted.
    pub fn spawn(self: &Arc<Self>, tick: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                me.tick(now_ms());
            }
        })
    }
}

/// What the store keeps of an alarm that is not normal (`None`: back to normal).
fn current(e: &Entry) -> Option<CurrentAlarm> {
    (e.life.state() != crate::records::alarm::AlarmState::Normal).then(|| CurrentAlarm {
        condition: e.life.condition,
        acked: e.life.acked,
        suppression: e.life.suppression,
        severity: e.severity,
        message: e.message.clone(),
        source: e.source.clone(),
        tier: e.tier,
        since_ms: e.since_ms,
        active_since_ms: e.active_since_ms,
        notice_ms: e.notice_ms,
    })
}

/// An engine entry restored from the store.
fn entry(c: CurrentAlarm) -> Entry {
    Entry::restored(
        Lifecycle {
            condition: c.condition,
            acked: c.acked,
            suppression: c.suppression,
        },
        c.severity,
        c.message,
        c.source,
        c.tier,
        c.since_ms,
        c.active_since_ms,
        c.notice_ms,
    )
}

/// The view of an alarm that returned to normal with this action (no longer in the engine).
fn unknown_view(t: &Transition) -> AlarmView {
    AlarmView {
        key: t.key.clone(),
        state: t.state,
        severity: t.severity,
        message: t.message.clone(),
        source: t.source.clone(),
        condition: false,
        acked: true,
        since_ms: t.ts_ms,
        active_since_ms: None,
        shelved_until_ms: None,
        tier: t.tier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::Severity;
    use crate::records::alarm::AlarmState;
    use std::time::Duration;

    fn cond(key: &str, active: bool, severity: Severity) -> Condition {
        Condition {
            key: key.into(),
            active,
            severity,
            message: format!("{key} msg"),
            source: "test".into(),
        }
    }

    /// An alarm service on `store`, fed by hand through the returned sender.
    fn service(
        store: &Arc<Store>,
        mut config: crate::config::Config,
    ) -> (Arc<Alarms>, watch::Sender<Arc<Vec<Condition>>>) {
        config.alarms.on_delay = Duration::ZERO;
        config.alarms.off_delay = Duration::ZERO;
        let (tx, rx) = watch::channel(Arc::new(Vec::new()));
        let a = Alarms::open(&config, store.clone(), rx, Box::new(|_| {})).unwrap();
        (a, tx)
    }

    #[test]
    fn the_trail_and_the_current_state_survive_a_restart() {
        let (store, _, config) = crate::store::test_store("audit");
        {
            let (a, conditions) = service(&store, config.clone());
            conditions.send_replace(Arc::new(vec![
                cond("a", true, Severity::Critical),
                cond("b", true, Severity::Warning),
            ]));
            a.tick(1000);
            a.act_at("a", Action::Acknowledge, "anna", 2000).unwrap();
            a.act_at("b", Action::Shelve { until_ms: 99_000 }, "bob", 3000)
                .unwrap();
            // b clears while shelved: still shelved, no transition.
            conditions.send_replace(Arc::new(vec![cond("a", true, Severity::Critical)]));
            let before = a.transitions();
            a.tick(4000);
            assert_eq!(a.transitions(), before);
            store.sync();
        }
        // A new service on the same file: a fresh engine.
        let (a, _) = service(&store, config);
        let v = a.views();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].key.as_str(), v[0].state),
            ("a", AlarmState::ActiveAcked)
        );
        assert_eq!((v[1].key.as_str(), v[1].state), ("b", AlarmState::Shelved));
        assert_eq!(v[1].shelved_until_ms, Some(99_000));

        let all = HistoryFilter {
            from_ms: 0,
            to_ms: i64::MAX,
            limit: 100,
            ..Default::default()
        };
        let h = a.history(&all).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].transition.by, "bob", "newest first");
        assert_eq!(h[1].transition.cause, "acknowledged");
        let crit = a
            .history(&HistoryFilter {
                severity: Some(Severity::Critical),
                ..all.clone()
            })
            .unwrap();
        assert_eq!(crit.len(), 2);
        let acked = a
            .history(&HistoryFilter {
                state: Some(AlarmState::ActiveAcked),
                ..all.clone()
            })
            .unwrap();
        assert_eq!(acked.len(), 1);
        let window = a
            .history(&HistoryFilter {
                from_ms: 1500,
                to_ms: 2500,
                ..all
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(a.transitions(), 4);
    }
}
