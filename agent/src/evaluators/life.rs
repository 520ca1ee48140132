//! Per-tool usage and remaining life. The compliance evaluator's operation segmentation is the
//! one source of "cutting": every tick it hands over the tool that is cutting (if any) and the
//! operations and parts that finished, and this module counts cutting minutes, cuts, parts and
//! cutting distance per `tool.id`, predicts flank wear and remaining life after each cut with the
//! configured wear model (`models` crate), and keeps the shop floor's tool-change labels.
//!
//! Counters live in memory and are written to the store's SQLite file at most once a second, so
//! a power cut loses at most a second of counting while the SD card sees one small transaction
//! per second at most. The writes run on a writer thread with its own connection: a slow card
//! must not stall the evaluator's tick (a late tick shifts part and operation boundaries).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

use anyhow::Result;
use models::lifetime::{ClassLife, LifetimeModel};
use models::{CutRecord, Quantiles, ToolState, WearModel};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::component_life::{ComponentView, Components};
use super::frame::Frame;
use super::lifetimes;
use super::operations::OperationRecord;
use crate::config::LifeSettings;
use crate::config::USAGE_UNIT;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tool_usage (
    tool_id TEXT PRIMARY KEY,
    counters TEXT NOT NULL,           -- Counters as JSON
    model_state TEXT,                 -- the wear model's ToolState as JSON
    prediction TEXT,                  -- the latest Prediction as JSON
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_change (
    id INTEGER PRIMARY KEY,
    tool_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,             -- worn_out | broken | preventive
    by TEXT NOT NULL,                 -- who reported it (the token's or the login's name)
    censored INTEGER NOT NULL,        -- preventive: the tool's life end was not observed
    measured_vb_mm REAL,
    counters TEXT NOT NULL,           -- usage at the change
    prediction TEXT                   -- the last prediction before the change
);
CREATE INDEX IF NOT EXISTS tool_change_ts ON tool_change(ts_ms);
CREATE TABLE IF NOT EXISTS component_life (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,              -- the spindle bearing's monitor, the service history (JSON)
    updated_ms INTEGER NOT NULL
);
";

/// Usage of one tool since it was last changed, counted only while it cuts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub cutting_min: f64,
    /// Finished operations.
    pub cuts: u64,
    /// Parts it cut in (a part counts for every tool that cut during it).
    pub parts: u64,
    /// ∫ feed rate dt while cutting.
    pub distance_mm: f64,
    /// When counting started for this tool (first cut, or its last change).
    pub since_ms: i64,
    pub last_cut_ms: Option<i64>,
}

/// Predicted wear and remaining life after a cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub at_ms: i64,
    pub after_cut: u64,
    pub cutting_min: f64,
    /// Flank wear in `vb_unit`, where a wear model predicts it.
    pub vb: Option<Quantiles>,
    pub vb_unit: String,
    /// The wear limit remaining life runs to (a wear model's); `None` where the remaining life
    /// comes from this machine's tool lifetimes, whose end is the shop's own "worn out".
    pub limit: Option<f64>,
    /// Remaining minutes of cutting until `limit`.
    pub remaining_min: Quantiles,
    /// The same in cuts, at this tool's mean minutes per cut so far.
    pub remaining_cuts: Quantiles,
    /// Tool class: the workpiece material for a wear model's prior; tool specification and
    /// workpiece material for the lifetime model.
    pub class: String,
    /// The wear model's file, or `store` where the remaining life comes from the tool
    /// lifetimes in this agent's store.
    pub model_file: String,
    pub method: String,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    counters: Counters,
    state: Option<ToolState>,
    prediction: Option<Prediction>,
    /// Why the last cut has no prediction, if it has none.
    note: Option<String>,
    dirty: bool,
}

/// A tool change reported from the shop floor: a label for the wear model.
#[derive(Debug, Clone, Serialize)]
pub struct ToolChange {
    pub id: i64,
    pub tool_id: String,
    pub ts_ms: i64,
    pub reason: String,
    /// Preventive changes do not observe the end of life (a censored lifetime).
    pub censored: bool,
    pub measured_vb_mm: Option<f64>,
    pub by: String,
    pub counters: Counters,
    pub prediction: Option<Prediction>,
}

