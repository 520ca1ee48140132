//! The green-cutting evaluator: every tick it evaluates the rules of the standards profiles
//! against the frame (`rules/`), works out the live verdict, fills in the compliant seconds and
//! verdict of the operations and parts the activity stage finished, and reports violation
//! episodes as records and every rule as a condition. `/api/compliance` and the page show its
//! live status through [`Live`].

pub mod rules;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::{Evaluator, Output, Tick};
use crate::config::{Config, Lubricant};
use crate::records::operation::{OperationRecord, Verdict, Violation};
use crate::store::Record;
use rules::{Context, RuleSet, RuleState, RuleStatus, Transition};

/// What `/api/compliance` returns.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LiveStatus {
    pub cooling_mode: Option<String>,
    /// The profile that applies to the current cooling mode.
    pub profile: Option<String>,
    pub standard: Option<String>,
    pub verdict: Verdict,
    pub cutting: bool,
    /// The operation under way.
    pub operation: Option<OperationRecord>,
    pub rules: Vec<RuleStatus>,
    /// Energy and oil counted since the agent started.
    pub energy_kwh_since_start: f64,
    pub oil_ml_since_start: f64,
}

/// The live status, shared with the HTTP server.
#[derive(Default)]
pub struct Live(Mutex<LiveStatus>);

impl Live {
    pub fn get(&self) -> LiveStatus {
        self.0.lock().unwrap().clone()
    }
}

/// The compliant seconds of the operation under way and of the part in progress, and whether
/// the operation saw a violation: what the activity stage, which knows no rules, leaves to
/// this evaluator.
#[derive(Debug, Default)]
struct Judged {
    /// The open operation's start, to tell it from the next one.
    op_start_ms: Option<i64>,
    op_compliant_s: f64,
    op_violated: bool,
    part_compliant_s: f64,
}

pub struct Compliance {
    rules: RuleSet,
    lubricant: Option<Lubricant>,
    judged: Judged,
    /// Per rule: the start of its open violation episode.
    open_episodes: Vec<Option<i64>>,
    /// When the open episodes' worst values were last stored.
    episodes_updated_ms: i64,
    live: Arc<Live>,
}

impl Compliance {
    /// The rules of the configured profiles; `live` is where the status goes each tick.
    pub fn new(config: &Config, live: Arc<Live>) -> Compliance {
        let fed: HashSet<String> = config
            .devices
            .iter()
            .flat_map(|d| d.tags.iter().map(|t| t.signal.clone()))
            .collect();
        let rules = RuleSet::new(config.profiles.clone(), &fed, config.lubricant.as_ref());
        Compliance {
            open_episodes: vec![None; rules.count()],
            episodes_updated_ms: 0,
            rules,
            lubricant: config.lubricant.clone(),
            judged: Judged::default(),
            live,
        }
    }

    /// The operations and part that finished at this tick, with their compliance figures, and
    /// this tick's seconds counted for the open ones. `violated`: a rule of warning or worse
    /// was violated at the last tick (the state the cut happened in).
    fn judge_activity(&mut self, tick: &Tick, violated: bool, records: &mut Vec<Record>) {
        let a = tick.activity;
        let j = &mut self.judged;
        for op in a.finished() {
            let mine = j.op_start_ms == Some(op.start_ms);
            let (compliant_s, violated) = if mine {
                (j.op_compliant_s, j.op_violated)
            } else {
                (0.0, false)
            };
            records.push(Record::Operation(Box::new(OperationRecord {
                compliant_s,
                verdict: if violated {
                    Verdict::Violation
                } else {
                    Verdict::Compliant
                },
                ..op.clone()
            })));
            if mine {
                *j = Judged {
                    part_compliant_s: j.part_compliant_s,
                    ..Judged::default()
                };
            }
        }
        // This tick's cutting seconds belong to the operation open after it.
        if let Some(cur) = a.current() {
            if j.op_start_ms != Some(cur.start_ms) {
                j.op_start_ms = Some(cur.start_ms);
                j.op_compliant_s = 0.0;
                j.op_violated = false;
            }
            if a.counted_s() > 0.0 {
                if !violated {
                    j.op_compliant_s += a.counted_s();
                }
                j.op_violated |= violated;
            }
        }
        if a.cutting() && !violated {
            j.part_compliant_s += tick.dt_s;
        }
        if a.part_boundary() {
            if let Some(p) = a.part() {
                let mut p = p.clone();
                p.compliant_s = j.part_compliant_s;
                records.push(Record::Part(p));
            }
            j.part_compliant_s = 0.0;
        }
    }

    fn episode_records(&mut self, transitions: Vec<Transition>, now_ms: i64) -> Vec<Record> {
        let mut out = Vec::new();
        for t in transitions {
            match t {
                Transition::Opened { rule, at_ms } => {
                    let s = self.rules.status(rule);
                    self.open_episodes[rule] = Some(at_ms);
                    out.push(Record::ViolationOpened(Violation {
                        rule_id: s.id.clone(),
                        profile: s.profile.clone(),
                        standard: s.standard.clone(),
                        severity: s.severity,
                        start_ms: at_ms,
                        end_ms: None,
                        worst_value: s.value,
                        limit: s.limit.clone(),
                        unit: s.unit.clone(),
                        source: s.source.clone(),
                        verified: s.verified,
                        message: s.message.clone(),
                    }));
                }
                Transition::Closed { rule, at_ms } => {
                    if let Some(start) = self.open_episodes[rule].take() {
                        out.push(self.episode_update(rule, start, Some(at_ms)));
                    }
                }
            }
        }
        // Keep the worst value of ongoing episodes current; once a second is plenty.
        if now_ms - self.episodes_updated_ms >= 1000 {
            self.episodes_updated_ms = now_ms;
            for rule in 0..self.open_episodes.len() {
                if let Some(start) = self.open_episodes[rule] {
                    out.push(self.episode_update(rule, start, None));
                }
            }
        }
        out
    }

