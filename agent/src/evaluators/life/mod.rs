//! The life evaluator: remaining life of the tools and of the machine's components.
//!
//! - `tools.rs`: per tool (`tool.id`), usage counted only while it cuts (the activity stage's
//!   cutting seconds, the same the operations count): cutting minutes, cuts, parts, cutting
//!   distance; after each finished operation the predicted flank wear and remaining life.
//! - `lifetimes.rs`: every tool change the shop floor reports is one lifetime; per tool class
//!   a censored Weibull life is fitted from them (refitted after each change, off the tick)
//!   and takes over the remaining life once a class has enough worn-out tools.
//! - `components.rs`, `service.rs`: the spindle bearing, ball screws and MQL pump from the
//!   service history the agent counts (and the bearing's vibration trend).
//! - `counters.rs`: counter components' life used, with maintenance's resets and the device's
//!   (a counter gone back counts on, never negative).
//! - `levels.rs`: life against its warning and limit levels, as conditions: the CNC's tool
//!   life counter, configured component counters, and predicted remaining life.
//!
//! Every counter step a plausibility guard refuses (`../plausibility.rs`: axis travel, pump
//! strokes and hours, the oil meter, counter components) is logged once, recorded in the
//! store (`counter_event`) and counted for `/metrics` here.
//!
//! [`Life`] is shared: the evaluator loop advances it, the HTTP server reads its views and
//! reports tool changes and component resets to it. Counters are handed to the store at most
//! once a second (a power cut loses at most a second of counting), the service history once
//! a minute.

pub mod components;
pub mod counters;
pub mod levels;
pub mod lifetimes;
pub mod service;
pub mod tools;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use models::Quantiles;
use serde::Serialize;

use super::frame::Frame;
use super::plausibility;
use super::{Evaluator, Output, Tick};
use crate::condition::Condition;
use crate::config::{Component, Config};
use crate::records::counter::{CounterEvent, CounterEventKind};
use crate::records::operation::OperationRecord;
use crate::records::tool::{ChangeReason, Counters, Prediction, ToolChange, WearMeasurement};
use crate::state::State;
use crate::store::{ComponentReset, Record, Store, ToolUsage};
use crate::supervise::lock;
use crate::value::{now_ms, Quality};
use components::{ComponentView, Components};
use counters::CounterLife;
use tools::{Entry, Lives, Model, ModelView, ToolView};

/// What `/api/life` returns.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LifeView {
    /// `null`: no `[life] wear_model` configured, counters only.
    pub model: Option<ModelView>,
    pub note: Option<String>,
    pub tool_in_spindle: Option<String>,
    /// The tool in the spindle first, then the most recently used.
    pub tools: Vec<ToolView>,
    pub recent_changes: Vec<ToolChange>,
    /// Why `recent_changes` is empty when the store cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_changes_note: Option<String>,
    pub components: Vec<ComponentView>,
    /// Per tool class with recorded lives: how far the wear model's life has moved to this
    /// machine's (empty without a wear model).
    pub classes: Vec<ClassAdaptation>,
}

/// One tool class's adaptation of the wear model's life to this machine (`models::adapt`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClassAdaptation {
    pub class: String,
    /// Share of a new tool's predicted life that is still the wear model's.
    pub prior_share: f64,
    /// Share from this machine's recorded lives of the class.
    pub machine_share: f64,
    /// Weight of the wear model, in tool lives.
    pub prior_weight_lives: f64,
    pub lives: usize,
    pub lives_worn_out: usize,
    pub lives_censored: usize,
    /// P10/P50/P90 of how much longer this machine's tools last than the wear model says.
    pub life_factor: Quantiles,
    /// Scatter of ln(life) between tools of the class (posterior median).
    pub life_scatter: f64,
}

/// A component whose life is a counter signal (`[[alarms.component]]`), as the maintenance
/// page shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CounterView {
    pub name: String,
    pub signal: String,
    pub unit: String,
    pub quality: Quality,
    /// Counter less the baseline of the last reset; `null` while the counter is not good.
    pub used: Option<f64>,
    pub warning: f64,
    pub limit: f64,
    /// Limit less used, in `unit`: a counter has no spread, so P10 = P50 = P90 (the same
    /// shape as every other remaining life).
    pub remaining: Option<Quantiles>,
    pub last_reset_ms: Option<i64>,
    pub last_reset_by: Option<String>,
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

/// How often the components' predicted remaining lives are judged against their levels. They
/// move over hours; building every component's view for it at each tick was a sixth of the
/// evaluator loop's CPU (footprint benchmark, 200 tags).
const COMPONENTS_EVERY: Duration = Duration::from_secs(1);

struct Tracker {
    tools: HashMap<String, Entry>,
    spindle: Option<String>,
    /// Tools that cut since the last part boundary.
    in_part: BTreeSet<String>,
    last_flush_ms: i64,
    components: Components,
    /// The components' predicted-life conditions as last judged, and when (see
    /// [`COMPONENTS_EVERY`]).
    component_conditions: Option<(Instant, Vec<Condition>)>,
    /// Tool life per class from this machine's tool changes, and the wear model adapted to them.
    lives: Lives,
    /// Counter components' last resets, by name.
    resets: HashMap<String, ComponentReset>,
    /// Counter components' life used, by name.
    counter_life: HashMap<String, CounterLife>,
    /// Counter events since start, per (counter, signal, kind), for `/metrics`.
    counter_events: BTreeMap<(String, String, CounterEventKind), u64>,
}

pub struct Life {
    store: Arc<Store>,
    model: Option<Model>,
    /// `[life] tool_remaining_warning_min`, `tool_remaining_limit_min`.
    tool_levels: (Option<f64>, Option<f64>),
    /// `[[alarms.component]]`, and the unit of every configured signal.
    counters: Vec<Component>,
    units: HashMap<String, String>,
    inner: Mutex<Tracker>,
    /// Refits of the tool lifetimes, off the evaluator's tick.
    refits: Mutex<mpsc::Sender<Refit>>,
}