/// One tool as `/api/life` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ToolView {
    pub tool_id: String,
    pub in_spindle: bool,
    pub counters: Counters,
    pub prediction: Option<Prediction>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    pub file: String,
    pub dataset: String,
    pub method: String,
    pub target: String,
    pub target_unit: String,
    pub limit: f64,
    pub inputs: Vec<String>,
}

/// What `/api/life` returns.
#[derive(Debug, Clone, Serialize)]
pub struct LifeView {
    /// `null`: no `[life] wear_model` configured, counters only.
    pub model: Option<ModelView>,
    pub note: Option<String>,
    pub tool_in_spindle: Option<String>,
    /// The tool in the spindle first, then the most recently used.
    pub tools: Vec<ToolView>,
    pub recent_changes: Vec<ToolChange>,
    pub components: Vec<ComponentView>,
}

struct Model {
    model: std::sync::Arc<WearModel>,
    file: String,
    dataset: String,
    depth_of_cut_mm: Option<f64>,
}

impl Model {
    fn method(&self) -> String {
        // A model file written before CV+ holds no inner models and falls back.
        let interval = if self.model.inner.is_empty() {
            "split-conformal"
        } else {
            "CV+ (jackknife+ over the training tools)"
        };
        format!(
            "wear model trained on the `{}` data set (models crate: Taylor prior per material, \
             ElasticNet on the inputs, monotone filter, {interval} P10/P90); usage = minutes \
             of cutting counted by this agent, inputs from each operation; not validated on this \
             machine: tool-change labels will tell",
            self.dataset
        )
    }
}

/// What the writer thread is asked to do, in order.
enum Write {
    Rows {
        /// tool id, counters, model state, prediction (JSON).
        tools: Vec<(String, String, Option<String>, Option<String>)>,
        bearing: Option<String>,
        /// The service history (`service.rs`), at most once a minute.
        service: Option<String>,
        now: i64,
    },
    /// A tool was changed: its stored usage goes (after any rows queued before).
    Delete(String),
    /// Answer once everything before is stored (a clean stop).
    Sync(mpsc::Sender<()>),
}

fn open_db(path: &Path) -> Result<Connection> {
    let db = Connection::open(path)?;
    db.busy_timeout(std::time::Duration::from_secs(5))?;
    // FULL on these connections (the sample writer uses NORMAL): each once-a-second commit of
    // the counters reaches the card, so a power cut loses at most that second.
    db.pragma_update(None, "synchronous", "FULL")?;
    db.execute_batch(SCHEMA)?;
    Ok(db)
}

fn write(db: &mut Connection, w: Write) -> Result<()> {
    match w {
        Write::Rows {
            tools,
            bearing,
            service,
            now,
        } => {
            let tx = db.transaction()?;
            if let Some(s) = service {
                super::service::save_json(&tx, &s, now)?;
            }
            if let Some(b) = bearing {
                tx.execute(
                    "INSERT INTO component_life (name, state, updated_ms) VALUES ('spindle-bearing', ?1, ?2)
                     ON CONFLICT(name) DO UPDATE SET state = ?1, updated_ms = ?2",
                    params![b, now],
                )?;
            }
            for (id, c, st, p) in tools {
                tx.execute(
                    "INSERT INTO tool_usage (tool_id, counters, model_state, prediction, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(tool_id) DO UPDATE SET counters = ?2, model_state = ?3, prediction = ?4, updated_ms = ?5",
                    params![id, c, st, p, now],
                )?;
            }
            tx.commit()?;
        }
        Write::Delete(id) => {
            db.execute("DELETE FROM tool_usage WHERE tool_id = ?1", [id])?;
        }
        Write::Sync(done) => {
            let _ = done.send(());
        }
    }
    Ok(())
}

