//! Process monitoring without teach-in: every operation of every program is watched against
//! what it looked like on its first good cycles, for a broken or missing tool, an overload and
//! a creeping wear drift.
//!
//! - **Runs.** The monitor cuts its own runs of an operation rather than reading the activity
//!   stage's operations: those end when the spindle is no longer loaded, which is exactly what
//!   a broken or missing tool looks like. A run is the ticks with one (program, operation,
//!   tool) while the spindle turns with the feed at a cutting rate (`[operations]
//!   max_cutting_feed_mm_min`), load or no load. It ends when the program, operation or tool
//!   changes or a part is finished; a reset (`channel.state` = reset) abandons it, since the
//!   program restarts the operation from its beginning; an interruption pauses it.
//! - **Envelopes** (`envelope.rs`, path position and feed-scaled level) are learned from the
//!   first `learn_cycles` runs of an operation on one tool that end without a finding, an
//!   interruption or a gap in the feed rate. A new tool (`tool.id`) or an edited program (a
//!   path `path_tolerance_pct` off) starts learning again while the old envelope still judges;
//!   the new one replaces it when it is ready and is stored (`monitor_envelope`), so a restart
//!   judges at once. The cycles being learned are stored after each (`monitor_learning`, binned
//!   as the envelope needs them), so a restart goes on learning from them.
//! - **Detectors** (`detectors.rs`) judge each sample; a finding becomes a condition (latched
//!   until the operation's next run: the broken tool is there until it is changed) and a
//!   record with its evidence (`monitor_finding`).
//! - **Never judged**: a value that is stale or unavailable (absent from the frame), not
//!   finite, a position past the learned path, an operation still learning. Each condition's
//!   message says which, while it cannot judge.

pub mod detectors;
pub mod envelope;

use std::collections::BTreeMap;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Evaluator, Output, Tick};
use crate::condition::Condition;
use crate::config::monitor::{Detector, MonitorSettings};
use crate::config::Config;
use crate::records::monitor::{
    Envelope, Finding, FindingKind, LearnedCycle, Learning, OperationKey,
};
use crate::store::{Record, Store};
use crate::supervise::lock;
use crate::text::Text;
use detectors::{Evidence, Sample, Watch};
use envelope::{Band, Trace};

/// Where the conditions come from.
const SOURCE: &str = "process monitor: the operation's envelope learned from its own cycles";
const SOURCE_ZH: &str = "过程监控：由该工序自身加工循环学习得到的负载包络线";
/// Samples a run needs before it can be learned from.
const MIN_SAMPLES: usize = 5;
/// A feed within this share of the last tick's is steady.
const STEADY: f64 = 0.25;
/// Load indices (one per judged cycle) kept per operation for the wear drift.
const MAX_INDICES: usize = 64;
/// The wear drift compares like with like: a sample counts towards it only with the feed
/// within this share of the one its envelope learned there. The load does not follow the feed
/// exactly (a feed override changes the chip thickness, and the cutting force follows it by
/// h^(1−mc), not h; the spindle's no-load power does not follow it at all), so at a reduced
/// feed the feed-scaled load reads high with no wear at all: on the simulator most of the
/// drift warnings of normal cutting came at 80-90 % feed on tools barely worn.
const LIKE_FEED: f64 = 0.05;

type Identity = (Option<String>, Option<String>, Option<String>);

fn identity(f: &super::frame::Frame) -> Identity {
    let t = |n: &str| f.text(n).filter(|s| !s.is_empty()).map(str::to_string);
    (t("channel.program"), t("channel.operation"), t("tool.id"))
}

/// The operation a run belongs to: by name where `channel.operation` is mapped, else by the
/// tool (so a new tool starts with no envelope).
fn key_of(id: &Identity) -> Option<OperationKey> {
    let program = id.0.clone().unwrap_or_else(|| "-".into());
    match (&id.1, &id.2) {
        (Some(op), _) => Some(OperationKey {
            program,
            operation: op.clone(),
        }),
        (None, Some(tool)) => Some(OperationKey {
            program,
            operation: format!("tool {tool}"),
        }),
        (None, None) => None,
    }
}

/// Cycles being learned for one tool and signal.
#[derive(Debug, Clone)]
struct Learner {
    tool_id: Option<String>,
    signal: &'static str,
    cycles: Vec<LearnedCycle>,
}

impl Learner {
    fn record(&self, key: &OperationKey, now_ms: i64) -> Learning {
        Learning {
            key: key.clone(),
            tool_id: self.tool_id.clone(),
            signal: self.signal.to_string(),
            cycles: self.cycles.clone(),
            updated_ms: now_ms,
        }
    }

    /// The learning a store kept, if it still fits: its signal is one the monitor reads, and
    /// its cycles were binned as the settings bin them now.
    fn restored(l: Learning, bins: usize) -> Option<Learner> {
        let signal = match l.signal.as_str() {
            "spindle.load" => "spindle.load",
            "spindle.power" => "spindle.power",
            _ => return None,
        };
        if l.cycles.is_empty() || l.cycles.iter().any(|c| c.bins.len() != bins) {
            return None;
        }
        Some(Learner {
            tool_id: l.tool_id,
            signal,
            cycles: l.cycles,
        })
    }
}

/// One watched operation.
#[derive(Debug, Default)]
struct Slot {
    envelope: Option<Envelope>,
    learner: Option<Learner>,
    /// Findings of the latest run, and the wear drift's, as conditions stand now.
    active: BTreeMap<FindingKind, Text>,
    /// Feed-normalised mean load of each cycle judged by the envelope, oldest first.
    indices: Vec<f64>,
    /// Why the detectors cannot judge now (`None`: they judge).
    cannot: Option<Text>,
}

struct Run {
    key: OperationKey,
    identity: Identity,
    tool_id: Option<String>,
    start_ms: i64,
    time_s: f64,
    pos_mm: f64,
    signal: &'static str,
    trace: Trace,
    /// Learnable: no interruption, no tick feeding without a feed rate.
    clean: bool,
    watches: Vec<Watch>,
    /// Σ value / expected over samples where a cut is expected at the learned feed, their
    /// count, and the count of every sample where a cut is expected.
    index: (f64, u32, u32),
    /// The feed at the last tick, for telling a steady feed from a transient.
    last_feed: Option<f64>,
    /// What the page's chart draws of this run.
    live: LiveRun,
}