    fn episode_update(&self, rule: usize, start_ms: i64, end_ms: Option<i64>) -> Record {
        let s = self.rules.status(rule);
        Record::ViolationUpdated {
            profile: s.profile.clone(),
            rule_id: s.id.clone(),
            start_ms,
            message: s.message.clone(),
            value: s.value,
            end_ms,
        }
    }
}

impl Evaluator for Compliance {
    fn name(&self) -> &'static str {
        "compliance"
    }

    fn step(&mut self, tick: &Tick) -> Output {
        let frame = tick.frame;
        let mut records = Vec::new();
        let violated = self.rules.violated();
        self.judge_activity(tick, violated, &mut records);
        let cutting = tick.activity.cutting();
        let transitions = self.rules.step(&Context {
            frame,
            cutting,
            lubricant: self.lubricant.as_ref(),
        });
        records.extend(self.episode_records(transitions, frame.now_ms));

        let cooling = frame.text("cooling.mode").map(str::to_string);
        let profile = cooling.as_deref().and_then(|c| self.rules.profile_for(c));
        let statuses = self.rules.statuses();
        let verdict = match (&cooling, profile) {
            (None, _) => Verdict::NoData,
            (Some(_), None) => Verdict::NotApplicable,
            _ if self.rules.violated() => Verdict::Violation,
            // A monitored rule without data (its device down, say) is no pass.
            (_, Some(p)) if self.rules.blind(&p.id) => Verdict::NoData,
            (_, Some(p))
                if statuses
                    .iter()
                    .any(|s| s.profile == p.id && s.state == RuleState::Ok) =>
            {
                Verdict::Compliant
            }
            _ => Verdict::NoData,
        };
        let (energy, oil) = tick.activity.meters();
        let operation = tick.activity.current().map(|o| OperationRecord {
            compliant_s: self.judged.op_compliant_s,
            ..o.clone()
        });
        *self.live.0.lock().unwrap() = LiveStatus {
            profile: profile.map(|p| p.id.clone()),
            standard: profile.map(|p| p.standard.clone()),
            cooling_mode: cooling,
            verdict,
            cutting,
            operation,
            rules: statuses,
            energy_kwh_since_start: energy,
            oil_ml_since_start: oil,
        };
        Output {
            conditions: self.rules.conditions(),
            records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluators::frame::Frame;
    use crate::evaluators::operations::Activity;
    use crate::value::Value;
    use std::path::Path;

    fn config() -> Config {
        crate::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml"))
            .unwrap()
    }

    /// Cutting (or not) with MQL oil flowing at `flow` ml/h.
    fn frame(t: i64, cutting: bool, flow: f64) -> Frame {
        Frame::from_values(
            t,
            [
                ("cooling.mode", Value::Text("mql".into())),
                ("spindle.rotating", Value::Bool(cutting)),
                (
                    "spindle.speed",
                    Value::Number(if cutting { 5000.0 } else { 0.0 }),
                ),
                (
                    "channel.feedrate",
                    Value::Number(if cutting { 1000.0 } else { 0.0 }),
                ),
                (
                    "spindle.load",
                    Value::Number(if cutting { 20.0 } else { 0.0 }),
                ),
                ("tool.id", Value::Text("T1".into())),
                ("channel.state", Value::Text("active".into())),
                ("mql.oil_flow", Value::Number(flow)),
                ("mql.aerosol_on", Value::Bool(true)),
            ],
        )
    }

    /// Runs `ticks` ticks of 100 ms; the operations recorded meanwhile.
    fn run(
        c: &mut Compliance,
        a: &mut Activity,
        t: &mut i64,
        cutting: bool,
        flow: f64,
        ticks: usize,
    ) -> Vec<OperationRecord> {
        let mut out = Vec::new();
        for _ in 0..ticks {
            *t += 100;
            let f = frame(*t, cutting, flow);
            a.step(&f, 0.1);
            let tick = Tick {
                frame: &f,
                dt_s: 0.1,
                activity: a,
                devices: &[],
            };
            for r in c.step(&tick).records {
                if let Record::Operation(o) = r {
                    out.push(*o);
                }
            }
        }
        out
    }

    #[test]
    fn a_cut_with_no_violation_is_compliant_and_one_with_starvation_is_not() {
        let cfg = config();
        let mut c = Compliance::new(&cfg, Arc::new(Live::default()));
        let mut a = Activity::new(cfg.operations.clone());
        let mut t = 0;
        run(&mut c, &mut a, &mut t, true, 30.0, 100);
        let done = run(&mut c, &mut a, &mut t, false, 30.0, 30);
        assert_eq!(done.len(), 1);
        let op = &done[0];
        assert_eq!(op.verdict, Verdict::Compliant);
        assert!(op.cutting_s > 9.0, "{}", op.cutting_s);
        assert!((op.compliant_s - op.cutting_s).abs() < 1e-9, "{op:?}");

        // Oil gone while cutting: after the rule's grace the rest of the cut is not compliant.
        run(&mut c, &mut a, &mut t, true, 0.0, 200);
        let done = run(&mut c, &mut a, &mut t, false, 0.0, 30);
        assert_eq!(done.len(), 1);
        let op = &done[0];
        assert_eq!(op.verdict, Verdict::Violation);
        assert!(op.compliant_s < op.cutting_s, "{op:?}");
        assert!(op.compliant_s > 0.0, "compliant within the grace: {op:?}");
    }
}