fn spawn_writer(path: &Path) -> Result<mpsc::Sender<Write>> {
    let mut db = open_db(path)?;
    let (tx, rx) = mpsc::channel::<Write>();
    std::thread::Builder::new()
        .name("life-writer".into())
        .spawn(move || {
            for w in rx {
                if let Err(e) = write(&mut db, w) {
                    tracing::error!("life: storing tool usage failed: {e:#}");
                }
            }
        })?;
    Ok(tx)
}

struct Tracker {
    /// For the tool-change labels (written as they are reported).
    db: Connection,
    writer: mpsc::Sender<Write>,
    tools: HashMap<String, Entry>,
    spindle: Option<String>,
    /// Tools that cut since the last part boundary.
    in_part: BTreeSet<String>,
    last_flush_ms: i64,
    components: Components,
    /// Tool life per class from this machine's tool changes, refitted after each change.
    lifetimes: LifetimeModel,
}

pub struct Life {
    path: PathBuf,
    model: Option<Model>,
    /// `[life] tool_remaining_warning_min`, `tool_remaining_limit_min`.
    tool_levels: (Option<f64>, Option<f64>),
    inner: Mutex<Tracker>,
}

/// The reasons a tool change may give.
pub const REASONS: &[&str] = &["worn_out", "broken", "preventive"];

impl Life {
    /// Opens the tables in the store's file and restores every tool's counters.
    pub fn open(settings: &LifeSettings, store_path: &Path) -> Result<Life> {
        let db = open_db(store_path)?;
        let mut tools = HashMap::new();
        {
            let mut stmt =
                db.prepare("SELECT tool_id, counters, model_state, prediction FROM tool_usage")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            for row in rows {
                let (id, c, s, p) = row?;
                tools.insert(
                    id,
                    Entry {
                        counters: serde_json::from_str(&c)?,
                        state: s.and_then(|s| serde_json::from_str(&s).ok()),
                        prediction: p.and_then(|p| serde_json::from_str(&p).ok()),
                        ..Entry::default()
                    },
                );
            }
        }
        let components = Components::restore(settings, &db);
        let lifetimes = lifetimes::fit(&db).unwrap_or_else(|e| {
            tracing::error!("life: reading tool lifetimes from the store failed: {e:#}");
            LifetimeModel::fit(&[], USAGE_UNIT, lifetimes::MIN_ENDED)
        });
        let model = settings.wear_model.as_ref().map(|m| Model {
            model: m.model.clone(),
            file: m.path.display().to_string(),
            dataset: m.dataset.clone(),
            depth_of_cut_mm: settings.depth_of_cut_mm,
        });
        Ok(Life {
            path: store_path.to_path_buf(),
            model,
            tool_levels: (
                settings.tool_remaining_warning_min,
                settings.tool_remaining_limit_min,
            ),
            inner: Mutex::new(Tracker {
                writer: spawn_writer(store_path)?,
                db,
                tools,
                spindle: None,
                in_part: BTreeSet::new(),
                last_flush_ms: 0,
                components,
                lifetimes,
            }),
        })
    }