/// What the monitor shows: per operation, whether it is learned and what its detectors say.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct OperationStatus {
    pub program: String,
    pub operation: String,
    pub tool_id: Option<String>,
    pub signal: Option<String>,
    pub learned_cycles: Option<u32>,
    /// While learning: [cycles learned so far, cycles needed].
    #[schema(value_type = Option<Vec<u32>>, min_items = 2, max_items = 2)]
    pub learning: Option<(usize, u32)>,
    pub cannot_judge: Option<String>,
    /// The same in Simplified Chinese.
    pub cannot_judge_zh: Option<String>,
    pub active: Vec<String>,
}

/// The operation under way as the page's load chart draws it: each judged sample at its path
/// position with the band the envelope expects there (none while the operation is learned).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct LiveRun {
    pub program: String,
    pub operation: String,
    pub tool_id: Option<String>,
    /// `spindle.load` (%) or `spindle.power` (kW).
    pub signal: String,
    /// Path travelled at a cutting feed, mm: the x of `points` (robust to feed overrides).
    pub path_mm: f64,
    /// [position mm, value, lower, upper]; `lower`/`upper` `null` where there is no band.
    #[schema(value_type = Vec<Vec<Option<f64>>>)]
    pub points: Vec<(f64, f64, Option<f64>, Option<f64>)>,
}

/// Points a live run keeps at most: beyond, every other one is dropped (a long operation
/// keeps its shape at half the resolution).
const LIVE_POINTS: usize = 600;

/// The monitor's view, shared with whoever shows it.
#[derive(Default)]
pub struct View {
    /// `[monitor]` is on.
    pub enabled: bool,
    operations: Mutex<Vec<OperationStatus>>,
    /// The operation under way, or the last one until the next starts (a chart stays drawn
    /// between operations).
    live: Mutex<Option<LiveRun>>,
}

impl View {
    pub fn get(&self) -> Vec<OperationStatus> {
        lock(&self.operations).clone()
    }

    /// The operation under way, or the last one.
    pub fn live(&self) -> Option<LiveRun> {
        lock(&self.live).clone()
    }
}

pub struct Monitor {
    settings: MonitorSettings,
    max_cutting_feed: f64,
    slots: BTreeMap<OperationKey, Slot>,
    run: Option<Run>,
    view: Arc<View>,
    feed_hold: Option<FeedHold>,
}

/// A finding that asks for the feed-hold output (`[monitor.feed_hold]`), handed to whoever
/// drives the pin the moment the detector decides.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub kind: FindingKind,
    pub message: String,
    /// When the detector decided: the output's latency counts from here.
    pub detected: Instant,
}

/// Where hold requests go, and for which kinds.
struct FeedHold {
    kinds: Vec<FindingKind>,
    tx: SyncSender<HoldRequest>,
}

impl FeedHold {
    /// Hands on the findings among `records` that ask for a hold; never blocks the tick (a
    /// driver that does not keep up loses requests, and the output is held already).
    fn request(&self, records: &[Record], detected: Instant) {
        for r in records {
            if let Record::MonitorFinding(f) = r {
                if self.kinds.contains(&f.kind) {
                    let _ = self.tx.try_send(HoldRequest {
                        kind: f.kind,
                        message: f.message.clone(),
                        detected,
                    });
                }
            }
        }
    }
}

