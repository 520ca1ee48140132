//! Alarms: conditions from the evaluators become alarms with an ISA-18.2 lifecycle
//! (`lifecycle`), deduplicated, delayed against flicker, shelved, escalated (`engine`), every
//! transition stored (`audit`) and handed to whoever the composition root wired in (the
//! channels of `notify` and `fleet`).
//!
//! `Alarms` is the running service: one tick every `[alarms] tick_ms` collects the conditions
//! of every producer, runs the engine, stores and publishes what changed. Operators act through
//! `act` (the HTTP API) and `acknowledge_all` (the push-button). The tick runs on a blocking
//! thread (it writes SQLite) and only reads the state, so it never delays acquisition.

pub mod audit;
pub mod engine;
pub mod lifecycle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use anyhow::Result;
use tokio::sync::watch;

use crate::condition::Condition;
use crate::config::{Component, Config};
use crate::evaluators::{health, tool_life};
use crate::records::alarm::Transition;
use crate::state::State;
use crate::value::now_ms;
use audit::{Audit, HistoryFilter, HistoryRow};
use engine::{ActError, AlarmView, Engine};
use lifecycle::Action;

/// Where every transition goes once stored: the channels (`notify`, and MQTT through `fleet`),
/// wired by the composition root. It must not block (the channels `try_send`).
pub type Publisher = Box<dyn Fn(&Transition) + Send + Sync>;

/// Something that reports conditions every tick. Adding an evaluator is one line in
/// `producers`.
pub type Producer = Box<dyn Fn() -> Vec<Condition> + Send + Sync>;

/// The evaluators built into the agent: device health, tool life, component life.
pub fn producers(
    config: &Config,
    state: &Arc<State>,
    alarms_baselines: &Baselines,
) -> Vec<Producer> {
    let started = Instant::now();
    let severity = config.alarms.device_severity;
    let components = config.alarms.components.clone();
    let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
    let baselines = alarms_baselines.clone();
    vec![
        Box::new(move || health::conditions(&s1, started, severity)),
        Box::new(move || tool_life::tool_conditions(&s2)),
        Box::new(move || {
            tool_life::component_conditions(&s3, &components, &baselines.read().unwrap())
        }),
    ]
}

/// Component counter baselines (component name → counter value at its last reset).
pub type Baselines = Arc<RwLock<HashMap<String, f64>>>;

/// A component's life as the maintenance page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentView {
    pub name: String,
    pub signal: String,
    pub unit: String,
    pub quality: crate::value::Quality,
    /// Counter less the baseline of the last reset; `null` while the counter is not good.
    pub used: Option<f64>,
    pub warning: f64,
    pub limit: f64,
    pub remaining: Option<f64>,
    pub last_reset_ms: Option<i64>,
    pub last_reset_by: Option<String>,
}

pub struct Alarms {
    engine: Mutex<Engine>,
    audit: Mutex<Audit>,
    producers: Mutex<Vec<Producer>>,
    publish: Publisher,
    current: watch::Sender<Arc<Vec<AlarmView>>>,
    state: Arc<State>,
    components: Vec<Component>,
    baselines: Baselines,
    resets: Mutex<HashMap<String, (i64, String)>>,
    transitions: AtomicU64,
    audit_errors: AtomicU64,
}

impl Alarms {
    /// Opens the audit trail in the store file, restores the alarms that were not normal, and
    /// builds the service. Start ticking with `spawn`.
    pub fn open(config: &Config, state: Arc<State>, publish: Publisher) -> Result<Arc<Alarms>> {
        let audit = Audit::open(&config.store.path)?;
        let mut engine = Engine::new(config.alarms.clone(), config.alarms.max_tier);
        let restored = audit.load()?;
        if !restored.is_empty() {
            tracing::info!("alarms: {} restored from the audit trail", restored.len());
        }
        for (k, e) in restored {
            engine.restore(k, e);
        }
        let mut baselines = HashMap::new();
        let mut resets = HashMap::new();
        for (name, base, ts, by) in audit.component_baselines()? {
            baselines.insert(name.clone(), base);
            resets.insert(name, (ts, by));
        }
        let baselines: Baselines = Arc::new(RwLock::new(baselines));
        let producers = producers(config, &state, &baselines);
        let (current, _) = watch::channel(Arc::new(engine.views()));
        let transitions = AtomicU64::new(audit.count().unwrap_or(0));
        Ok(Arc::new(Alarms {
            engine: Mutex::new(engine),
            audit: Mutex::new(audit),
            producers: Mutex::new(producers),
            publish,
            current,
            state,
            components: config.alarms.components.clone(),
            baselines,
            resets: Mutex::new(resets),
            transitions,
            audit_errors: AtomicU64::new(0),
        }))
    }

