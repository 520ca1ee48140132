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
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::clock::Now;
use crate::condition::Condition;
use crate::config::Config;
use crate::records::alarm::Transition;
use crate::store::{CurrentAlarm, HistoryFilter, HistoryRow, Record, Store};
use crate::supervise::{self, lock, Pulse};
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
    /// The tick's heartbeat, for `/healthz` and `/metrics`.
    pulse: Arc<Pulse>,
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
        let (restored, count) = store
            .restore("alarms", |r| {
                Ok((r.current_alarms()?, r.alarm_event_count()?))
            })?
            .unwrap_or_default();
        if !restored.is_empty() {
            tracing::info!("alarms: {} restored from the audit trail", restored.len());
        }
        let now = Now::read();
        for (k, c) in restored {
            engine.restore(k, entry(c, now));
        }
        let (current, _) = watch::channel(Arc::new(engine.views()));
        Ok(Arc::new(Alarms {
            engine: Mutex::new(engine),
            store,
            conditions,
            publish,
            current,
            transitions: AtomicU64::new(count),
            pulse: Pulse::new(
                "alarms",
                config.alarms.tick,
                supervise::stuck_after(config.alarms.tick, Duration::from_secs(5)),
            ),
        }))
    }

    /// One evaluation: the evaluators' latest conditions through the engine.
    pub fn tick(&self, now: impl Into<Now>) {
        crate::fault::point("alarms");
        let conditions = self.conditions.borrow().clone();
        let mut engine = lock(&self.engine);
        let t = engine.tick(now, &conditions);
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
        self.act_at(key, action, by, Now::read())
    }

    fn act_at(
        &self,
        key: &str,
        action: Action,
        by: &str,
        now: impl Into<Now>,
    ) -> Result<AlarmView, ActError> {
        let mut engine = lock(&self.engine);
        let t = engine.act(key, action, by, now)?;
        let view = engine
            .entry(key)
            .map_or_else(|| unknown_view(&t), |e| e.view(key));
        self.commit(&engine, vec![t]);
        Ok(view)
    }

    /// The push-button: acknowledges everything that waits for it.
    pub fn acknowledge_all(&self, by: &str) -> usize {
        let mut engine = lock(&self.engine);
        let t = engine.acknowledge_all(by, Now::read());
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

    /// The tick's heartbeat.
    pub fn pulse(&self) -> &Arc<Pulse> {
        &self.pulse
    }

    /// Ticks until the task is aborted. A tick that panics is logged and counted, and the
    /// next one runs as usual: the engine's lock is recovered (`supervise::lock`), and its
    /// entries are plain state a half-done tick leaves usable.
    pub fn spawn(self: &Arc<Self>, tick: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match supervise::catch(|| me.tick(Now::read())) {
                    Ok(()) => me.pulse.beat(),
                    Err(message) => me.pulse.panicked(&message),
                }
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
        message_zh: e.message_zh.clone(),
        source: e.source.clone(),
        source_zh: e.source_zh.clone(),
        tier: e.tier,
        since_ms: e.since_ms,
        active_since_ms: e.active_since_ms,
        notice_ms: e.notice_ms,
    })
}

/// An engine entry restored from the store.
fn entry(c: CurrentAlarm, now: Now) -> Entry {
    Entry::restored(
        Lifecycle {
            condition: c.condition,
            acked: c.acked,
            suppression: c.suppression,
        },
        c.severity,
        c.message,
        c.message_zh,
        c.source,
        c.source_zh,
        c.tier,
        c.since_ms,
        c.active_since_ms,
        c.notice_ms,
        now,
    )
}

/// The view of an alarm that returned to normal with this action (no longer in the engine).
fn unknown_view(t: &Transition) -> AlarmView {
    AlarmView {
        key: t.key.clone(),
        state: t.state,
        severity: t.severity,
        message: t.message.clone(),
        message_zh: t.message_zh.clone(),
        source: t.source.clone(),
        source_zh: t.source_zh.clone(),
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
    use crate::value::now_ms;

    fn cond(key: &str, active: bool, severity: Severity) -> Condition {
        Condition {
            key: key.into(),
            active,
            severity,
            message: format!("{key} msg"),
            message_zh: format!("{key} 消息"),
            source: "test".into(),
            source_zh: "测试".into(),
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
        // Recent times: the store's retention (run at start) keeps a year of transitions.
        let t0 = now_ms() - 60_000;
        {
            let (a, conditions) = service(&store, config.clone());
            conditions.send_replace(Arc::new(vec![
                cond("a", true, Severity::Critical),
                cond("b", true, Severity::Warning),
            ]));
            a.tick(t0 + 1000);
            a.act_at("a", Action::Acknowledge, "anna", t0 + 2000)
                .unwrap();
            let until_ms = t0 + 99_000;
            a.act_at("b", Action::Shelve { until_ms }, "bob", t0 + 3000)
                .unwrap();
            // b clears while shelved: still shelved, no transition.
            conditions.send_replace(Arc::new(vec![cond("a", true, Severity::Critical)]));
            let before = a.transitions();
            a.tick(t0 + 4000);
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
        assert_eq!(v[1].shelved_until_ms, Some(t0 + 99_000));
        // Both texts are kept, for the restored alarms and in the trail.
        assert_eq!(
            (v[1].message.as_str(), v[1].message_zh.as_deref()),
            ("b msg", Some("b 消息"))
        );
        assert_eq!(v[1].source_zh.as_deref(), Some("测试"));

        let all = HistoryFilter {
            from_ms: 0,
            to_ms: i64::MAX,
            limit: 100,
            ..Default::default()
        };
        let h = a.history(&all).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].transition.by, "bob", "newest first");
        assert!(h
            .iter()
            .all(|r| r.transition.message_zh == Some(format!("{} 消息", r.transition.key))));
        assert!(h
            .iter()
            .all(|r| r.transition.source_zh.as_deref() == Some("测试")));
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
                from_ms: t0 + 1500,
                to_ms: t0 + 2500,
                ..all
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(a.transitions(), 4);
    }

    #[test]
    fn a_tick_that_panicked_holding_the_engine_does_not_stop_the_next() {
        let (store, _, config) = crate::store::test_store("alarm-poison");
        let (a, conditions) = service(&store, config);
        let t0 = now_ms();
        conditions.send_replace(Arc::new(vec![cond("a", true, Severity::Warning)]));
        // A step panics while it holds the engine: its lock is poisoned.
        let b = a.clone();
        assert!(supervise::catch(move || {
            let _engine = lock(&b.engine);
            panic!("a bug in the engine");
        })
        .is_err());
        assert!(a.engine.is_poisoned());
        // The next tick, an operator's action and the views all go on.
        a.tick(t0);
        assert_eq!(a.views().len(), 1);
        a.act_at("a", Action::Acknowledge, "anna", t0 + 1).unwrap();
        assert_eq!(a.views()[0].state, AlarmState::ActiveAcked);
    }
}