impl Monitor {
    /// The monitor with the envelopes the store kept.
    pub fn open(config: &Config, store: &Store) -> Monitor {
        let mut m = Monitor::new(
            config.monitor.clone(),
            config.operations.max_cutting_feed_mm_min,
        );
        match store.restore("monitor", |r| r.envelopes(m.settings.max_operations)) {
            Ok(Some(envs)) => {
                for e in envs {
                    let key = e.key.clone();
                    m.slots.entry(key).or_default().envelope = Some(e);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("monitor: envelopes not restored, learned again: {e:#}"),
        }
        // Envelopes still being learned go on from the cycles already seen.
        let limit = m.settings.max_operations;
        match store.restore("monitor", |r| r.monitor_learnings(limit)) {
            Ok(Some(ls)) => {
                for l in ls {
                    let key = l.key.clone();
                    if !m.slots.contains_key(&key) && m.slots.len() >= limit {
                        continue;
                    }
                    match Learner::restored(l, m.settings.bins) {
                        Some(learner) => m.slots.entry(key).or_default().learner = Some(learner),
                        None => tracing::info!(
                            "monitor: {key}: the stored learning does not fit the settings \
                             now (bins, signal), learned again"
                        ),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("monitor: learning not restored, learned again: {e:#}"),
        }
        m
    }

    pub fn new(settings: MonitorSettings, max_cutting_feed: f64) -> Monitor {
        let enabled = settings.enabled;
        Monitor {
            settings,
            max_cutting_feed,
            slots: BTreeMap::new(),
            run: None,
            view: Arc::new(View {
                enabled,
                ..View::default()
            }),
            feed_hold: None,
        }
    }

    /// Hands every finding of the `[monitor.feed_hold]` kinds to `tx` as it is made (nothing
    /// without that section).
    pub fn set_feed_hold(&mut self, tx: SyncSender<HoldRequest>) {
        self.feed_hold = self.settings.feed_hold.as_ref().map(|f| FeedHold {
            kinds: f.kinds.clone(),
            tx,
        });
    }

    pub fn view(&self) -> Arc<View> {
        self.view.clone()
    }

    fn band(&self) -> Band {
        Band {
            band_pct: self.settings.band_pct,
            scatter_k: self.settings.scatter_k,
            path_tolerance: self.settings.path_tolerance_pct / 100.0,
        }
    }

    /// The feed rate when the frame shows the tool feeding at a cutting rate.
    fn feeding(&self, f: &super::frame::Frame) -> Option<f64> {
        let rotating = f
            .flag("spindle.rotating")
            .or_else(|| f.num("spindle.speed").map(|n| n > 1.0))?;
        let feed = f.num("channel.feedrate").filter(|v| v.is_finite())?;
        (rotating && feed > 0.0 && feed <= self.max_cutting_feed).then_some(feed)
    }

    /// Ends the open run; `finished`: it ran to its end (not abandoned by a reset).
    fn end_run(&mut self, finished: bool, now_ms: i64, records: &mut Vec<Record>) {
        let Some(run) = self.run.take() else { return };
        let found = run.watches.iter().any(|w| w.found.is_some());
        let n = self.settings.learn_cycles as usize;
        let tol = self.settings.path_tolerance_pct / 100.0;
        let bins = self.settings.bins;
        let drift = self
            .settings
            .detectors
            .iter()
            .find(|d| matches!(d, Detector::WearDrift { .. }))
            .cloned();
        let slot = self.slots.entry(run.key.clone()).or_default();
        if !(finished && run.clean && !found && run.trace.len() >= MIN_SAMPLES) {
            return;
        }
        let mut trace = run.trace;
        trace.path_mm = run.pos_mm;
        let current = slot.envelope.as_ref().is_some_and(|e| {
            e.tool_id == run.tool_id
                && e.signal == run.signal
                && ((run.pos_mm - e.path_mm).abs() <= tol * e.path_mm)
        });
        if current {
            // Judged by its own envelope: a point of the wear drift.
            // A cycle cut mostly at another feed (an override) is no point of the drift.
            if run.index.1 > 0 && 2 * run.index.1 >= run.index.2 {
                slot.indices.push(run.index.0 / f64::from(run.index.1));
                if slot.indices.len() > MAX_INDICES {
                    slot.indices.remove(0);
                }
            }
            if let Some(d) = &drift {
                let env = slot.envelope.as_ref().expect("current");
                // Wear does not heal: once raised, the warning holds until another tool cuts,
                // rather than coming and going with the part-to-part scatter of a worn tool.
                if let Some((mean, true)) = detectors::drift(d, &slot.indices) {
                    let message =
                        drift_message(&run.key, mean, &env.signal, run.tool_id.as_deref());
                    if !slot.active.contains_key(&FindingKind::WearDrift) {
                        records.push(Record::MonitorFinding(Box::new(Finding {
                            ts_ms: now_ms,
                            key: run.key.clone(),
                            tool_id: run.tool_id.clone(),
                            operation_start_ms: run.start_ms,
                            kind: FindingKind::WearDrift,
                            time_into_s: run.time_s,
                            position: 1.0,
                            signal: env.signal.clone(),
                            measured: mean * env.mean,
                            expected: env.mean,
                            lower: 0.0,
                            upper: env.mean * (1.0 + drift_rise(d) / 100.0),
                            message: message.en.clone(),
                            message_zh: Some(message.zh.clone()),
                        })));
                    }
                    slot.active.insert(FindingKind::WearDrift, message);
                }
            }
            return;
        }
        // A new tool, a new signal, an edited program or none learned yet: learn (the old
        // envelope judges meanwhile).
        let Some(cycle) = trace.summary(bins) else {
            return;
        };
        let same = slot.learner.as_ref().is_some_and(|l| {
            l.tool_id == run.tool_id
                && l.signal == run.signal
                && l.cycles
                    .first()
                    .is_some_and(|c| (c.path_mm - cycle.path_mm).abs() <= tol * c.path_mm)
        });
        if !same {
            slot.learner = Some(Learner {
                tool_id: run.tool_id.clone(),
                signal: run.signal,
                cycles: Vec::new(),
            });
        }
        let learner = slot.learner.as_mut().expect("set");
        learner.cycles.push(cycle);
        if learner.cycles.len() < n {
            // Stored after each cycle: a restart goes on from here.
            records.push(Record::MonitorLearning(Box::new(
                learner.record(&run.key, now_ms),
            )));
            return;
        }
        let l = slot.learner.take().expect("set");
        let learned = envelope::learn(
            &run.key,
            l.tool_id.as_deref(),
            l.signal,
            &l.cycles,
            bins,
            now_ms,
        );
        match learned {
            Some(env) => {
                tracing::info!(
                    "monitor: {} learned from {} cycles ({}, path {:.0} mm)",
                    run.key,
                    env.cycles,
                    env.signal,
                    env.path_mm
                );
                // Storing it ends the stored learning too.
                records.push(Record::MonitorEnvelope(Box::new(env.clone())));
                slot.envelope = Some(env);
                slot.indices.clear();
                slot.active.remove(&FindingKind::WearDrift);
            }
            None => {
                let none = Learner {
                    cycles: Vec::new(),
                    ..l
                };
                records.push(Record::MonitorLearning(Box::new(
                    none.record(&run.key, now_ms),
                )));
            }
        }
    }

    fn conditions(&self) -> Vec<Condition> {
        let mut out = Vec::new();
        for (key, slot) in &self.slots {
            for d in &self.settings.detectors {
                let kind = d.kind();
                let active = slot.active.get(&kind);
                let message = match (active, &slot.cannot) {
                    (Some(m), _) => m.clone(),
                    (None, Some(why)) => cannot_message(key, kind, why),
                    (None, None) => Text::new(
                        format!("{key}: no {}", kind.as_str()),
                        format!("{key}：无{}", kind_zh(kind)),
                    ),
                };
                out.push(Condition {
                    key: condition_key(key, kind),
                    active: active.is_some(),
                    severity: d.severity(),
                    message: message.en,
                    message_zh: message.zh,
                    source: SOURCE.into(),
                    source_zh: SOURCE_ZH.into(),
                });
            }
        }
        out
    }

    fn publish_view(&self) {
        let v = self
            .slots
            .iter()
            .map(|(k, s)| OperationStatus {
                program: k.program.clone(),
                operation: k.operation.clone(),
                tool_id: s.envelope.as_ref().and_then(|e| e.tool_id.clone()),
                signal: s.envelope.as_ref().map(|e| e.signal.clone()),
                learned_cycles: s.envelope.as_ref().map(|e| e.cycles),
                learning: s
                    .learner
                    .as_ref()
                    .map(|l| (l.cycles.len(), self.settings.learn_cycles)),
                cannot_judge: s.cannot.as_ref().map(|t| t.en.clone()),
                cannot_judge_zh: s.cannot.as_ref().map(|t| t.zh.clone()),
                active: s.active.keys().map(|k| k.as_str().to_string()).collect(),
            })
            .collect();
        *lock(&self.view.operations) = v;
    }
}

fn drift_rise(d: &Detector) -> f64 {
    match d {
        Detector::WearDrift { rise_pct, .. } => *rise_pct,
        _ => 0.0,
    }
}

/// One alarm per operation and detector kind.
pub fn condition_key(key: &OperationKey, kind: FindingKind) -> String {
    format!(
        "monitor:{}:{}:{}",
        key.program,
        key.operation,
        kind.as_str()
    )
}

impl Evaluator for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }

    fn step(&mut self, tick: &Tick) -> Output {
        let mut records = Vec::new();
        if !self.settings.enabled {
            return Output::default();
        }
        let f = tick.frame;
        let now = f.now_ms;
        let id = identity(f);
        let channel = f.text("channel.state");
        let reset = channel == Some("reset");
        if let Some(run) = &self.run {
            if reset {
                self.end_run(false, now, &mut records);
            } else if run.identity != id || tick.activity.part_boundary() {
                self.end_run(true, now, &mut records);
            }
            if let Some(h) = &self.feed_hold {
                h.request(&records, Instant::now());
            }
        }
        let feed = self.feeding(f);
        if self.run.is_none() && !reset && feed.is_some() {
            if let Some(key) = key_of(&id) {
                if self.slots.contains_key(&key) || self.slots.len() < self.settings.max_operations
                {
                    let slot = self.slots.entry(key.clone()).or_default();
                    // A new run: the last one's findings are over (the tool was changed, or
                    // the operation ran again).
                    slot.active.retain(|k, _| *k == FindingKind::WearDrift);
                    // ... and so is the wear drift when another tool cuts.
                    if slot.envelope.as_ref().is_some_and(|e| e.tool_id != id.2) {
                        slot.active.remove(&FindingKind::WearDrift);
                        slot.indices.clear();
                    }
                    let signal = match &slot.envelope {
                        Some(e) if e.signal == "spindle.power" => "spindle.power",
                        Some(_) => "spindle.load",
                        None if f.num("spindle.load").is_some() => "spindle.load",
                        None => "spindle.power",
                    };
                    let live_key = key.clone();
                    self.run = Some(Run {
                        key,
                        tool_id: id.2.clone(),
                        identity: id.clone(),
                        start_ms: now,
                        time_s: 0.0,
                        pos_mm: 0.0,
                        signal,
                        trace: Trace::default(),
                        clean: true,
                        watches: self
                            .settings
                            .detectors
                            .iter()
                            .filter(|d| !matches!(d, Detector::WearDrift { .. }))
                            .cloned()
                            .map(Watch::new)
                            .collect(),
                        index: (0.0, 0, 0),
                        last_feed: None,
                        live: LiveRun {
                            program: live_key.program,
                            operation: live_key.operation,
                            tool_id: id.2.clone(),
                            signal: signal.to_string(),
                            ..LiveRun::default()
                        },
                    });
                }
            }
        }
        let band = self.band();
        if let Some(run) = &mut self.run {
            if feed.is_none() {
                run.last_feed = None;
            }
            let slot = self.slots.entry(run.key.clone()).or_default();
            let cannot: Option<Text> = if channel == Some("interrupted") {
                run.clean = false;
                Some(Text::new("the channel is interrupted", "通道处于中断状态"))
            } else if let Some(feed) = feed {
                // A feed that is not steady is a transient (a rapid move passing through a
                // cutting rate as it ends, an override stepping, the first tick of a cut): its
                // path would shift every position after it by a different amount each cycle,
                // so it neither moves the position nor is learned from. Its value is still
                // judged where the position stands: a tool that breaks as it enters the cut
                // is seen a tick earlier, and a lone transient cannot raise a finding (every
                // detector needs a second sample below, or a spike before the drop).
                let last = run.last_feed.replace(feed);
                let steady = last.is_some_and(|l| (feed - l).abs() <= STEADY * l);
                if steady {
                    run.pos_mm += feed * tick.dt_s / 60.0;
                    run.time_s += tick.dt_s;
                }
                match f.num(run.signal).filter(|v| v.is_finite()) {
                    None => Some(no_good_value(run.signal)),
                    Some(value) => {
                        if steady {
                            run.trace.push(run.pos_mm, value, feed);
                        }
                        let judged = Judged {
                            value,
                            feed,
                            steady,
                            dt_s: tick.dt_s,
                            now_ms: now,
                        };
                        let before = records.len();
                        let pos = run.pos_mm;
                        let judged = judge(run, slot, band, judged, &mut records);
                        let (lo, hi) = match &judged {
                            Ok(e) => (Some(e.lower), Some(e.upper)),
                            Err(_) => (None, None),
                        };
                        push_live(&mut run.live, (pos, value, lo, hi));
                        if let Some(h) = &self.feed_hold {
                            h.request(&records[before..], Instant::now());
                        }
                        judged.err().map(|why| {
                            if why == LEARNING {
                                learning(
                                    slot.learner.as_ref().map_or(0, |l| l.cycles.len()),
                                    self.settings.learn_cycles,
                                )
                            } else {
                                why_text(why)
                            }
                        })
                    }
                }
            } else if f.num("channel.feedrate").is_none() {
                // Feeding or not cannot be told: the position is lost for this run.
                run.clean = false;
                Some(no_good_value("channel.feedrate"))
            } else {
                None
            };
            slot.cannot = cannot;
        }
        self.publish_view();
        if let Some(r) = &self.run {
            *lock(&self.view.live) = Some(LiveRun {
                path_mm: r.pos_mm,
                ..r.live.clone()
            });
        }
        Output {
            conditions: self.conditions(),
            records,
        }
    }
}

/// Why a sample was not judged while the operation has no envelope.
const LEARNING: &str = "learning";

/// One good sample of a run.
struct Judged {
    value: f64,
    feed: f64,
    /// The feed was steady (the position moved): the sample counts towards the wear drift.
    steady: bool,
    dt_s: f64,
    now_ms: i64,
}

/// Hands a sample to the run's detectors; a finding becomes a record and an active condition.
/// `Err`: why it could not be judged.
fn judge(
    run: &mut Run,
    slot: &mut Slot,
    band: Band,
    j: Judged,
    records: &mut Vec<Record>,
) -> Result<envelope::Expect, &'static str> {
    let env = slot.envelope.as_ref().ok_or(LEARNING)?;
    if env.signal != run.signal {
        return Err("the envelope was learned on another signal than the one read now");
    }
    let expect = envelope::expect(env, band, run.pos_mm, j.feed).ok_or("past the learned path")?;
    let s = Sample {
        time_s: run.time_s,
        value: j.value,
        expect,
    };
    if j.steady && expect.cutting && expect.expected > 0.0 {
        run.index.2 += 1;
        if (j.feed / expect.learned_feed - 1.0).abs() <= LIKE_FEED {
            run.index.0 += j.value / expect.expected;
            run.index.1 += 1;
        }
    }
    for i in 0..run.watches.len() {
        if let Some(e) = run.watches[i].sample(&s, j.dt_s) {
            let kind = run.watches[i].detector.kind();
            let msg = message(run, env, kind, &e);
            records.push(Record::MonitorFinding(Box::new(finding(
                run, env, kind, &e, &msg, j.now_ms,
            ))));
            slot.active.insert(kind, msg);
        }
    }
    Ok(expect)
}

/// Appends a point to a live run, halving the resolution when it is full.
fn push_live(live: &mut LiveRun, p: (f64, f64, Option<f64>, Option<f64>)) {
    if live.points.len() >= LIVE_POINTS {
        let mut i = 0;
        live.points.retain(|_| {
            i += 1;
            i % 2 == 1
        });
    }
    live.points.push(p);
}

fn message(run: &Run, env: &Envelope, kind: FindingKind, e: &Evidence) -> Text {
    finding_message(&run.key, kind, e, &env.signal, run.tool_id.as_deref())
}

fn finding_message(
    key: &OperationKey,
    kind: FindingKind,
    e: &Evidence,
    signal: &str,
    tool: Option<&str>,
) -> Text {
    let (what, what_zh) = match kind {
        FindingKind::Breakage => (
            "tool breakage: the load fell below its band",
            "断刀：负载跌出允许范围下限",
        ),
        FindingKind::MissingTool => (
            "missing tool: no load where the operation cuts",
            "缺刀：应切削处无负载",
        ),
        FindingKind::Overload => (
            "overload: the load is above its band",
            "过载：负载超出允许范围上限",
        ),
        FindingKind::WearDrift => ("wear drift", "刀具磨损趋势"),
    };
    Text::new(
        format!(
            "{key}: {what} at {:.1} s into the operation ({:.0} % of its path): {signal} {:.2}, \
             expected {:.2} (band {:.2} to {:.2}), tool {}",
            e.time_s,
            e.position * 100.0,
            e.measured,
            e.expected,
            e.lower,
            e.upper,
            tool.unwrap_or("unknown")
        ),
        format!(
            "{key}：{what_zh}，工序开始后 {:.1} s（路径的 {:.0} %）：{signal} 实测 {:.2}，预期 \
             {:.2}（允许范围 {:.2} 至 {:.2}），刀具 {}",
            e.time_s,
            e.position * 100.0,
            e.measured,
            e.expected,
            e.lower,
            e.upper,
            tool.unwrap_or("未知")
        ),
    )
}

fn drift_message(key: &OperationKey, mean: f64, signal: &str, tool: Option<&str>) -> Text {
    Text::new(
        format!(
            "{key}: wear drift, the mean load of the last cycles is {:.0} % of the learned one \
             ({signal} {})",
            mean * 100.0,
            tool.unwrap_or("tool unknown")
        ),
        format!(
            "{key}：刀具磨损趋势，最近几个循环的平均负载为学习值的 {:.0} %（{signal}，刀具 {}）",
            mean * 100.0,
            tool.unwrap_or("未知")
        ),
    )
}

/// The detector kinds as the shop floor names them.
fn kind_zh(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Breakage => "断刀",
        FindingKind::MissingTool => "缺刀",
        FindingKind::Overload => "过载",
        FindingKind::WearDrift => "磨损趋势",
    }
}

fn cannot_message(key: &OperationKey, kind: FindingKind, why: &Text) -> Text {
    Text::new(
        format!("{key}: {} cannot judge: {}", kind.as_str(), why.en),
        format!("{key}：{}监测无法判断：{}", kind_zh(kind), why.zh),
    )
}

fn no_good_value(signal: &str) -> Text {
    Text::new(
        format!("no good {signal} now"),
        format!("当前没有有效的 {signal} 值"),
    )
}

fn learning(done: usize, of: u32) -> Text {
    Text::new(
        format!("learning ({done} of {of} cycles)"),
        format!("学习中（{of} 个循环已完成 {done} 个）"),
    )
}

/// The reasons [`judge`] gives for not judging a sample.
fn why_text(why: &'static str) -> Text {
    let zh = match why {
        "the envelope was learned on another signal than the one read now" => {
            "包络线是用另一个信号学习的，不是当前读取的信号"
        }
        "past the learned path" => "已超出学习过的加工路径",
        other => other,
    };
    Text::new(why, zh)
}

fn finding(
    run: &Run,
    env: &Envelope,
    kind: FindingKind,
    e: &Evidence,
    msg: &Text,
    now: i64,
) -> Finding {
    Finding {
        ts_ms: now,
        key: run.key.clone(),
        tool_id: run.tool_id.clone(),
        operation_start_ms: run.start_ms,
        kind,
        time_into_s: e.time_s,
        position: e.position,
        signal: env.signal.clone(),
        measured: e.measured,
        expected: e.expected,
        lower: e.lower,
        upper: e.upper,
        message: msg.en.clone(),
        message_zh: Some(msg.zh.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OperationSettings;
    use crate::evaluators::frame::Frame;
    use crate::evaluators::operations::Activity;
    use crate::value::Value;
    use std::time::Duration;

    /// Drives a monitor with synthetic cycles: 100 ms ticks of machine time.
    struct Rig {
        monitor: Monitor,
        activity: Activity,
        t: i64,
    }

    /// What one tick shows.
    #[derive(Clone, Copy)]
    struct Show {
        feed: f64,
        load: Option<f64>,
    }

    impl Rig {
        fn new(settings: MonitorSettings) -> Rig {
            Rig {
                monitor: Monitor::new(settings, 10_000.0),
                activity: Activity::new(OperationSettings {
                    tick: Duration::from_millis(100),
                    min_load_pct: 2.0,
                    max_cutting_feed_mm_min: 10_000.0,
                    start_delay: Duration::from_millis(300),
                    end_delay: Duration::from_millis(1000),
                }),
                t: 0,
            }
        }

        fn tick(&mut self, op: &str, tool: &str, s: Show) -> Output {
            self.t += 100;
            let mut f = Frame::from_values(
                self.t,
                [
                    ("spindle.rotating", Value::Bool(true)),
                    ("channel.feedrate", Value::Number(s.feed)),
                    ("channel.program", Value::Text("O1".into())),
                    ("channel.operation", Value::Text(op.into())),
                    ("channel.state", Value::Text("active".into())),
                    ("tool.id", Value::Text(tool.into())),
                ],
            );
            if let Some(l) = s.load {
                f = f.with("spindle.load", Value::Number(l));
            }
            self.activity.step(&f, 0.1);
            self.monitor.step(&Tick {
                frame: &f,
                dt_s: 0.1,
                activity: &self.activity,
                devices: &[],
            })
        }

        /// One cycle of OP10: 100 ticks of feeding at `feed` (a 1000 mm path at 1000 mm/min
        /// takes 60 s: 600 ticks; shortened to 200 mm), the load from `load(i, feed)`, then a
        /// tick of OP20 to end it. Returns every output.
        fn cycle(
            &mut self,
            tool: &str,
            feed: f64,
            load: impl Fn(usize, f64) -> Option<f64>,
        ) -> Vec<Output> {
            let ticks = (200.0 / (feed / 600.0)).round() as usize;
            let mut out: Vec<Output> = (0..ticks)
                .map(|i| {
                    self.tick(
                        "OP10",
                        tool,
                        Show {
                            feed,
                            load: load(i * 120 / ticks, feed),
                        },
                    )
                })
                .collect();
            out.push(self.tick(
                "",
                tool,
                Show {
                    feed: 0.0,
                    load: Some(0.0),
                },
            ));
            out
        }
    }

    /// The load of a normal cycle at a position (0..120): an entry, then 20 % at 1000 mm/min,
    /// proportional to the feed, with a little scatter from `seed`.
    fn normal(seed: u64) -> impl Fn(usize, f64) -> Option<f64> {
        move |i, feed| {
            let wobble = (((i as u64 * 7919 + seed * 104_729) % 17) as f64 - 8.0) / 8.0 * 0.3;
            let level = if i < 10 { 6.0 } else { 20.0 };
            Some((level * feed / 1000.0 + wobble).max(0.0))
        }
    }

    fn find(out: &[Output], kind: FindingKind) -> Option<&Condition> {
        out.last().and_then(|o| {
            o.conditions
                .iter()
                .find(|c| c.key == format!("monitor:O1:OP10:{}", kind.as_str()))
        })
    }

    fn findings(out: &[Output]) -> Vec<Finding> {
        out.iter()
            .flat_map(|o| &o.records)
            .filter_map(|r| match r {
                Record::MonitorFinding(f) => Some((**f).clone()),
                _ => None,
            })
            .collect()
    }

    fn on() -> MonitorSettings {
        MonitorSettings {
            enabled: true,
            ..MonitorSettings::default()
        }
    }

    #[test]
    fn every_monitor_message_reads_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        let key = OperationKey {
            program: "O1000".into(),
            operation: "OP10".into(),
        };
        let e = Evidence {
            time_s: 12.34,
            position: 0.456,
            measured: 3.21,
            expected: 40.5,
            lower: 30.25,
            upper: 50.75,
        };
        let ids = &["O1000", "OP10", "T2-0007", "spindle.load", "s", "%"];
        for kind in FindingKind::ALL {
            chinese(
                &finding_message(&key, kind, &e, "spindle.load", Some("T2-0007")),
                ids,
            );
            chinese(&finding_message(&key, kind, &e, "spindle.load", None), ids);
            for why in [
                learning(1, 3),
                no_good_value("spindle.load"),
                no_good_value("channel.feedrate"),
                why_text("past the learned path"),
                why_text("the envelope was learned on another signal than the one read now"),
                Text::new("the channel is interrupted", "通道处于中断状态"),
            ] {
                chinese(
                    &cannot_message(&key, kind, &why),
                    &["O1000", "OP10", "spindle.load", "channel.feedrate"],
                );
            }
        }
        chinese(
            &drift_message(&key, 1.234, "spindle.power", Some("T1")),
            &["O1000", "OP10", "spindle.power", "T1", "%"],
        );
    }

    #[test]
    fn learns_in_its_cycles_then_finds_a_breakage_with_its_evidence() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            let out = rig.cycle("T1", 1000.0, normal(k));
            let c = find(&out[..out.len() - 1], FindingKind::Breakage).unwrap();
            assert!(!c.active);
            assert!(
                c.message
                    .contains(&format!("cannot judge: learning ({k} of 3 cycles)")),
                "{}",
                c.message
            );
            let learned = out
                .iter()
                .flat_map(|o| &o.records)
                .any(|r| matches!(r, Record::MonitorEnvelope(_)));
            assert_eq!(learned, k == 2, "learned at the third cycle");
        }
        // Breakage at position 60 of 120: a spike, then air (2 %).
        let out = rig.cycle("T1", 1000.0, |i, _| {
            Some(match i {
                0..10 => 6.0,
                10..60 => 20.0,
                60 => 45.0,
                _ => 2.0,
            })
        });
        let f = findings(&out);
        assert_eq!(f.len(), 1, "{f:?}");
        let f = &f[0];
        assert_eq!(f.kind, FindingKind::Breakage);
        assert_eq!(f.key.operation, "OP10");
        assert_eq!(f.tool_id.as_deref(), Some("T1"));
        assert!((f.position - 0.51).abs() < 0.02, "{}", f.position);
        assert!((f.time_into_s - 6.2).abs() < 0.15, "{}", f.time_into_s);
        assert_eq!(f.measured, 2.0);
        assert!((f.expected - 20.0).abs() < 0.5, "{}", f.expected);
        // The condition is held to the end of the run and past it, until the operation runs
        // again.
        let c = find(&out, FindingKind::Breakage).unwrap();
        assert!(c.active, "{c:?}");
        assert!(c.message.contains("tool breakage"), "{}", c.message);
        assert!(c.message.contains("expected 2"), "{}", c.message);
        // The finding and its condition say it in Chinese too, the same words.
        assert!(c.message_zh.contains("断刀"), "{}", c.message_zh);
        assert_eq!(f.message_zh.as_deref(), Some(c.message_zh.as_str()));
        // A run with a finding is not learned from; the next normal one clears it.
        let out = rig.cycle("T1", 1000.0, normal(9));
        assert!(!find(&out, FindingKind::Breakage).unwrap().active);
        assert!(findings(&out).is_empty());
    }