enum Refit {
    Now,
    /// Answers once the refits asked for before are done.
    Settle(mpsc::Sender<()>),
}

impl Life {
    /// Restores every tool's counters, the components and the lifetimes from the store.
    pub fn open(config: &Config, store: Arc<Store>) -> Result<Arc<Life>> {
        let settings = &config.life;
        let model = settings
            .wear_model
            .as_ref()
            .map(|m| Model::new(m, settings.depth_of_cut_mm));
        let restored = store.restore("life", |r| {
            let tools = r
                .tool_usage()?
                .into_iter()
                .map(|u| {
                    let e = Entry {
                        counters: u.counters,
                        state: u.model_state,
                        prediction: u.prediction,
                        ..Entry::default()
                    };
                    (u.tool_id, e)
                })
                .collect();
            let lives = lifetimes::lives(r, model.as_ref()).unwrap_or_else(|e| {
                tracing::error!("life: reading tool lifetimes from the store failed: {e:#}");
                lifetimes::none()
            });
            let resets: HashMap<String, ComponentReset> = r
                .component_resets()?
                .into_iter()
                .map(|c| (c.component.clone(), c))
                .collect();
            let mut counter_life = HashMap::new();
            for c in &config.alarms.components {
                counter_life.insert(c.name.clone(), restore_counter(r, c, resets.get(&c.name))?);
            }
            Ok((
                tools,
                Components::restore(settings, Some(r)),
                lives,
                resets,
                counter_life,
            ))
        })?;
        let (tools, components, lives, resets, counter_life) = restored.unwrap_or_else(|| {
            (
                HashMap::new(),
                Components::restore(settings, None),
                lifetimes::none(),
                HashMap::new(),
                HashMap::new(),
            )
        });
        let units = config
            .devices
            .iter()
            .flat_map(|d| d.tags.iter().map(|t| (t.signal.clone(), t.unit.clone())))
            .collect();
        let (refits, requests) = mpsc::channel();
        let life = Arc::new(Life {
            model,
            tool_levels: (
                settings.tool_remaining_warning_min,
                settings.tool_remaining_limit_min,
            ),
            counters: config.alarms.components.clone(),
            units,
            inner: Mutex::new(Tracker {
                tools,
                spindle: None,
                in_part: BTreeSet::new(),
                last_flush_ms: 0,
                components,
                component_conditions: None,
                lives,
                resets,
                counter_life,
                counter_events: BTreeMap::new(),
            }),
            refits: Mutex::new(refits),
            store,
        });
        let weak = Arc::downgrade(&life);
        std::thread::Builder::new()
            .name("life-refit".into())
            .spawn(move || refit_loop(weak, requests))?;
        Ok(life)
    }

    /// One tick: `counted` is the tool of the open operation and the cutting seconds the
    /// activity stage added to it, `finished` the operations that ended, `part_done` whether a
    /// part finished. Returns what is due to be stored.
    pub fn advance(
        &self,
        frame: &Frame,
        dt_s: f64,
        counted: Option<(&str, f64)>,
        finished: &[OperationRecord],
        part_done: bool,
    ) -> Vec<Record> {
        let now = frame.now_ms;
        let mut guard = lock(&self.inner);
        // One reborrow, so that the tools and the lifetime model can be used side by side.
        let t = &mut *guard;
        t.spindle = frame
            .text("tool.id")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        t.components.step(frame, dt_s);
        let mut events: Vec<CounterEvent> = t
            .components
            .step_service(frame, dt_s, counted.map(|(_, s)| s))
            .into_iter()
            .map(|(signal, e)| counter_event(now, "service-history", signal, e, None))
            .collect();
        for c in &self.counters {
            let life = t.counter_life.entry(c.name.clone()).or_default();
            let unit = self.units.get(&c.signal).map_or("", String::as_str);
            let limit = plausibility::counter_limit(&c.signal, unit);
            if let Some(r) = life.step(frame.num(&c.signal), dt_s, now, limit) {
                let counter = format!("component:{}", c.name);
                events.push(counter_event(
                    now,
                    &counter,
                    &c.signal,
                    r.event,
                    Some(r.used),
                ));
            }
        }
        let mut records = note(t, events);
        if let Some((id, cut_s)) = counted {
            let feed = frame.num("channel.feedrate").unwrap_or(0.0).max(0.0);
            t.tools
                .entry(id.to_string())
                .or_default()
                .count(cut_s, feed, now);
            t.in_part.insert(id.to_string());
        }
        for op in finished {
            let Some(id) = op.tool_id.as_deref() else {
                continue;
            };
            let e = t.tools.entry(id.to_string()).or_default();
            e.after_cut(op, self.model.as_ref(), &t.lives, now);
        }
        if part_done {
            for id in std::mem::take(&mut t.in_part) {
                if let Some(e) = t.tools.get_mut(&id) {
                    e.counters.parts += 1;
                    e.dirty = true;
                }
            }
        }
        if now - t.last_flush_ms >= 1000 {
            t.last_flush_ms = now;
            records.extend(due(t, now, false));
        }
        records
    }

