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
use crate::supervise::lock;
use rules::{Context, RuleSet, RuleState, RuleStatus, Transition};

/// What `/api/compliance` returns.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct LiveStatus {
    pub cooling_mode: Option<String>,
    /// The profile that applies to the current cooling mode.
    pub profile: Option<String>,
    pub standard: Option<String>,
    /// The profile's title, in English and in Simplified Chinese.
    pub title: Option<String>,
    pub title_zh: Option<String>,
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
        lock(&self.0).clone()
    }
}

/// How the cutting of one operation or part was judged, tick by tick.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// Seconds a profile judged (compliant or violated).
    judged_s: f64,
    compliant_s: f64,
    violated: bool,
    /// Some cutting was not judged because a monitored rule lacked data or the cooling mode
    /// was unknown (else, where not judged, no profile covered the cooling mode).
    no_data: bool,
}

impl Tally {
    /// `s` seconds of cutting in the state of `verdict`.
    fn add(&mut self, verdict: Verdict, s: f64) {
        match verdict {
            Verdict::Compliant => {
                self.judged_s += s;
                self.compliant_s += s;
            }
            Verdict::Violation => {
                self.judged_s += s;
                self.violated = true;
            }
            Verdict::NoData => self.no_data = true,
            Verdict::NotApplicable => {}
        }
    }

    /// A cut is compliant only if all of it was judged and every rule held: time no profile
    /// judged is never a pass.
    fn verdict(&self, cutting_s: f64) -> Verdict {
        if self.violated {
            Verdict::Violation
        } else if cutting_s > 0.0 && self.compliant_s >= cutting_s - 1e-9 {
            Verdict::Compliant
        } else if self.no_data || self.judged_s > 0.0 {
            Verdict::NoData
        } else {
            Verdict::NotApplicable
        }
    }
}

/// What the activity stage, which knows no rules, leaves to this evaluator: how the operation
/// under way and the part in progress were judged.
#[derive(Debug, Default)]
struct Judged {
    /// The open operation's start, to tell it from the next one.
    op_start_ms: Option<i64>,
    op: Tally,
    part: Tally,
}

pub struct Compliance {
    rules: RuleSet,
    lubricant: Option<Lubricant>,
    judged: Judged,
    /// The verdict at the last tick: the state this tick's cutting happened in.
    verdict: Verdict,
    /// Per rule: the start of its open violation episode.
    open_episodes: Vec<Option<i64>>,
    /// When the open episodes' worst values were last stored.
    episodes_updated_ms: i64,
    live: Arc<Live>,
}

impl Compliance {
    /// The rules of the configured profiles; `live` is where the status goes each tick.
    pub fn new(config: &Config, live: Arc<Live>) -> Compliance {
        let fed: HashSet<String> = config.fed_signals();
        let rules = RuleSet::new(config.profiles.clone(), &fed, config.lubricant.as_ref());
        Compliance {
            open_episodes: vec![None; rules.count()],
            episodes_updated_ms: 0,
            rules,
            lubricant: config.lubricant.clone(),
            judged: Judged::default(),
            verdict: Verdict::NoData,
            live,
        }
    }

    /// The operations and part that finished at this tick, with their compliance figures, and
    /// this tick's seconds counted for the open ones, in the state of the last tick's verdict
    /// (the state the cut happened in).
    fn judge_activity(&mut self, tick: &Tick, records: &mut Vec<Record>) {
        let (a, verdict) = (tick.activity, self.verdict);
        let j = &mut self.judged;
        for op in a.finished() {
            let t = if j.op_start_ms == Some(op.start_ms) {
                j.op_start_ms = None;
                std::mem::take(&mut j.op)
            } else {
                Tally::default()
            };
            records.push(Record::Operation(Box::new(OperationRecord {
                judged_s: t.judged_s,
                compliant_s: t.compliant_s,
                verdict: t.verdict(op.cutting_s),
                ..op.clone()
            })));
        }
        // This tick's cutting seconds belong to the operation open after it.
        if let Some(cur) = a.current() {
            if j.op_start_ms != Some(cur.start_ms) {
                j.op_start_ms = Some(cur.start_ms);
                j.op = Tally::default();
            }
            if a.counted_s() > 0.0 {
                j.op.add(verdict, a.counted_s());
            }
        }
        if a.cutting() {
            j.part.add(verdict, tick.dt_s);
        }
        if a.part_boundary() {
            if let Some(p) = a.part() {
                let mut p = p.clone();
                p.judged_s = j.part.judged_s;
                p.compliant_s = j.part.compliant_s;
                records.push(Record::Part(p));
            }
            j.part = Tally::default();
        }
    }