    #[test]
    fn a_tool_broken_as_it_enters_the_cut_is_found_at_the_tick_after() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        let run = |rig: &mut Rig, loads: &[f64]| -> Vec<(usize, Finding)> {
            let mut out = Vec::new();
            for (i, &l) in loads.iter().enumerate() {
                let o = rig.tick(
                    "OP10",
                    "T1",
                    Show {
                        feed: 1000.0,
                        load: Some(l),
                    },
                );
                out.extend(findings(&[o]).into_iter().map(|f| (i, f)));
            }
            rig.tick(
                "",
                "T1",
                Show {
                    feed: 0.0,
                    load: Some(0.0),
                },
            );
            out
        };
        // The spike on the run's very first tick (the feed not yet known to be steady), then
        // air: a breakage at the first tick of air.
        let f = run(&mut rig, &[15.0, 2.0, 2.0, 2.0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].0, f[0].1.kind), (1, FindingKind::Breakage));
        // Air from the first tick: a missing tool at the second.
        let f = run(&mut rig, &[2.0, 2.0, 2.0, 2.0]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].0, f[0].1.kind), (1, FindingKind::MissingTool));
        // A first tick of idle load (the end of a rapid move) and then the cut: nothing.
        let f = run(&mut rig, &[2.0, 6.0, 6.0, 6.0]);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn a_finding_of_a_feed_hold_kind_asks_for_the_hold_in_the_tick_that_made_it() {
        let mut settings = on();
        settings.feed_hold = Some(crate::config::monitor::FeedHoldSettings {
            pin: 16,
            active_low: false,
            kinds: vec![FindingKind::Breakage],
            hold: std::time::Duration::from_millis(500),
        });
        let mut rig = Rig::new(settings);
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        rig.monitor.set_feed_hold(tx);
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        assert!(rx.try_recv().is_err(), "nothing while learning");
        // Tick by tick: the request is there after the very tick whose output holds the
        // finding, and not before.
        let mut asked = None;
        for i in 0..120 {
            let load = match i {
                0..10 => 6.0,
                10..60 => 20.0,
                60 => 45.0,
                _ => 2.0,
            };
            let o = rig.tick(
                "OP10",
                "T1",
                Show {
                    feed: 1000.0,
                    load: Some(load),
                },
            );
            let found = !findings(std::slice::from_ref(&o)).is_empty();
            match rx.try_recv() {
                Ok(r) => {
                    assert!(found, "asked at tick {i} with no finding");
                    assert_eq!(r.kind, FindingKind::Breakage);
                    assert!(r.message.contains("tool breakage"), "{}", r.message);
                    assert!(asked.is_none(), "once");
                    asked = Some(i);
                }
                Err(_) => assert!(!found, "a finding at tick {i} did not ask"),
            }
        }
        assert_eq!(asked, Some(61), "the first tick of air after the spike");
        rig.tick(
            "",
            "T1",
            Show {
                feed: 0.0,
                load: Some(0.0),
            },
        );
        // A missing tool is not one of the kinds configured here.
        rig.cycle("T1", 1000.0, |_, _| Some(1.5));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn feed_overrides_of_20_percent_raise_nothing_and_air_cutting_is_a_missing_tool() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        for (k, feed) in [(3, 1200.0), (4, 800.0), (5, 1200.0), (6, 800.0)] {
            let out = rig.cycle("T1", feed, normal(k));
            assert!(
                findings(&out).is_empty(),
                "feed {feed}: {:?}",
                findings(&out)
            );
        }
        let out = rig.cycle("T1", 1000.0, |_, _| Some(1.5));
        let f = findings(&out);
        assert_eq!(
            f.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [FindingKind::MissingTool]
        );
        assert!(find(&out, FindingKind::MissingTool).unwrap().active);
        assert!(!find(&out, FindingKind::Breakage).unwrap().active);
    }

    #[test]
    fn overload_and_wear_drift() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        // Twice the load from position 60 on, for 20 s.
        let out = rig.cycle("T1", 1000.0, |i, _| {
            Some(if i < 10 {
                6.0
            } else if i < 60 {
                20.0
            } else {
                40.0
            })
        });
        let f = findings(&out);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, FindingKind::Overload);
        assert!(f[0].measured > f[0].upper);
        // The load creeps up by 8 % a cycle: drift once the last three average ≥ 15 % up.
        let mut drift_at = None;
        for k in 1..6 {
            let gain = 1.0 + 0.08 * f64::from(k);
            let out = rig.cycle("T1", 1000.0, move |i, _| {
                Some(gain * if i < 10 { 6.0 } else { 20.0 })
            });
            let c = find(&out, FindingKind::WearDrift).unwrap();
            if c.active && drift_at.is_none() {
                drift_at = Some(k);
                assert_eq!(findings(&out)[0].kind, FindingKind::WearDrift);
            }
        }
        // Indices 1.08, 1.16, 1.24: mean 1.16 at the third.
        assert_eq!(drift_at, Some(3));
    }

    #[test]
    fn wear_drift_counts_only_cycles_at_the_learned_feed_and_holds_until_the_tool_changes() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        // A worn tool (+10 % load) at 80 % feed, where the load follows the feed by
        // 0.8^0.75 (the chip thickness's exponent), not 0.8: its feed-scaled index reads 1.16,
        // above the 15 % rise, but the cycles were not cut at the learned feed.
        let worn = |gain: f64| {
            move |i: usize, feed: f64| {
                let level = if i < 10 { 6.0 } else { 20.0 };
                Some(gain * level * (feed / 1000.0_f64).powf(0.75))
            }
        };
        for _ in 0..4 {
            let out = rig.cycle("T1", 800.0, worn(1.1));
            assert!(findings(&out).is_empty(), "{:?}", findings(&out));
            assert!(!find(&out, FindingKind::WearDrift).unwrap().active);
        }
        // At the learned feed, +10 % is no drift; +20 % is, at the third such cycle.
        for _ in 0..3 {
            let out = rig.cycle("T1", 1000.0, worn(1.1));
            assert!(!find(&out, FindingKind::WearDrift).unwrap().active);
        }
        let mut raised = 0;
        for _ in 0..3 {
            let out = rig.cycle("T1", 1000.0, worn(1.2));
            raised += findings(&out).len();
        }
        assert_eq!(raised, 1, "one warning");
        // Wear does not heal: a cycle back in the band leaves it raised, with no second record.
        let out = rig.cycle("T1", 1000.0, normal(4));
        assert!(find(&out, FindingKind::WearDrift).unwrap().active);
        assert!(findings(&out).is_empty());
        // A new tool clears it.
        let out = rig.cycle("T2", 1000.0, normal(5));
        assert!(!find(&out, FindingKind::WearDrift).unwrap().active);
    }

    #[test]
    fn a_new_tool_is_judged_by_the_old_envelope_until_its_own_is_learned() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        let old = rig.monitor.slots.values().next().unwrap().envelope.clone();
        // The new tool breaks during its first cycle: the old envelope finds it.
        let out = rig.cycle("T2", 1000.0, |i, _| {
            Some(if i < 10 {
                6.0
            } else if i < 50 {
                20.0
            } else {
                2.0
            })
        });
        assert_eq!(findings(&out)[0].kind, FindingKind::Breakage);
        for k in 0..2 {
            rig.cycle("T2", 1000.0, normal(k));
            let slot = rig.monitor.slots.values().next().unwrap();
            assert_eq!(slot.envelope, old, "the old one judges meanwhile");
        }
        let out = rig.cycle("T2", 1000.0, normal(5));
        assert!(out.iter().flat_map(|o| &o.records).any(
            |r| matches!(r, Record::MonitorEnvelope(e) if e.tool_id.as_deref() == Some("T2"))
        ));
    }

    #[test]
    fn a_load_that_is_not_good_is_never_judged_and_says_so() {
        let mut rig = Rig::new(on());
        for k in 0..3 {
            rig.cycle("T1", 1000.0, normal(k));
        }
        // The load goes stale (absent from the frame) mid-cycle: nothing is found, the
        // conditions say why.
        let out = rig.cycle("T1", 1000.0, |i, _| (i < 40).then_some(20.0));
        assert!(findings(&out).is_empty());
        let c = find(&out[..out.len() - 1], FindingKind::Breakage).unwrap();
        assert!(
            c.message.contains("cannot judge: no good spindle.load now"),
            "{}",
            c.message
        );
    }

    #[test]
    fn envelopes_survive_a_restart() {
        let (store, _state, mut cfg) = crate::store::test_store("monitor-restart");
        cfg.monitor = on();
        let mut rig = Rig::new(on());
        let mut envs = Vec::new();
        for k in 0..3 {
            for o in rig.cycle("T1", 1000.0, normal(k)) {
                for r in o.records {
                    if let Record::MonitorEnvelope(e) = &r {
                        envs.push(e.clone());
                    }
                    store.record(r);
                }
            }
        }
        store.sync();
        assert_eq!(envs.len(), 1);
        let restarted = Monitor::open(&cfg, &store);
        let slot = restarted.slots.values().next().unwrap();
        assert_eq!(slot.envelope.as_ref(), Some(&*envs[0]));
        // It judges at once: a breakage on its first cycle is found.
        let mut rig = Rig {
            monitor: restarted,
            ..Rig::new(on())
        };
        let out = rig.cycle("T1", 1000.0, |i, _| {
            Some(if i < 10 {
                6.0
            } else if i < 50 {
                20.0
            } else {
                2.0
            })
        });
        assert_eq!(findings(&out)[0].kind, FindingKind::Breakage);
        store.close();
    }

    #[test]
    fn learning_goes_on_across_a_restart() {
        // Learned in one go ...
        let mut rig = Rig::new(on());
        let mut whole = None;
        for k in 0..3 {
            for o in rig.cycle("T1", 1000.0, normal(k)) {
                for r in o.records {
                    if let Record::MonitorEnvelope(e) = r {
                        whole = Some(e);
                    }
                }
            }
        }
        let whole = whole.expect("learned in three cycles");
        // ... and with a restart after two of the three cycles.
        let (store, _state, mut cfg) = crate::store::test_store("monitor-learning-restart");
        cfg.monitor = on();
        let mut rig = Rig::new(on());
        for k in 0..2 {
            for o in rig.cycle("T1", 1000.0, normal(k)) {
                for r in o.records {
                    assert!(!matches!(r, Record::MonitorEnvelope(_)));
                    store.record(r);
                }
            }
        }
        store.sync();
        let restarted = Monitor::open(&cfg, &store);
        let status = restarted.view();
        let mut rig = Rig {
            monitor: restarted,
            ..Rig::new(on())
        };
        let out = rig.cycle("T1", 1000.0, normal(2));
        let c = find(&out[..out.len() - 1], FindingKind::Breakage).unwrap();
        assert!(
            c.message.contains("cannot judge: learning (2 of 3 cycles)"),
            "{}",
            c.message
        );
        let learned: Vec<_> = out
            .into_iter()
            .flat_map(|o| o.records)
            .filter_map(|r| match r {
                Record::MonitorEnvelope(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(learned.len(), 1, "learned at the third cycle in all");
        assert_eq!(
            Envelope {
                learned_ms: whole.learned_ms,
                ..(*learned[0]).clone()
            },
            *whole,
            "the same envelope as without the restart"
        );
        assert_eq!(status.get()[0].learned_cycles, Some(3));
        // Stored, the envelope ends the stored learning: a second restart judges at once.
        store.record(Record::MonitorEnvelope(learned[0].clone()));
        store.sync();
        assert!(store.read(|r| r.monitor_learnings(10)).unwrap().is_empty());
        let again = Monitor::open(&cfg, &store);
        let slot = again.slots.values().next().unwrap();
        assert!(slot.learner.is_none());
        assert_eq!(slot.envelope.as_ref(), Some(&*learned[0]));
        store.close();
    }
}