    /// One tick of the compliance evaluator (`dt_s` since the last). `cutting`: the tool of
    /// the open operation and the cutting seconds the segmenter added to it at this tick;
    /// `finished`: operations that ended at this tick; `part_done`: the parts counter went up.
    pub fn step(
        &self,
        frame: &Frame,
        dt_s: f64,
        cutting: Option<(&str, f64)>,
        finished: &[OperationRecord],
        part_done: bool,
    ) {
        let now = frame.now_ms;
        let mut guard = self.inner.lock().unwrap();
        // One reborrow, so that the tools and the lifetime model can be used side by side.
        let t = &mut *guard;
        t.spindle = frame
            .text("tool.id")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        t.components.step(frame, dt_s);
        t.components
            .step_service(frame, dt_s, cutting.map(|(_, s)| s));
        if let Some((id, cut_s)) = cutting {
            let feed = frame.num("channel.feedrate").unwrap_or(0.0).max(0.0);
            let e = t.tools.entry(id.to_string()).or_default();
            if e.counters.since_ms == 0 {
                e.counters.since_ms = now;
            }
            e.counters.cutting_min += cut_s / 60.0;
            e.counters.distance_mm += feed * cut_s / 60.0;
            e.counters.last_cut_ms = Some(now);
            e.dirty = true;
            t.in_part.insert(id.to_string());
        }
        for op in finished {
            let Some(id) = op.tool_id.as_deref() else {
                continue;
            };
            let e = t.tools.entry(id.to_string()).or_default();
            if e.counters.since_ms == 0 {
                e.counters.since_ms = op.start_ms;
            }
            e.counters.cuts += 1;
            e.dirty = true;
            let wear = self.model.as_ref().map(|m| predict(m, e, op, now));
            let class = lifetimes::class_of(op);
            let life = t.lifetimes.class(&class);
            match (wear, life) {
                (wear, Some(life)) => {
                    let wear = wear.and_then(Result::ok);
                    e.prediction = Some(from_lifetimes(life, wear, &e.counters, now));
                    e.note = None;
                }
                (Some(Ok(p)), None) => {
                    e.prediction = Some(p);
                    e.note = None;
                }
                (Some(Err(why)), None) => e.note = Some(why),
                (None, None) => {}
            }
        }
        if part_done {
            let used = std::mem::take(&mut t.in_part);
            for id in used {
                if let Some(e) = t.tools.get_mut(&id) {
                    e.counters.parts += 1;
                    e.dirty = true;
                }
            }
        }
        if now - t.last_flush_ms >= 1000 {
            t.last_flush_ms = now;
            if let Err(e) = flush(t, now) {
                tracing::error!("life: storing tool usage failed: {e:#}");
            }
        }
    }

    /// Writes what is not yet stored and waits until it is (at a clean stop).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        {
            let mut t = self.inner.lock().unwrap();
            t.components.dirty = true;
            t.components.save_service_now = true;
            if let Err(e) = flush(&mut t, crate::value::now_ms()) {
                tracing::error!("life: storing tool usage failed: {e:#}");
            }
            let _ = t.writer.send(Write::Sync(done));
        }
        let _ = wait.recv_timeout(std::time::Duration::from_secs(10));
    }

    /// A tool change from the shop floor: stores the lifetime record (the label) and starts
    /// the tool's counters and wear state afresh.
    pub fn change(
        &self,
        tool_id: &str,
        reason: &str,
        measured_vb_mm: Option<f64>,
        by: &str,
        now: i64,
    ) -> Result<ToolChange> {
        let mut t = self.inner.lock().unwrap();
        let old = t.tools.remove(tool_id).unwrap_or_default();
        let censored = reason == "preventive";
        let tx = t.db.transaction()?;
        tx.execute(
            "INSERT INTO tool_change (tool_id, ts_ms, reason, censored, measured_vb_mm, counters, prediction, by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                tool_id,
                now,
                reason,
                censored,
                measured_vb_mm,
                serde_json::to_string(&old.counters)?,
                old.prediction.as_ref().map(serde_json::to_string).transpose()?,
                by
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        // The new lifetime joins the training data at once.
        match lifetimes::fit(&t.db) {
            Ok(m) => t.lifetimes = m,
            Err(e) => tracing::error!("life: refitting tool lifetimes failed: {e:#}"),
        }
        // Through the writer, so that rows of the old tool queued before cannot come back.
        t.writer.send(Write::Delete(tool_id.to_string()))?;
        t.in_part.remove(tool_id);
        Ok(ToolChange {
            id,
            tool_id: tool_id.to_string(),
            ts_ms: now,
            reason: reason.to_string(),
            censored,
            measured_vb_mm,
            by: by.to_string(),
            counters: old.counters,
            prediction: old.prediction,
        })
    }

    /// Predicted life against its levels, for the alarm engine: components against
    /// `[life.components]`, the tool in the spindle against `[life] tool_remaining_*_min`.
    pub fn conditions(&self) -> Vec<crate::condition::Condition> {
        let t = self.inner.lock().unwrap();
        let mut out = t.components.conditions();
        if let Some(id) = &t.spindle {
            let p = t.tools.get(id).and_then(|e| e.prediction.as_ref());
            out.extend(super::tool_life::predicted_tool_conditions(
                id,
                p,
                self.tool_levels.0,
                self.tool_levels.1,
            ));
        }
        out
    }

    /// One tool's counters and latest prediction.
    pub fn tool(&self, id: &str) -> Option<(Counters, Option<Prediction>)> {
        let t = self.inner.lock().unwrap();
        t.tools
            .get(id)
            .map(|e| (e.counters.clone(), e.prediction.clone()))
    }

    /// The life view with the latest tool changes from the store (`/api/life`).
    pub fn view(&self, max_tools: usize) -> Result<LifeView> {
        let mut view = self.current(max_tools);
        // Read on a connection of its own, without holding up the evaluator's tick.
        view.recent_changes = changes(&Connection::open(&self.path)?, 20)?;
        Ok(view)
    }

    /// What is held in memory (tools, model, components), without `recent_changes`: no store
    /// access, for callers that do not show the changes (fleet publishing, exports).
    pub fn current(&self, max_tools: usize) -> LifeView {
        let t = self.inner.lock().unwrap();
        let mut tools: Vec<ToolView> = t
            .tools
            .iter()
            .map(|(id, e)| ToolView {
                tool_id: id.clone(),
                in_spindle: t.spindle.as_deref() == Some(id.as_str()),
                counters: e.counters.clone(),
                prediction: e.prediction.clone(),
                note: e.note.clone(),
            })
            .collect();
        tools.sort_by_key(|v| {
            (
                !v.in_spindle,
                std::cmp::Reverse(v.counters.last_cut_ms.unwrap_or(0)),
            )
        });
        tools.truncate(max_tools);
        let model = self.model.as_ref().map(|m| ModelView {
            file: m.file.clone(),
            dataset: m.dataset.clone(),
            method: m.method(),
            target: m.model.target_name.clone(),
            target_unit: m.model.target_unit.clone(),
            limit: m.model.limit,
            inputs: m.model.feature_names(),
        });
        let note = self.model.is_none().then(|| {
            "no [life] wear_model configured: usage counters only, no prediction".to_string()
        });
        LifeView {
            model,
            note,
            tool_in_spindle: t.spindle.clone(),
            tools,
            recent_changes: Vec::new(),
            components: t.components.view(),
        }
    }
}