    /// Adds a producer (for evaluators started after the service, e.g. green-cutting rules).
    pub fn add_producer(&self, p: Producer) {
        self.producers.lock().unwrap().push(p);
    }

    /// One evaluation: every producer's conditions through the engine.
    pub fn tick(&self, now_ms: i64) {
        let conditions: Vec<Condition> = {
            let producers = self.producers.lock().unwrap();
            producers.iter().flat_map(|p| p()).collect()
        };
        let mut engine = self.engine.lock().unwrap();
        let t = engine.tick(now_ms, &conditions);
        self.commit(&engine, &t);
    }

    /// Stores, publishes and shows transitions. Called with the engine locked, so the audit
    /// trail gets them in the order they happened.
    fn commit(&self, engine: &Engine, t: &[Transition]) {
        if t.is_empty() {
            return;
        }
        if let Err(e) = self.audit.lock().unwrap().record(t, engine) {
            // The alarm still reaches people; the failure is logged and counted.
            self.audit_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!("alarms: storing {} transitions failed: {e:#}", t.len());
        }
        self.transitions
            .fetch_add(t.len() as u64, Ordering::Relaxed);
        for x in t {
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
        self.current.send_replace(Arc::new(engine.views()));
    }

    /// An operator's action; `by` names who did it in the audit trail.
    pub fn act(&self, key: &str, action: Action, by: &str) -> Result<AlarmView, ActError> {
        let mut engine = self.engine.lock().unwrap();
        let t = engine.act(key, action, by, now_ms())?;
        self.commit(&engine, std::slice::from_ref(&t));
        Ok(engine
            .entry(key)
            .map_or_else(|| unknown_view(&t), |e| e.view(key)))
    }

    /// The push-button: acknowledges everything that waits for it.
    pub fn acknowledge_all(&self, by: &str) -> usize {
        let mut engine = self.engine.lock().unwrap();
        let t = engine.acknowledge_all(by, now_ms());
        self.commit(&engine, &t);
        t.len()
    }

    /// Every alarm that is not normal.
    pub fn views(&self) -> Arc<Vec<AlarmView>> {
        self.current.borrow().clone()
    }

    /// Follows the set of alarms that are not normal (GPIO, MQTT state).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Vec<AlarmView>>> {
        self.current.subscribe()
    }

    pub fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>> {
        self.audit.lock().unwrap().history(f)
    }

    /// Transitions stored since the audit trail began, and storage failures since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.transitions.load(Ordering::Relaxed),
            self.audit_errors.load(Ordering::Relaxed),
        )
    }

    pub fn components(&self) -> Vec<ComponentView> {
        let baselines = self.baselines.read().unwrap();
        let resets = self.resets.lock().unwrap();
        self.components
            .iter()
            .map(|c| {
                let id = self.state.id(&c.signal);
                let view = id.map(|i| self.state.view(i));
                let used = tool_life::component_used(&self.state, c, &baselines);
                ComponentView {
                    name: c.name.clone(),
                    signal: c.signal.clone(),
                    unit: view.as_ref().map_or(String::new(), |v| v.unit.clone()),
                    quality: view.map_or(crate::value::Quality::Unavailable, |v| v.quality),
                    used,
                    warning: c.warning,
                    limit: c.limit,
                    remaining: used.map(|u| c.limit - u),
                    last_reset_ms: resets.get(&c.name).map(|r| r.0),
                    last_reset_by: resets.get(&c.name).map(|r| r.1.clone()),
                }
            })
            .collect()
    }

    /// Maintenance replaced a component: its life counts from the counter's value now.
    pub fn reset_component(&self, name: &str, by: &str) -> Result<ComponentView, ResetError> {
        let c = self
            .components
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ResetError::Unknown(name.to_string()))?;
        let counter = self
            .state
            .good_value(&c.signal)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| ResetError::NoValue(c.signal.clone()))?;
        let ts = now_ms();
        self.audit
            .lock()
            .unwrap()
            .reset_component(name, counter, by, ts)
            .map_err(|e| ResetError::Store(format!("{e:#}")))?;
        self.baselines
            .write()
            .unwrap()
            .insert(name.to_string(), counter);
        self.resets
            .lock()
            .unwrap()
            .insert(name.to_string(), (ts, by.to_string()));
        tracing::info!("component {name} reset by {by} at counter {counter}");
        Ok(self
            .components()
            .into_iter()
            .find(|v| v.name == name)
            .unwrap())
    }

    /// Ticks until the task is aborted.
    pub fn spawn(self: &Arc<Self>, tick: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let m = me.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || m.tick(now_ms())).await {
                    tracing::error!("alarm tick failed: {e}");
                }
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("no component `{0}` is configured")]
    Unknown(String),
    #[error("the counter `{0}` has no good value now")]
    NoValue(String),
    #[error("storing the reset failed: {0}")]
    Store(String),
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