    /// Refused steps of the activity stage's counters (the oil meter), as for the others.
    fn note_activity(
        &self,
        now_ms: i64,
        events: &[(&'static str, plausibility::Event)],
    ) -> Vec<Record> {
        if events.is_empty() {
            return Vec::new();
        }
        let events = events
            .iter()
            .map(|(signal, e)| counter_event(now_ms, "operations", signal, *e, None))
            .collect();
        note(&mut lock(&self.inner), events)
    }

    /// Counter events since start per (counter, signal, kind), for `/metrics`.
    pub fn counter_event_counts(&self) -> Vec<((String, String, CounterEventKind), u64)> {
        let t = lock(&self.inner);
        t.counter_events
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    /// Conditions now: predicted component life, the tool in the spindle's predicted life,
    /// the CNC's tool life counter and the counter components, against their levels.
    fn conditions(&self, frame: &Frame) -> Vec<Condition> {
        let mut t = lock(&self.inner);
        let now = Instant::now();
        let judged = t
            .component_conditions
            .as_ref()
            .is_some_and(|(at, _)| now.duration_since(*at) < COMPONENTS_EVERY);
        if !judged {
            let c = t.components.conditions();
            t.component_conditions = Some((now, c));
        }
        let mut out = t
            .component_conditions
            .as_ref()
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        if let Some(id) = &t.spindle {
            let p = t.tools.get(id).and_then(|e| e.prediction.as_ref());
            out.extend(levels::predicted_tool_conditions(
                id,
                p,
                self.tool_levels.0,
                self.tool_levels.1,
            ));
        }
        out.extend(levels::tool_conditions(frame));
        out.extend(levels::counter_conditions(
            frame,
            &self.counters,
            |c, v| t.counter_life.get(&c.name).map_or(v, |l| l.used_at(v)),
            |s| self.units.get(s).cloned().unwrap_or_default(),
        ));
        out
    }

    /// A tool change from the shop floor: stores the lifetime record (the label) and starts
    /// the tool's counters and wear state afresh; the lifetimes are refitted off the tick.
    pub fn change(
        &self,
        tool_id: &str,
        reason: ChangeReason,
        measured_vb_mm: Option<f64>,
        by: &str,
        now: i64,
    ) -> Result<ToolChange> {
        let (mut change, stored) = {
            let mut t = lock(&self.inner);
            let old = t.tools.remove(tool_id).unwrap_or_default();
            t.in_part.remove(tool_id);
            let change = ToolChange {
                id: 0,
                tool_id: tool_id.to_string(),
                ts_ms: now,
                reason,
                censored: reason == ChangeReason::Preventive,
                measured_vb_mm,
                by: by.to_string(),
                counters: old.counters,
                prediction: old.prediction,
            };
            // Queued while the tracker is locked: usage of the old tool queued before goes
            // first, and none of it can be stored after the change deletes it.
            let c = change.clone();
            (
                change,
                self.store.submit(move |tx| tx.insert_tool_change(&c)),
            )
        };
        change.id = stored.wait()?;
        let _ = lock(&self.refits).send(Refit::Now);
        Ok(change)
    }

    /// A flank wear measured on a tool in service (it stays in): stored, and taken into the
    /// tool's wear-model state so its predictions go on from the measured wear with its own
    /// recalibrated band (its prediction moves now where the measurement governs it).
    /// `Ok(None)`: no tool of that id has cut since its last change. Stored even where the
    /// wear model cannot use it (no model, no cut predicted yet): the measurement is the
    /// shop's record, and the returned note says why the model did not take it.
    pub fn measure_wear(
        &self,
        tool_id: &str,
        vb_mm: f64,
        by: &str,
        now: i64,
    ) -> Result<Option<(WearMeasurement, Option<String>)>> {
        let (mut m, why_not, stored) = {
            let mut guard = lock(&self.inner);
            let t = &mut *guard;
            let Some(e) = t.tools.get_mut(tool_id) else {
                return Ok(None);
            };
            let check = match (&self.model, e.state.as_mut()) {
                (Some(model), Some(state)) => model.observe_wear(state, vb_mm),
                (None, _) => Err("no [life] wear_model configured".to_string()),
                (Some(_), None) => Err(
                    "the wear model has predicted no cut of this tool yet (a measurement is \
                     scored against the last cut's band)"
                        .to_string(),
                ),
            };
            if let (Ok(_), Some(model)) = (&check, &self.model) {
                e.after_measurement(model, &t.lives, now);
            }
            e.dirty = true;
            let (check, why_not) = match check {
                Ok(c) => (Some(c), None),
                Err(why) => (None, Some(why)),
            };
            let m = WearMeasurement {
                id: 0,
                tool_id: tool_id.to_string(),
                ts_ms: now,
                measured_vb_mm: vb_mm,
                by: by.to_string(),
                counters: e.counters.clone(),
                check,
            };
            // Queued while the tracker is locked: a change of this tool queued after it
            // closes this life's measurements, this one included.
            let c = m.clone();
            (
                m,
                why_not,
                self.store.submit(move |tx| tx.insert_wear_measurement(&c)),
            )
        };
        m.id = stored.wait()?;
        Ok(Some((m, why_not)))
    }

    /// Waits until the refits asked for so far are done (tests, benches).
    pub fn settle(&self) {
        let (tx, rx) = mpsc::channel();
        if lock(&self.refits).send(Refit::Settle(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// One tool's counters and latest prediction.
    pub fn tool(&self, id: &str) -> Option<(Counters, Option<Prediction>)> {
        let t = lock(&self.inner);
        t.tools
            .get(id)
            .map(|e| (e.counters.clone(), e.prediction.clone()))
    }

    /// The life view with the latest tool changes from the store (`/api/life`). Blocking.
    /// Without a store this run, the view is what is held in memory, and says so.
    pub fn view(&self, max_tools: usize) -> Result<LifeView> {
        let mut view = self.current(max_tools);
        match self.store.unavailable_reason() {
            Some(why) => {
                view.recent_changes_note = Some(format!(
                    "tool changes cannot be read: the store records nothing this run: {why}"
                ))
            }
            None => view.recent_changes = self.store.read(|r| r.recent_tool_changes(20))?,
        }
        Ok(view)
    }

    /// What is held in memory (tools, model, components), without `recent_changes`: no store
    /// access, for callers that do not show the changes (fleet publishing, exports).
    pub fn current(&self, max_tools: usize) -> LifeView {
        let t = lock(&self.inner);
        let mut tools: Vec<ToolView> = t
            .tools
            .iter()
            .map(|(id, e)| ToolView {
                tool_id: id.clone(),
                in_spindle: t.spindle.as_deref() == Some(id.as_str()),
                counters: e.counters.clone(),
                prediction: e.prediction.clone(),
                note: e.note.clone(),
                wear_measurements: e
                    .state
                    .as_ref()
                    .and_then(|s| s.recalibration)
                    .map_or(0, |r| r.measurements),
                wear_scale: e.state.as_ref().map_or(1.0, |s| s.wear_scale),
            })
            .collect();
        tools.sort_by_key(|v| {
            (
                !v.in_spindle,
                std::cmp::Reverse(v.counters.last_cut_ms.unwrap_or(0)),
            )
        });
        tools.truncate(max_tools);
        LifeView {
            model: self.model.as_ref().map(Model::view),
            note: self.model.is_none().then(|| {
                "no [life] wear_model configured: usage counters only, no prediction".to_string()
            }),
            tool_in_spindle: t.spindle.clone(),
            tools,
            recent_changes: Vec::new(),
            recent_changes_note: None,
            components: t.components.view(),
            classes: {
                let mut v: Vec<ClassAdaptation> = t
                    .lives
                    .adapted
                    .iter()
                    .map(|(class, a)| ClassAdaptation {
                        class: class.clone(),
                        prior_share: a.prior_share(),
                        machine_share: a.machine_share,
                        prior_weight_lives: a.settings.prior_weight_lives,
                        lives: a.lives,
                        lives_worn_out: a.worn_out,
                        lives_censored: a.censored,
                        life_factor: a.life_factor,
                        life_scatter: a.scatter,
                    })
                    .collect();
                v.sort_by(|a, b| a.class.cmp(&b.class));
                v
            },
        }
    }

    /// The counter components (`[[alarms.component]]`), from the state's values now.
    pub fn counter_views(&self, state: &State) -> Vec<CounterView> {
        let t = lock(&self.inner);
        self.counters
            .iter()
            .map(|c| {
                let view = state.id(&c.signal).map(|i| state.view(i));
                let counter = state.good_value(&c.signal).and_then(|v| v.as_f64());
                let used = counter.map(|v| t.counter_life.get(&c.name).map_or(v, |l| l.used_at(v)));
                let reset = t.resets.get(&c.name);
                CounterView {
                    name: c.name.clone(),
                    signal: c.signal.clone(),
                    unit: view.as_ref().map_or(String::new(), |v| v.unit.clone()),
                    quality: view.map_or(Quality::Unavailable, |v| v.quality),
                    used,
                    warning: c.warning,
                    limit: c.limit,
                    remaining: used.map(|u| Quantiles {
                        p10: c.limit - u,
                        p50: c.limit - u,
                        p90: c.limit - u,
                    }),
                    last_reset_ms: reset.map(|r| r.ts_ms),
                    last_reset_by: reset.map(|r| r.by.clone()),
                }
            })
            .collect()
    }

    /// Maintenance replaced a counter component: its life counts from the counter's value now.
    pub fn reset_component(
        &self,
        state: &State,
        name: &str,
        by: &str,
    ) -> Result<CounterView, ResetError> {
        let c = self
            .counters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ResetError::Unknown(name.to_string()))?;
        let baseline = state
            .good_value(&c.signal)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| ResetError::NoValue(c.signal.clone()))?;
        let reset = ComponentReset {
            component: name.to_string(),
            baseline,
            ts_ms: now_ms(),
            by: by.to_string(),
        };
        let r = reset.clone();
        self.store
            .call(move |tx| tx.insert_component_reset(&r))
            .map_err(|e| ResetError::Store(format!("{e:#}")))?;
        let mut t = lock(&self.inner);
        t.resets.insert(name.to_string(), reset);
        t.counter_life
            .entry(name.to_string())
            .or_default()
            .reset(baseline);
        drop(t);
        tracing::info!("component {name} reset by {by} at counter {baseline}");
        Ok(self
            .counter_views(state)
            .into_iter()
            .find(|v| v.name == name)
            .expect("a configured component has a view"))
    }
}

/// A counter component's life used as stored: from its last maintenance reset, or from the
/// last event of its counter since (a reset at the device, a glitch), whichever is later.
fn restore_counter(
    r: &crate::store::Reader,
    c: &Component,
    reset: Option<&ComponentReset>,
) -> Result<CounterLife> {
    let event = r
        .last_counter_event(&format!("component:{}", c.name))?
        .filter(|e| reset.is_none_or(|x| e.ts_ms >= x.ts_ms));
    Ok(match (event, reset) {
        (Some(e), _) => CounterLife::new(e.to_value, e.used.unwrap_or(0.0)),
        (None, Some(x)) => CounterLife::new(x.baseline, 0.0),
        (None, None) => CounterLife::new(0.0, 0.0),
    })
}

fn counter_event(
    ts_ms: i64,
    counter: &str,
    signal: &str,
    e: plausibility::Event,
    used: Option<f64>,
) -> CounterEvent {
    let text = e.describe(signal);
    CounterEvent {
        ts_ms,
        counter: counter.to_string(),
        signal: signal.to_string(),
        kind: e.kind,
        from_value: e.from,
        to_value: e.to,
        max_step: e.max_step,
        used,
        message: text.en,
        message_zh: Some(text.zh),
    }
}

/// Logs each event once, counts it for `/metrics`, and turns it into a record for the store.
fn note(t: &mut Tracker, events: Vec<CounterEvent>) -> Vec<Record> {
    events
        .into_iter()
        .map(|e| {
            tracing::warn!("{}: {}", e.counter, e.message);
            *t.counter_events
                .entry((e.counter.clone(), e.signal.clone(), e.kind))
                .or_default() += 1;
            Record::CounterEvent(e)
        })
        .collect()
}

/// What is due to be stored (everything unsaved with `all`, at a clean stop).
fn due(t: &mut Tracker, now: i64, all: bool) -> Vec<Record> {
    let mut out = t.components.records(now, all);
    let rows: Vec<ToolUsage> = t
        .tools
        .iter_mut()
        .filter(|(_, e)| e.dirty || all)
        .map(|(id, e)| {
            e.dirty = false;
            ToolUsage {
                tool_id: id.clone(),
                counters: e.counters.clone(),
                model_state: e.state.clone(),
                prediction: e.prediction.clone(),
            }
        })
        .collect();
    if !rows.is_empty() {
        out.push(Record::ToolUsage { rows, now_ms: now });
    }
    out
}

/// Refits the tool lifetimes from the store when asked (after each tool change): a
/// bootstrapped Weibull per class takes a while, and must not hold up the evaluator's tick.
fn refit_loop(life: std::sync::Weak<Life>, requests: mpsc::Receiver<Refit>) {
    for req in requests {
        let Some(life) = life.upgrade() else { return };
        match req {
            Refit::Settle(done) => {
                let _ = done.send(());
            }
            Refit::Now => match life
                .store
                .read(|r| lifetimes::lives(r, life.model.as_ref()))
            {
                Ok(l) => lock(&life.inner).lives = l,
                Err(e) => tracing::error!("life: refitting tool lifetimes failed: {e:#}"),
            },
        }
    }
}

impl Evaluator for Arc<Life> {
    fn name(&self) -> &'static str {
        "life"
    }

    fn step(&mut self, tick: &Tick) -> Output {
        let a = tick.activity;
        let mut records = self.note_activity(tick.frame.now_ms, a.counter_events());
        records.extend(self.advance(
            tick.frame,
            tick.dt_s,
            a.counted(),
            a.finished(),
            a.part().is_some(),
        ));
        Output {
            conditions: self.conditions(tick.frame),
            records,
        }
    }

    fn stop(&mut self, now_ms: i64) -> Vec<Record> {
        due(&mut lock(&self.inner), now_ms, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LifeSettings;
    use crate::value::Value;
    use std::path::Path;

    /// A life evaluator on a fresh store with `settings`; its records go to the store as the
    /// evaluator loop would hand them.
    struct Rig {
        life: Arc<Life>,
        store: Arc<Store>,
        config: Config,
    }

    impl Rig {
        fn new(settings: LifeSettings) -> Rig {
            let (store, _, mut config) = crate::store::test_store("life");
            config.life = settings;
            Rig {
                life: Life::open(&config, store.clone()).unwrap(),
                store,
                config,
            }
        }

        fn step(
            &self,
            f: &Frame,
            dt_s: f64,
            counted: Option<(&str, f64)>,
            finished: &[OperationRecord],
            part_done: bool,
        ) {
            for r in self.life.advance(f, dt_s, counted, finished, part_done) {
                self.store.record(r);
            }
        }

        /// A clean stop: everything stored.
        fn stop(&self) {
            let mut l = self.life.clone();
            for r in Evaluator::stop(&mut l, 0) {
                self.store.record(r);
            }
            self.store.sync();
        }
    }

    fn frame(t: i64, tool: &str, feed: f64) -> Frame {
        Frame::from_values(
            t,
            [
                ("tool.id", Value::Text(tool.into())),
                ("channel.feedrate", Value::Number(feed)),
            ],
        )
    }

    #[test]
    fn a_step_that_panicked_holding_the_tracker_leaves_its_counters_usable() {
        let rig = Rig::new(LifeSettings::default());
        rig.step(
            &frame(1000, "T1", 100.0),
            60.0,
            Some(("T1", 60.0)),
            &[],
            false,
        );
        let life = rig.life.clone();
        let _ = std::thread::spawn(move || {
            let _t = lock(&life.inner);
            panic!("a step failed half-way");
        })
        .join();
        assert!(rig.life.inner.is_poisoned());
        // The next tick counts on, and the views and the store's records go on too.
        rig.step(
            &frame(2000, "T1", 100.0),
            60.0,
            Some(("T1", 60.0)),
            &[],
            false,
        );
        let (c, _) = rig.life.tool("T1").unwrap();
        assert!((c.cutting_min - 2.0).abs() < 1e-9, "{c:?}");
        assert_eq!(rig.life.current(10).tools.len(), 1);
        rig.stop();
    }

    fn nasa() -> LifeSettings {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/trained/nasa-milling.json");
        let f = models::model_file::WearModelFile::load(&path).unwrap();
        LifeSettings {
            wear_model: Some(crate::config::WearModelSettings {
                path,
                dataset: f.training.dataset,
                model: std::sync::Arc::new(f.model),
            }),
            depth_of_cut_mm: Some(1.0),
            ..LifeSettings::default()
        }
    }

    fn op(tool: &str, start: i64, end: i64) -> OperationRecord {
        OperationRecord {
            start_ms: start,
            end_ms: end,
            tool_id: Some(tool.into()),
            workpiece_group: Some("P".into()),
            speed_mean_rpm: Some(2000.0),
            feed_mean_mm_min: Some(600.0),
            ..OperationRecord::default()
        }
    }

    #[test]
    fn counts_only_while_cutting_and_survives_a_reopen() {
        let rig = Rig::new(nasa());
        let life = &rig.life;
        // 60 s cutting at 600 mm/min, then 60 s idle with the tool in the spindle.
        let mut t = 1_000_000;
        for _ in 0..600 {
            t += 100;
            rig.step(&frame(t, "T1", 600.0), 0.1, Some(("T1", 0.1)), &[], false);
        }
        for _ in 0..600 {
            t += 100;
            rig.step(&frame(t, "T1", 0.0), 0.1, None, &[], false);
        }
        rig.step(
            &frame(t, "T1", 0.0),
            0.0,
            None,
            &[op("T1", 1_000_000, t)],
            true,
        );
        let v = life.view(10).unwrap();
        let c = &v.tools[0].counters;
        assert!((c.cutting_min - 1.0).abs() < 1e-6, "{c:?}");
        assert!((c.distance_mm - 600.0).abs() < 1e-3, "{c:?}");
        assert_eq!((c.cuts, c.parts), (1, 1));
        let p = v.tools[0].prediction.as_ref().expect("a prediction");
        let vb = p.vb.expect("the wear model predicts VB");
        assert!(vb.p10 <= vb.p50 && vb.p50 <= vb.p90, "{p:?}");
        assert!(
            p.remaining_min.p10 <= p.remaining_min.p50
                && p.remaining_min.p50 <= p.remaining_min.p90
        );
        rig.stop();
        let again = Life::open(&rig.config, rig.store.clone()).unwrap();
        let v2 = again.view(10).unwrap();
        assert_eq!(v2.tools[0].counters, v.tools[0].counters);
        assert_eq!(v2.tools[0].prediction, v.tools[0].prediction);
        // A change stores the label and starts the tool afresh.
        let ch = again
            .change("T1", ChangeReason::Preventive, Some(0.12), "test", t + 1)
            .unwrap();
        assert!(ch.censored && ch.counters.cuts == 1);
        let v3 = again.view(10).unwrap();
        assert!(v3.tools.is_empty());
        assert_eq!(v3.recent_changes[0].measured_vb_mm, Some(0.12));
    }

    #[test]
    fn a_counter_component_counts_on_over_a_reset_at_the_device_and_a_restart() {
        let (store, _, mut config) = crate::store::test_store("counter-life");
        config.alarms.components = vec![Component {
            name: "pump".into(),
            signal: "mql.oil_flow".into(),
            warning: 100.0,
            limit: 120.0,
        }];
        let step = |life: &Life, t: i64, v: f64| {
            let f = Frame::from_values(t, [("mql.oil_flow", Value::Number(v))]);
            for r in life.advance(&f, 0.1, None, &[], false) {
                store.record(r);
            }
            let warning = life
                .conditions(&f)
                .into_iter()
                .find(|c| c.key == "component:pump:life-warning")
                .expect("reported while the counter is good");
            (warning.active, warning.message)
        };
        let life = Life::open(&config, store.clone()).unwrap();
        assert!(!step(&life, 1_000, 90.0).0);
        assert!(step(&life, 1_100, 110.0).0);
        // The counter is reset at the device: the life used so far is kept, the warning stays.
        let (active, message) = step(&life, 1_200, 2.0);
        assert!(active && message.contains("110.0"), "{message}");
        store.sync();
        let events = store.read(|r| r.counter_events(0, i64::MAX, 10)).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        assert_eq!(e.counter, "component:pump");
        assert_eq!(e.kind, CounterEventKind::Backwards);
        assert_eq!(
            (e.from_value, e.to_value, e.used),
            (110.0, 2.0, Some(110.0))
        );
        assert_eq!(
            life.counter_event_counts(),
            vec![(
                (
                    "component:pump".to_string(),
                    "mql.oil_flow".to_string(),
                    CounterEventKind::Backwards
                ),
                1
            )]
        );
        // After a restart, life used goes on from the event.
        let again = Life::open(&config, store.clone()).unwrap();
        let (active, message) = step(&again, 5_000, 3.0);
        assert!(active && message.contains("111.0"), "{message}");
    }

    #[test]
    fn materials_outside_the_training_data_get_no_prediction() {
        let rig = Rig::new(nasa());
        let mut o = op("T9", 0, 1000);
        o.workpiece_group = Some("N".into());
        rig.step(&frame(1000, "T9", 0.0), 0.0, None, &[o], false);
        let v = rig.life.view(10).unwrap();
        assert!(v.tools[0].prediction.is_none());
        assert!(v.tools[0].note.as_deref().unwrap().contains("group N"));
    }

    #[test]
    fn the_machines_own_tool_lifetimes_take_over_remaining_life() {
        // No wear model: remaining life can only come from the lifetimes.
        let rig = Rig::new(LifeSettings::default());
        let life = &rig.life;
        let end_mill = |tool: &str, t: i64| OperationRecord {
            tool_material: Some("carbide".into()),
            tool_coating: Some("TiAlN".into()),
            tool_diameter_mm: Some(10.0),
            tool_edges: Some(4.0),
            workpiece_material: Some("C45".into()),
            ..op(tool, t, t + 1000)
        };
        let mut t = 1_000;
        // Cuts `minutes` with `tool` in one operation, as the compliance evaluator reports it.
        let mut cut = |tool: &str, minutes: f64| {
            rig.step(
                &frame(t, tool, 500.0),
                minutes * 60.0,
                Some((tool, minutes * 60.0)),
                &[],
                false,
            );
            let o = end_mill(tool, t);
            rig.store.record(Record::Operation(Box::new(o.clone())));
            t += 2_000;
            rig.step(&frame(t, tool, 0.0), 0.1, None, &[o], false);
            t += 1_000;
            t
        };
        for (tool, minutes, reason) in [
            ("A1", 20.0, ChangeReason::WornOut),
            ("A2", 24.0, ChangeReason::WornOut),
            ("A3", 15.0, ChangeReason::Preventive),
            ("A4", 22.0, ChangeReason::WornOut),
            ("A5", 21.0, ChangeReason::WornOut),
            ("A6", 23.0, ChangeReason::WornOut),
        ] {
            let at = cut(tool, minutes);
            assert!(
                life.tool(tool).unwrap().1.is_none(),
                "{tool}: too few lifetimes yet"
            );
            life.change(tool, reason, None, "test", at).unwrap();
        }
        // The refit runs off the tick; the next cut sees it once it is done.
        life.settle();
        let read = rig.store.read(lifetimes::read).unwrap();
        assert_eq!(read.len(), 6);
        assert_eq!(read.iter().filter(|l| l.ended).count(), 5);
        assert_eq!(read[0].class, "carbide TiAlN Ø10 mm z4 on C45");
        assert!((read[2].used - 15.0).abs() < 1e-9);

        // A new tool of the class, 10 minutes in: its remaining life comes from the five
        // worn-out lives (20-24 min) and the censored one, conditional on the 10 it cut.
        cut("A7", 10.0);
        let p = life
            .tool("A7")
            .unwrap()
            .1
            .expect("a prediction from the lifetimes");
        assert_eq!(p.model_file, "store");
        assert!(p.vb.is_none() && p.limit.is_none());
        assert!(p.method.contains("5 worn out"), "{}", p.method);
        let q = p.remaining_min;
        assert!(q.p10 < q.p50 && q.p50 < q.p90, "{q:?}");
        assert!((6.0..16.0).contains(&q.p50), "{q:?}");
        assert!(q.p10 > 0.0, "{q:?}");
        // Further in, less is left.
        cut("A7", 8.0);
        let later = life.tool("A7").unwrap().1.unwrap().remaining_min;
        assert!(later.p50 < q.p50, "{later:?} after {q:?}");
        // Another class has no lifetimes and, without a wear model, no prediction.
        rig.step(
            &frame(t, "B1", 500.0),
            300.0,
            Some(("B1", 300.0)),
            &[],
            false,
        );
        let other = OperationRecord {
            tool_material: Some("HSS".into()),
            ..end_mill("B1", t)
        };
        rig.step(&frame(t + 1000, "B1", 0.0), 0.1, None, &[other], false);
        assert!(
            life.tool("B1").unwrap().1.is_none(),
            "no lifetimes of its class"
        );
    }
    /// `minutes` of cutting with `tool` (a carbide end mill of `diameter_mm` on C45) in one
    /// operation at `*t`, then its prediction; `*t` moves past it.
    fn cut_with(
        rig: &Rig,
        life: &Life,
        t: &mut i64,
        tool: &str,
        diameter_mm: f64,
        minutes: f64,
    ) -> (i64, Prediction) {
        let o = OperationRecord {
            tool_material: Some("carbide".into()),
            tool_diameter_mm: Some(diameter_mm),
            workpiece_material: Some("C45".into()),
            ..op(tool, *t, *t + 1000)
        };
        for r in life.advance(
            &frame(*t, tool, 500.0),
            minutes * 60.0,
            Some((tool, minutes * 60.0)),
            &[],
            false,
        ) {
            rig.store.record(r);
        }
        rig.store.record(Record::Operation(Box::new(o.clone())));
        *t += 2_000;
        for r in life.advance(&frame(*t, tool, 0.0), 0.1, None, &[o], false) {
            rig.store.record(r);
        }
        *t += 1_000;
        (*t, life.tool(tool).unwrap().1.expect("a prediction"))
    }

    #[test]
    fn the_wear_model_moves_to_this_machines_lives_from_the_first_one() {
        let rig = Rig::new(nasa());
        let mut t = 1_000;
        let mut cut = |life: &Life, tool: &str, minutes: f64| {
            cut_with(&rig, life, &mut t, tool, 10.0, minutes)
        };
        // No lives yet: the wear model's figure, all of it the prior's.
        let (_, first) = cut(&rig.life, "A1", 2.0);
        let s = first.sources.clone().unwrap();
        assert_eq!((s.prior_share, s.machine_share, s.lives), (1.0, 0.0, 0));
        assert_eq!(s.prior_remaining_min, Some(first.remaining_min));
        let (at, _) = cut(&rig.life, "A1", 38.0);
        // It lasted 40 minutes, far beyond what the wear model says (a few minutes).
        rig.life
            .change("A1", ChangeReason::WornOut, None, "test", at)
            .unwrap();
        rig.life.settle();
        let (_, p) = cut(&rig.life, "A2", 2.0);
        let s = p.sources.clone().unwrap();
        assert_eq!((s.lives, s.lives_worn_out, s.lives_censored), (1, 1, 0));
        assert!((s.machine_share - 1.0 / 1.2).abs() < 1e-9, "{s:?}");
        assert!((s.prior_share + s.machine_share - 1.0).abs() < 1e-12);
        let prior_life = s.prior_life_min.unwrap();
        let factor = s.life_factor.unwrap();
        assert!(prior_life < 20.0 && factor.p50 > 2.0, "{s:?}");
        // Most of the way to 40 min: the new tool has about 38 left, the wear model said less.
        let q = p.remaining_min;
        assert!(q.p10 < q.p50 && q.p50 < q.p90, "{q:?}");
        assert!((25.0..40.0).contains(&q.p50), "{q:?}");
        assert!(q.p50 > s.prior_remaining_min.unwrap().p50, "{s:?}");
        assert!(p.method.contains("1 recorded tool lives"), "{}", p.method);
        let view = rig.life.current(10);
        assert_eq!(view.classes.len(), 1);
        assert_eq!(view.classes[0].lives, 1);
        assert_eq!(view.classes[0].class, "carbide ? Ø10 mm z? on C45");

        // A preventive change without a measurement is censored; with the wear measured near
        // the limit it is a life read off the wear curves.
        let (at, _) = cut(&rig.life, "A2", 10.0);
        rig.life
            .change("A2", ChangeReason::Preventive, None, "test", at)
            .unwrap();
        let (at, _) = cut(&rig.life, "A3", 12.0);
        rig.life
            .change("A3", ChangeReason::Preventive, Some(0.28), "test", at)
            .unwrap();
        // Measured past the limit at a preventive change: it wore out by then.
        let (at, _) = cut(&rig.life, "A3b", 14.0);
        rig.life
            .change("A3b", ChangeReason::Preventive, Some(0.35), "test", at)
            .unwrap();
        rig.life.settle();
        let (_, p) = cut(&rig.life, "A4", 1.0);
        let s = p.sources.unwrap();
        assert_eq!(
            (s.lives, s.lives_worn_out, s.lives_censored),
            (4, 3, 1),
            "{s:?}"
        );

        // The lives are the store's: after a restart the adaptation is the same.
        rig.stop();
        let again = Life::open(&rig.config, rig.store.clone()).unwrap();
        assert_eq!(again.current(10).classes[0].lives, 4);
        let (_, p) = cut(&again, "A5", 1.0);
        assert_eq!(p.sources.unwrap().lives, 4);
    }

    /// Flank wear (mm) of this test's tools at `share` of their life: fast at first, slow
    /// mid-life, fast again towards the 0.3 mm limit (unlike the training curves).
    fn worn(share: f64) -> f64 {
        0.3 * (0.55 * (1.0 - (-12.0 * share).exp()) + 0.45 * share.powi(4))
    }

    #[test]
    fn a_measured_tool_is_read_on_this_machines_own_wear_curves() {
        let rig = Rig::new(nasa());
        let mut t = 1_000;
        // A tool of 40 min measured after 30 (75 % of its life): 10 min left.
        let measured_at_75 = |rig: &Rig, t: &mut i64, tool: &str| {
            cut_with(rig, &rig.life, t, tool, 12.0, 30.0);
            rig.life
                .measure_wear(tool, worn(0.75), "test", *t)
                .unwrap()
                .unwrap();
            *t += 1_000;
            rig.life.tool(tool).unwrap().1.unwrap()
        };
        // On the training curves alone.
        let training = measured_at_75(&rig, &mut t, "C1");
        assert!(
            training.method.contains("the training curves"),
            "{}",
            training.method
        );
        assert_eq!(training.sources.as_ref().unwrap().machine_share, 0.0);
        // Three tools of another class run to wear (20, 30 and 25 min), measured every 4 min
        // of their lives and at their change, at or past the limit. A fourth worn out without
        // a measurement during its life adds no curve, nor does a fifth not measured at its
        // change.
        for (tool, life_min, at_change) in [
            ("B1", 20.0, Some(0.33)),
            ("B2", 30.0, Some(0.31)),
            ("B3", 25.0, Some(0.3)),
            ("B4", 22.0, Some(0.32)),
            ("B6", 24.0, None),
        ] {
            let mut used = 0.0;
            if tool != "B4" {
                while used + 4.0 < life_min {
                    cut_with(&rig, &rig.life, &mut t, tool, 10.0, 4.0);
                    used += 4.0;
                    rig.life
                        .measure_wear(tool, worn(used / life_min), "test", t)
                        .unwrap()
                        .unwrap();
                    t += 1_000;
                }
            }
            let (at, _) = cut_with(&rig, &rig.life, &mut t, tool, 10.0, life_min - used);
            rig.life
                .change(tool, ChangeReason::WornOut, at_change, "test", at)
                .unwrap();
        }
        rig.life.settle();
        let own = measured_at_75(&rig, &mut t, "C2");
        assert!(
            own.method
                .contains("this machine's 3 worn-out tools measured"),
            "{}",
            own.method
        );
        let s = own.sources.clone().unwrap();
        assert_eq!((s.machine_share, s.prior_share, s.lives), (1.0, 0.0, 3));
        assert_eq!(s.tool_measurements, 1);
        let (q, before) = (own.remaining_min, training.remaining_min);
        assert!((q.p50 - 10.0).abs() < 1.5, "{q:?}");
        assert!(q.p10 <= 10.0 && 10.0 <= q.p90, "{q:?}");
        // The training curves read that wear differently.
        assert!(
            (before.p50 - 10.0).abs() > 2.0 * (q.p50 - 10.0).abs(),
            "{before:?} {q:?}"
        );
        // A measured tool of the class with worn-out lives is read on the curves too, not
        // predicted from the class's lives.
        let (_, unmeasured) = cut_with(&rig, &rig.life, &mut t, "B5", 10.0, 3.0);
        assert!(
            unmeasured.method.contains("recorded tool lives"),
            "{}",
            unmeasured.method
        );
        rig.life
            .measure_wear("B5", worn(0.2), "test", t)
            .unwrap()
            .unwrap();
        t += 1_000;
        let (_, measured) = cut_with(&rig, &rig.life, &mut t, "B5", 10.0, 1.0);
        assert!(
            measured
                .method
                .contains("combined with this tool's own flank wear, measured 1 times")
                && measured.method.contains("this machine's 3 worn-out"),
            "{}",
            measured.method
        );
        // The class's lives stay behind the figure, and the measurement is counted.
        let s = measured.sources.unwrap();
        assert_eq!((s.lives_worn_out, s.tool_measurements), (5, 1), "{s:?}");
        // Its wear after 3 min reads a life of about 15 min, where the class's lives (20-30
        // min) said more: the sure reading on curves of its own shape pulls the figure there.
        let (q, lives_only) = (measured.remaining_min, unmeasured.remaining_min);
        assert!(q.p10 < q.p50 && q.p50 < q.p90, "{q:?}");
        assert!(
            q.p50 > 6.0 && q.p50 < 13.0 && q.p50 < lives_only.p50 - 5.0,
            "{q:?} against {lives_only:?}"
        );
    }
}