fn changes(db: &Connection, limit: usize) -> Result<Vec<ToolChange>> {
    let mut stmt = db.prepare_cached(
        "SELECT id, tool_id, ts_ms, reason, censored, measured_vb_mm, counters, prediction, by
         FROM tool_change ORDER BY ts_ms DESC, id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, Option<f64>>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, String>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, tool_id, ts_ms, reason, censored, measured_vb_mm, c, p, by) = row?;
        out.push(ToolChange {
            id,
            tool_id,
            ts_ms,
            reason,
            censored,
            measured_vb_mm,
            by,
            counters: serde_json::from_str(&c)?,
            prediction: p.and_then(|p| serde_json::from_str(&p).ok()),
        });
    }
    Ok(out)
}

/// Hands what changed to the writer thread (serialising is cheap; the commit is not).
fn flush(t: &mut Tracker, now: i64) -> Result<()> {
    let service = t.components.service_due(now).transpose()?;
    if !t.tools.values().any(|e| e.dirty) && !t.components.dirty && service.is_none() {
        return Ok(());
    }
    let bearing = if t.components.dirty {
        t.components.dirty = false;
        Some(serde_json::to_string(&t.components.bearing)?)
    } else {
        None
    };
    let mut tools = Vec::new();
    for (id, e) in t.tools.iter_mut().filter(|(_, e)| e.dirty) {
        tools.push((
            id.clone(),
            serde_json::to_string(&e.counters)?,
            e.state.as_ref().map(serde_json::to_string).transpose()?,
            e.prediction
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        ));
        e.dirty = false;
    }
    t.writer.send(Write::Rows {
        tools,
        bearing,
        service,
        now,
    })?;
    Ok(())
}