    fn episode_records(&mut self, transitions: Vec<Transition>, now_ms: i64) -> Vec<Record> {
        let mut out = Vec::new();
        for t in transitions {
            match t {
                Transition::Opened { rule, at_ms } => {
                    let s = self.rules.status(rule);
                    self.open_episodes[rule] = Some(at_ms);
                    out.push(Record::ViolationOpened(Box::new(Violation {
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
                        message_zh: Some(s.message_zh.clone()),
                    })));
                }
                Transition::Closed { rule, at_ms } => {
                    if let Some(start) = self.open_episodes[rule].take() {
                        out.push(self.episode_update(rule, start, Some(at_ms)));
                    }
                }
            }
        }
        // Keep the worst value of ongoing episodes current; once a second is plenty (a wall
        // clock stepped back counts as a second gone, not as an hour to wait).
        if (now_ms - self.episodes_updated_ms).abs() >= 1000 {
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
            message_zh: s.message_zh.clone(),
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
        self.judge_activity(tick, &mut records);
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
        self.verdict = verdict;
        let operation = tick.activity.current().map(|o| OperationRecord {
            judged_s: self.judged.op.judged_s,
            compliant_s: self.judged.op.compliant_s,
            verdict: self.judged.op.verdict(o.cutting_s),
            ..o.clone()
        });
        *lock(&self.live.0) = LiveStatus {
            profile: profile.map(|p| p.id.clone()),
            standard: profile.map(|p| p.standard.clone()),
            title: profile.map(|p| p.title.clone()),
            title_zh: profile.map(|p| p.title_zh.clone()),
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

    #[test]
    fn the_live_status_survives_a_panic_that_poisoned_it() {
        let live = Arc::new(Live::default());
        let l = live.clone();
        let _ = std::thread::spawn(move || {
            let mut s = lock(&l.0);
            s.cutting = true;
            panic!("a step failed half-way");
        })
        .join();
        // The HTTP server reads it as the step left it, and the next tick replaces it.
        assert!(live.get().cutting);
        *lock(&live.0) = LiveStatus::default();
        assert!(!live.get().cutting);
    }
    use crate::evaluators::frame::Frame;
    use crate::evaluators::operations::Activity;
    use crate::value::Value;
    use std::path::Path;

    fn config() -> Config {
        crate::config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml"))
            .unwrap()
    }

    /// Cutting (or not) with MQL oil flowing at `flow` ml/h, in a cooling mode or none known.
    fn frame_in(cooling: Option<&str>, t: i64, cutting: bool, flow: f64) -> Frame {
        let mut f = Frame::from_values(
            t,
            [
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
                // Every monitored rule of the example configuration has data.
                ("mql.air_pressure", Value::Number(0.5)),
                ("mql.mist_concentration", Value::Number(0.1)),
            ],
        );
        if let Some(c) = cooling {
            f = f.with("cooling.mode", Value::Text(c.into()));
        }
        f
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
        run_in(Some("mql"), c, a, t, cutting, flow, ticks)
    }

    fn run_in(
        cooling: Option<&str>,
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
            let f = frame_in(cooling, *t, cutting, flow);
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
        assert!(
            (op.judged_s - op.cutting_s).abs() < 1e-9,
            "all of it judged: {op:?}"
        );
    }

    #[test]
    fn a_cut_no_profile_judged_is_never_compliant() {
        let cfg = config();
        for (cooling, verdict) in [
            (None, Verdict::NoData),
            (Some("flood"), Verdict::NotApplicable),
        ] {
            let mut c = Compliance::new(&cfg, Arc::new(Live::default()));
            let mut a = Activity::new(cfg.operations.clone());
            let mut t = 0;
            run_in(cooling, &mut c, &mut a, &mut t, true, 30.0, 100);
            let done = run_in(cooling, &mut c, &mut a, &mut t, false, 30.0, 30);
            assert_eq!(done.len(), 1, "{cooling:?}");
            let op = &done[0];
            assert_eq!(op.verdict, verdict, "{cooling:?}: {op:?}");
            assert_eq!((op.judged_s, op.compliant_s), (0.0, 0.0), "{op:?}");
            assert!(op.cutting_s > 9.0);
        }
    }
}
