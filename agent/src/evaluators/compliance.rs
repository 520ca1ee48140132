//! The green-cutting evaluator: every tick it takes a frame of the state, advances the meters,
//! the operation segmenter and the rules, records what finished, and publishes the live status
//! that `/api/compliance` and the page show. It runs on its own thread: its work is synchronous
//! (a frame, some arithmetic, a rare SQLite write) and must not wait behind network I/O.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use super::clock::StepClock;
use super::frame::Frame;
use super::life::Life;
use super::operations::{Meters, OperationRecord, Parts, Segmenter};
use super::records::Records;
use super::rules::{Context, RuleSet, RuleState, RuleStatus, Transition};
use crate::condition::Condition;
use crate::config::{Config, Lubricant};
use crate::state::State;

/// What `/api/compliance` returns.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LiveStatus {
    pub cooling_mode: Option<String>,
    /// The profile that applies to the current cooling mode.
    pub profile: Option<String>,
    pub standard: Option<String>,
    /// `compliant`, `violation`, `not_applicable` (no profile for this cooling mode) or
    /// `no_data`.
    pub verdict: String,
    pub cutting: bool,
    /// The operation under way.
    pub operation: Option<OperationRecord>,
    pub rules: Vec<RuleStatus>,
    /// Energy and oil counted since the agent started.
    pub energy_kwh_since_start: f64,
    pub oil_ml_since_start: f64,
}

pub struct Compliance {
    live: Mutex<LiveStatus>,
    conditions: Mutex<Vec<Condition>>,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Compliance {
    /// Opens the records in the store's file and starts the evaluator thread. `life` is fed
    /// from the same operation segmentation (one notion of "cutting" for both).
    pub fn start(
        config: &Config,
        state: Arc<State>,
        store_path: &Path,
        life: Arc<Life>,
    ) -> Result<Arc<Compliance>> {
        let records = Records::open(store_path)?;
        let closed = records.close_dangling(crate::value::now_ms())?;
        if closed > 0 {
            tracing::warn!(
                "compliance: closed {closed} violation episodes left open by an unclean stop"
            );
        }
        let this = Arc::new(Compliance {
            live: Mutex::new(LiveStatus {
                verdict: "no_data".into(),
                ..LiveStatus::default()
            }),
            conditions: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let mut runner = Runner {
            rules: RuleSet::new(
                config.profiles.clone(),
                &config
                    .devices
                    .iter()
                    .flat_map(|d| d.tags.iter().map(|t| t.signal.clone()))
                    .collect(),
                config.lubricant.as_ref(),
            ),
            segmenter: Segmenter::new(config.operations.clone()),
            clock: StepClock::default(),
            meters: Meters::default(),
            parts: Parts::default(),
            records,
            lubricant: config.lubricant.clone(),
            open_episodes: vec![None; config.profiles.iter().map(|p| p.rules.len()).sum()],
            life,
        };
        let (me, tick) = (this.clone(), config.operations.tick);
        let handle = std::thread::Builder::new()
            .name("compliance".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !me.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    let now = Instant::now();
                    let dt = now.duration_since(last).as_secs_f64();
                    last = now;
                    runner.tick(&Frame::capture(&state), dt, &me);
                }
                runner.life.flush();
            })?;
        *this.thread.lock().unwrap() = Some(handle);
        Ok(this)
    }

    pub fn live(&self) -> LiveStatus {
        self.live.lock().unwrap().clone()
    }

    /// Every rule as a condition, for the alarm engine.
    pub fn conditions(&self) -> Vec<Condition> {
        self.conditions.lock().unwrap().clone()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}

struct Runner {
    rules: RuleSet,
    segmenter: Segmenter,
    clock: StepClock,
    meters: Meters,
    parts: Parts,
    records: Records,
    lubricant: Option<Lubricant>,
    /// Per rule: the id of its open violation episode in the records.
    open_episodes: Vec<Option<i64>>,
    life: Arc<Life>,
}

impl Runner {
    fn tick(&mut self, frame: &Frame, wall_dt_s: f64, out: &Compliance) {
        let dt_s = self.clock.step(frame.num("machine.clock"), wall_dt_s);
        self.meters.step(frame, dt_s);
        let violated = self.rules.violated();
        let finished = self.segmenter.step(frame, &self.meters, dt_s, violated);
        let cutting = self.segmenter.in_operation();
        let transitions = self.rules.step(&Context {
            frame,
            cutting,
            lubricant: self.lubricant.as_ref(),
        });
        for t in transitions {
            let result = match t {
                Transition::Opened { rule, at_ms } => self
                    .records
                    .open_violation(self.rules.status(rule), at_ms)
                    .map(|id| self.open_episodes[rule] = Some(id)),
                Transition::Closed { rule, at_ms } => match self.open_episodes[rule].take() {
                    Some(id) => {
                        self.records
                            .update_violation(id, self.rules.status(rule), Some(at_ms))
                    }
                    None => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::error!("compliance: recording a violation failed: {e:#}");
            }
        }
        // Keep the worst value of ongoing episodes current, once a second is plenty.
        if frame.now_ms % 1000 < (wall_dt_s * 1000.0) as i64 {
            for (rule, ep) in self.open_episodes.iter().enumerate() {
                if let Some(id) = ep {
                    let _ = self
                        .records
                        .update_violation(*id, self.rules.status(rule), None);
                }
            }
        }
        for op in &finished {
            if let Err(e) = self.records.insert_operation(op) {
                tracing::error!("compliance: recording an operation failed: {e:#}");
            }
        }
        let part = self
            .parts
            .step(frame, &self.meters, dt_s, cutting, violated);
        if let Some(part) = &part {
            if let Err(e) = self.records.insert_part(part) {
                tracing::error!("compliance: recording a part failed: {e:#}");
            }
        }
        // Tool usage counts exactly the cutting time the segmenter gives the operation.
        self.life.step(
            frame,
            dt_s,
            self.segmenter.counted(),
            &finished,
            part.is_some(),
        );

        let cooling = frame.text("cooling.mode").map(str::to_string);
        let profile = cooling.as_deref().and_then(|c| self.rules.profile_for(c));
        let statuses = self.rules.statuses();
        let applicable: Vec<&RuleStatus> = statuses
            .iter()
            .filter(|s| Some(&s.profile) == profile.map(|p| &p.id))
            .collect();
        let verdict = match (&cooling, profile) {
            (None, _) => "no_data",
            (Some(_), None) => "not_applicable",
            _ if self.rules.violated() => "violation",
            // A monitored rule without data (its device down, say) is no pass.
            (_, Some(p)) if self.rules.blind(&p.id) => "no_data",
            _ if applicable.iter().any(|s| s.state == RuleState::Ok) => "compliant",
            _ => "no_data",
        };
        *out.live.lock().unwrap() = LiveStatus {
            profile: profile.map(|p| p.id.clone()),
            standard: profile.map(|p| p.standard.clone()),
            cooling_mode: cooling,
            verdict: verdict.into(),
            cutting,
            operation: self.segmenter.current().cloned(),
            rules: statuses,
            energy_kwh_since_start: self.meters.energy_kwh,
            oil_ml_since_start: self.meters.oil_ml,
        };
        *out.conditions.lock().unwrap() = self.rules.conditions();
    }
}