/// The wear model's class and material code for an ISO 513 workpiece group: the trained
/// models know steel (P) and cast iron (K) only.
fn material(group: Option<&str>) -> Option<(&'static str, f64)> {
    match group? {
        "P" => Some(("steel", 2.0)),
        "K" => Some(("cast_iron", 1.0)),
        _ => None,
    }
}

/// Predicts after a finished operation; `Err` says why there is no prediction.
fn predict(m: &Model, e: &mut Entry, op: &OperationRecord, now: i64) -> Result<Prediction, String> {
    let (class, code) = material(op.workpiece_group.as_deref()).ok_or_else(|| {
        format!(
            "no prediction: workpiece group {} is outside the model's training materials (P steel, K cast iron)",
            op.workpiece_group.as_deref().unwrap_or("unknown")
        )
    })?;
    let mut cut = CutRecord::new(e.counters.cutting_min).with("material", code);
    let feed_per_rev = match (op.feed_mm_min, op.speed_rpm) {
        (Some(f), Some(n)) if n > 0.0 => Some(f / n),
        _ => None,
    };
    let inputs = [
        ("feed", feed_per_rev),
        ("DOC", m.depth_of_cut_mm),
        ("vc_m_min", op.vc_m_min),
        ("fz_mm", op.fz_mm),
        ("speed_rpm", op.speed_rpm),
        ("load_mean_pct", op.load_mean_pct),
        ("load_max_pct", op.load_max_pct),
        ("power_mean_kw", op.power_mean_kw),
        ("power_max_kw", op.power_max_kw),
    ];
    for (name, v) in inputs {
        if let Some(v) = v {
            cut = cut.with(name, v);
        }
    }
    let state = e.state.get_or_insert_with(|| m.model.new_tool(class));
    let p = m
        .model
        .predict_cut(state, &cut)
        .map_err(|err| format!("no prediction: {err}"))?;
    Ok(Prediction {
        at_ms: now,
        after_cut: e.counters.cuts,
        cutting_min: e.counters.cutting_min,
        vb: Some(p.vb),
        vb_unit: m.model.target_unit.clone(),
        limit: Some(p.limit),
        remaining_min: p.rul,
        remaining_cuts: in_cuts(&p.rul, &e.counters),
        class: class.to_string(),
        model_file: m.file.clone(),
        method: m.method(),
    })
}

/// Remaining minutes as remaining cuts, at this tool's mean minutes per cut so far.
fn in_cuts(minutes: &Quantiles, c: &Counters) -> Quantiles {
    let per_cut = c.cutting_min / c.cuts.max(1) as f64;
    let cuts = |q: f64| if per_cut > 0.0 { q / per_cut } else { 0.0 };
    Quantiles {
        p10: cuts(minutes.p10),
        p50: cuts(minutes.p50),
        p90: cuts(minutes.p90),
    }
}

/// Remaining life from the tool lifetimes of this machine's class, conditional on the
/// minutes this tool has survived; flank wear from the wear model where it predicted.
/// Lifetimes of the very tools, on this machine, beat a model trained on another data set.
fn from_lifetimes(
    life: &ClassLife,
    wear: Option<Prediction>,
    c: &Counters,
    now: i64,
) -> Prediction {
    let remaining = life.remaining(c.cutting_min);
    let method = format!(
        "remaining life: Weibull life of this machine's `{}` tools from {} tool changes in the          store ({} worn out; {} preventive or broken, censored), conditional on the {:.1} min          this tool has cut; 80 % band from a bias-corrected parametric bootstrap{}",
        life.class,
        life.lifetimes,
        life.ended,
        life.censored,
        c.cutting_min,
        wear.as_ref()
            .map(|w| format!("; flank wear: {}", w.method))
            .unwrap_or_default()
    );
    Prediction {
        at_ms: now,
        after_cut: c.cuts,
        cutting_min: c.cutting_min,
        vb: wear.as_ref().and_then(|w| w.vb),
        vb_unit: wear.as_ref().map(|w| w.vb_unit.clone()).unwrap_or_default(),
        limit: None,
        remaining_cuts: in_cuts(&remaining, c),
        remaining_min: remaining,
        class: life.class.clone(),
        model_file: "store".into(),
        method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn frame(t: i64, tool: &str, feed: f64) -> Frame {
        Frame::from_values(
            t,
            [
                ("tool.id", Value::Text(tool.into())),
                ("channel.feedrate", Value::Number(feed)),
            ],
        )
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
            speed_rpm: Some(2000.0),
            feed_mm_min: Some(600.0),
            ..OperationRecord::default()
        }
    }

    #[test]
    fn counts_only_while_cutting_and_survives_a_reopen() {
        let dir = std::env::temp_dir().join(format!("life-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("a.db");
        let _ = std::fs::remove_file(&db);
        let life = Life::open(&nasa(), &db).unwrap();
        // 60 s cutting at 600 mm/min, then 60 s idle with the tool in the spindle.
        let mut t = 1_000_000;
        for _ in 0..600 {
            t += 100;
            life.step(&frame(t, "T1", 600.0), 0.1, Some(("T1", 0.1)), &[], false);
        }
        for _ in 0..600 {
            t += 100;
            life.step(&frame(t, "T1", 0.0), 0.1, None, &[], false);
        }
        life.step(
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
        life.flush();
        drop(life);
        let again = Life::open(&nasa(), &db).unwrap();
        let v2 = again.view(10).unwrap();
        assert_eq!(v2.tools[0].counters, v.tools[0].counters);
        assert_eq!(v2.tools[0].prediction, v.tools[0].prediction);
        // A change stores the label and starts the tool afresh.
        let ch = again
            .change("T1", "preventive", Some(0.12), "test", t + 1)
            .unwrap();
        assert!(ch.censored && ch.counters.cuts == 1);
        let v3 = again.view(10).unwrap();
        assert!(v3.tools.is_empty());
        assert_eq!(v3.recent_changes[0].measured_vb_mm, Some(0.12));
    }

    #[test]
    fn materials_outside_the_training_data_get_no_prediction() {
        let dir = std::env::temp_dir().join(format!("life-unit-b-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("b.db"));
        let life = Life::open(&nasa(), &dir.join("b.db")).unwrap();
        let mut o = op("T9", 0, 1000);
        o.workpiece_group = Some("N".into());
        life.step(&frame(1000, "T9", 0.0), 0.0, None, &[o], false);
        let v = life.view(10).unwrap();
        assert!(v.tools[0].prediction.is_none());
        assert!(v.tools[0].note.as_deref().unwrap().contains("group N"));
    }

    #[test]
    fn the_machines_own_tool_lifetimes_take_over_remaining_life() {
        let dir = std::env::temp_dir().join(format!("life-unit-c-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.db");
        let records = super::super::records::Records::open(&path).unwrap();
        // No wear model: remaining life can only come from the lifetimes.
        let life = Life::open(&LifeSettings::default(), &path).unwrap();
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
            life.step(
                &frame(t, tool, 500.0),
                minutes * 60.0,
                Some((tool, minutes * 60.0)),
                &[],
                false,
            );
            let o = end_mill(tool, t);
            records.insert_operation(&o).unwrap();
            t += 2_000;
            life.step(&frame(t, tool, 0.0), 0.1, None, &[o], false);
            t += 1_000;
            t
        };
        for (tool, minutes, reason) in [
            ("A1", 20.0, "worn_out"),
            ("A2", 24.0, "worn_out"),
            ("A3", 15.0, "preventive"),
            ("A4", 22.0, "worn_out"),
            ("A5", 21.0, "worn_out"),
            ("A6", 23.0, "worn_out"),
        ] {
            let at = cut(tool, minutes);
            assert!(
                life.tool(tool).unwrap().1.is_none(),
                "{tool}: too few lifetimes yet"
            );
            life.change(tool, reason, None, "test", at).unwrap();
        }
        let read = lifetimes::read(&Connection::open(&path).unwrap()).unwrap();
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
        life.step(
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
        life.step(&frame(t + 1000, "B1", 0.0), 0.1, None, &[other], false);
        assert!(
            life.tool("B1").unwrap().1.is_none(),
            "no lifetimes of its class"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
