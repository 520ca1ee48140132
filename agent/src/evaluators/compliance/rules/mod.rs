//! The rules of the loaded standards profiles, evaluated tick by tick. Each rule is one of a
//! few typed kinds, one module each behind [`Kind`]: `range`, `presence`
//! (present_while_cutting), `idle` (absent_while_idle), `consumption`, `compatibility` and
//! `property`; the grace periods (`grace.rs`) and windowed means (`window.rs`) they share are
//! written once. A rule's status says ok, violated, not applicable (the profile's cooling mode
//! or the rule's `when` does not hold) or no data (the signals it needs are not good), with
//! the value, the limit and where the limit comes from.

mod compatibility;
mod consumption;
mod grace;
mod idle;
mod presence;
mod property;
mod range;
mod window;

use std::collections::HashSet;

use serde::Serialize;

use crate::condition::{Condition, Severity};
use crate::config::profile::{Check, Profile, Rule};
use crate::config::Lubricant;
use crate::evaluators::frame::Frame;
use crate::text::Text;
use window::WindowMean;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleState {
    Ok,
    Violated,
    NotApplicable,
    NoData,
}

/// A rule's live status, as `/api/compliance` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleStatus {
    pub id: String,
    pub profile: String,
    pub standard: String,
    pub topic: String,
    /// The topic in Simplified Chinese (the profile's `topic_zh`, else `topic`).
    pub topic_zh: String,
    pub kind: &'static str,
    pub state: RuleState,
    pub value: Option<f64>,
    pub limit: String,
    pub limit_zh: String,
    pub unit: String,
    /// Since when the rule has been in this state (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    pub source: String,
    /// Where the limit comes from, in Simplified Chinese (`source_zh`, else `source`).
    pub source_zh: String,
    pub verified: bool,
    pub severity: Severity,
    /// Whether this agent is configured to feed the rule at all (its signals mapped, or a
    /// `[lubricant]` given). An unmonitored rule can never pass or fail; a monitored rule
    /// without data makes the verdict `no_data`, never `compliant`.
    pub monitored: bool,
    pub message: String,
    pub message_zh: String,
}

/// What the machine is doing at a tick, as the rules need it.
pub struct Context<'a> {
    pub frame: &'a Frame,
    pub cutting: bool,
    pub lubricant: Option<&'a Lubricant>,
}

impl Context<'_> {
    /// Spindle stopped or the door open.
    fn idle(&self) -> Option<bool> {
        let rotating = self
            .frame
            .flag("spindle.rotating")
            .or_else(|| self.frame.num("spindle.speed").map(|n| n > 1.0));
        let door = self.frame.flag("machine.door_open").unwrap_or(false);
        rotating.map(|r| !r || door)
    }
}

/// A rule kind's judgement of one tick.
pub struct Judgement {
    state: RuleState,
    value: Option<f64>,
    message: Text,
}

impl Judgement {
    fn new(state: RuleState, value: Option<f64>, message: Text) -> Judgement {
        Judgement {
            state,
            value,
            message,
        }
    }

    fn not_applicable(message: Text) -> Judgement {
        Judgement::new(RuleState::NotApplicable, None, message)
    }

    fn no_data(signal: &str) -> Judgement {
        Judgement::new(
            RuleState::NoData,
            None,
            Text::new(
                format!("no good value of {signal}"),
                format!("{signal} 没有有效数值"),
            ),
        )
    }
}

/// Cooling modes (`cooling.mode`) as the shop floor names them.
fn cooling_zh(mode: &str) -> String {
    match mode {
        "mql" => "微量润滑 (MQL)".into(),
        "dry" => "干切削".into(),
        "flood" => "浇注冷却".into(),
        "cold_air" => "冷风冷却".into(),
        "none" => "无冷却".into(),
        other => other.to_string(),
    }
}

fn other_cooling(mode: &str, profile_for: &[String]) -> Text {
    let zh: Vec<String> = profile_for.iter().map(|c| cooling_zh(c)).collect();
    Text::new(
        format!(
            "cooling mode is {mode}; this profile is for {}",
            profile_for.join(", ")
        ),
        format!(
            "当前冷却方式为{}；本规范适用于{}",
            cooling_zh(mode),
            zh.join("、")
        ),
    )
}

/// One kind of rule: its limits (from the profile), the state it keeps between ticks, and how
/// it judges a tick of a profile that applies.
trait Kind: Send {
    /// As profiles name it (`kind = "range"`).
    fn name(&self) -> &'static str;
    /// The canonical signals it reads.
    fn inputs(&self) -> Vec<&str>;
    /// Whether this agent feeds it at all.
    fn monitored(&self, fed: &HashSet<String>, _lubricant: Option<&Lubricant>) -> bool {
        self.inputs().iter().all(|s| fed.contains(*s))
    }
    /// The limit for people, and its unit.
    fn limit(&self) -> (Text, String);
    /// `limit`: the text of [`Kind::limit`], for messages.
    fn judge(&mut self, ctx: &Context, limit: &Text) -> Judgement;
}

fn window(len: std::time::Duration) -> Option<WindowMean> {
    (!len.is_zero()).then(|| WindowMean::new(len.as_millis() as i64))
}

fn build(check: &Check) -> Box<dyn Kind> {
    match check.clone() {
        Check::Range {
            signal,
            unit,
            min,
            max,
            window: len,
            when,
        } => Box::new(range::Range {
            signal,
            unit,
            min,
            max,
            when,
            window: window(len),
            window_len: len,
        }),
        Check::PresentWhileCutting {
            signal,
            unit,
            min,
            grace,
        } => Box::new(presence::PresentWhileCutting {
            signal,
            unit,
            min,
            grace,
            lapse: Default::default(),
        }),
        Check::AbsentWhileIdle { signal, grace } => Box::new(idle::AbsentWhileIdle {
            signal,
            grace,
            lapse: Default::default(),
        }),
        Check::Consumption {
            signal,
            unit,
            max,
            peak_max,
            window: len,
        } => Box::new(consumption::Consumption {
            signal,
            unit,
            max,
            peak_max,
            window: window(len),
            window_len: len,
        }),
        Check::Compatibility { deny, require } => {
            Box::new(compatibility::Compatibility { deny, require })
        }
        Check::Property {
            property,
            min,
            max,
            equals,
        } => Box::new(property::Property {
            property,
            min,
            max,
            equals,
        }),
    }
}

struct Tracker {
    profile: usize,
    severity: Severity,
    kind: Box<dyn Kind>,
    limit: Text,
    status: RuleStatus,
}

/// Every rule of every loaded profile.
pub struct RuleSet {
    profiles: Vec<Profile>,
    trackers: Vec<Tracker>,
}

/// A change of a rule into or out of violation, for the records.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Opened { rule: usize, at_ms: i64 },
    Closed { rule: usize, at_ms: i64 },
}

impl RuleSet {
    /// `fed`: the canonical signals some device feeds; `lubricant`: the data sheet, if given.
    pub fn new(
        profiles: Vec<Profile>,
        fed: &HashSet<String>,
        lubricant: Option<&Lubricant>,
    ) -> RuleSet {
        let mut trackers = Vec::new();
        for (pi, p) in profiles.iter().enumerate() {
            for r in &p.rules {
                trackers.push(tracker(pi, p, r, fed, lubricant));
            }
        }
        RuleSet { profiles, trackers }
    }

    /// The profile that applies to a cooling mode, if any.
    pub fn profile_for(&self, cooling: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.cooling.iter().any(|c| c == cooling))
    }

    /// How many rules there are (rule indices run from 0).
    pub fn count(&self) -> usize {
        self.trackers.len()
    }

    pub fn statuses(&self) -> Vec<RuleStatus> {
        self.trackers.iter().map(|t| t.status.clone()).collect()
    }

    pub fn status(&self, i: usize) -> &RuleStatus {
        &self.trackers[i].status
    }

    /// Any rule of warning or critical severity violated now.
    pub fn violated(&self) -> bool {
        self.trackers
            .iter()
            .any(|t| t.status.state == RuleState::Violated && t.severity >= Severity::Warning)
    }

    /// A monitored rule of the given profile has no data now.
    pub fn blind(&self, profile: &str) -> bool {
        self.trackers.iter().any(|t| {
            t.status.profile == profile && t.status.monitored && t.status.state == RuleState::NoData
        })
    }

    pub fn conditions(&self) -> Vec<Condition> {
        self.trackers
            .iter()
            .map(|t| {
                let s = &t.status;
                Condition {
                    key: format!("rule:{}.{}", s.profile, s.id),
                    active: s.state == RuleState::Violated,
                    severity: t.severity,
                    message: format!("{} ({}): {}", s.id, s.standard, s.message),
                    message_zh: format!(
                        "{}（{}，{}）：{}",
                        s.topic_zh, s.id, s.standard, s.message_zh
                    ),
                    source: s.source.clone(),
                    source_zh: s.source_zh.clone(),
                }
            })
            .collect()
    }

    /// Evaluates every rule at one tick; returns the transitions into and out of violation.
    pub fn step(&mut self, ctx: &Context) -> Vec<Transition> {
        let now = ctx.frame.now_ms;
        let cooling = ctx.frame.text("cooling.mode");
        let mut out = Vec::new();
        for (i, t) in self.trackers.iter_mut().enumerate() {
            let profile = &self.profiles[t.profile];
            let j = match cooling {
                None => Judgement::new(
                    RuleState::NoData,
                    None,
                    Text::new("cooling mode unknown", "冷却方式未知"),
                ),
                Some(c) if !profile.cooling.iter().any(|p| p == c) => {
                    Judgement::not_applicable(other_cooling(c, &profile.cooling))
                }
                Some(_) => t.kind.judge(ctx, &t.limit),
            };
            let before = t.status.state;
            if j.state != before || t.status.since_ms.is_none() {
                t.status.since_ms = Some(now);
                if j.state == RuleState::Violated {
                    out.push(Transition::Opened {
                        rule: i,
                        at_ms: now,
                    });
                } else if before == RuleState::Violated {
                    out.push(Transition::Closed {
                        rule: i,
                        at_ms: now,
                    });
                }
            }
            t.status.state = j.state;
            t.status.value = j.value;
            t.status.message = j.message.en;
            t.status.message_zh = j.message.zh;
        }
        out
    }
}

fn tracker(
    pi: usize,
    p: &Profile,
    r: &Rule,
    fed: &HashSet<String>,
    lubricant: Option<&Lubricant>,
) -> Tracker {
    let kind = build(&r.check);
    let (limit, unit) = kind.limit();
    Tracker {
        profile: pi,
        severity: r.severity,
        status: RuleStatus {
            id: r.id.clone(),
            profile: p.id.clone(),
            standard: p.standard.clone(),
            topic: r.topic.clone(),
            topic_zh: r.topic_zh.clone(),
            kind: kind.name(),
            state: RuleState::NoData,
            value: None,
            limit: limit.en.clone(),
            limit_zh: limit.zh.clone(),
            unit,
            since_ms: None,
            source: r.source.clone(),
            source_zh: r.source_zh.clone(),
            verified: r.verified,
            severity: r.severity,
            monitored: kind.monitored(fed, lubricant),
            message: String::new(),
            message_zh: String::new(),
        },
        kind,
        limit,
    }
}

fn fmt_bounds(min: Option<f64>, max: Option<f64>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("{a}–{b} {unit}"),
        (Some(a), None) => format!("≥ {a} {unit}"),
        (None, Some(b)) => format!("≤ {b} {unit}"),
        (None, None) => String::new(),
    }
    .trim()
    .to_string()
}

fn outside(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use std::path::Path;

    fn profile(name: &str) -> Profile {
        crate::config::profile::load(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../configs/standards")
                .join(name),
        )
        .unwrap()
    }

    fn sheet() -> Lubricant {
        Lubricant {
            name: "Ester X".into(),
            flash_point_c: Some(140.0),
            evaporation_loss_pct: Some(10.0),
            viscosity_40c_mm2_s: Some(30.0),
            benzo_a_pyrene_ppm: None,
            biocides: Some(true),
            base_oil: Some("ester".into()),
        }
    }

    fn all() -> std::collections::HashSet<String> {
        crate::vocabulary::SIGNALS
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    }

    #[test]
    fn rules_without_a_configured_input_are_unmonitored() {
        let lub = sheet();
        let rs = RuleSet::new(vec![profile("gbt31210-near-dry.toml")], &all(), Some(&lub));
        let st = rs.statuses();
        let m = |id: &str| st.iter().find(|s| s.id == id).unwrap().monitored;
        assert!(
            m("lubricant-flash-point") && !m("lubricant-benzo-a-pyrene"),
            "not on the data sheet"
        );
        let fed: std::collections::HashSet<String> = ["mql.oil_flow".to_string()].into();
        let rs = RuleSet::new(vec![profile("gbt31210-near-dry.toml")], &fed, None);
        let st = rs.statuses();
        let m = |id: &str| st.iter().find(|s| s.id == id).unwrap().monitored;
        assert!(m("mql-oil-flow-while-cutting"));
        assert!(!m("mql-air-pressure") && !m("noise-exposure") && !m("lubricant-flash-point"));
    }

    fn state_of(rs: &RuleSet, id: &str) -> RuleState {
        rs.statuses()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
            .state
    }

    fn mql_frame(t: i64, flow: f64, aerosol: bool, rotating: bool) -> Frame {
        Frame::from_values(
            t,
            [
                ("cooling.mode", Value::Text("mql".into())),
                ("mql.oil_flow", Value::Number(flow)),
                ("mql.aerosol_on", Value::Bool(aerosol)),
                ("mql.air_pressure", Value::Number(0.55)),
                ("spindle.rotating", Value::Bool(rotating)),
            ],
        )
    }

    #[test]
    fn starvation_is_flagged_after_the_grace_time_and_clears() {
        let mut rs = RuleSet::new(
            vec![profile("gbt31210-near-dry.toml")],
            &all(),
            Some(&sheet()),
        );
        let mut t = 0;
        let mut step = |rs: &mut RuleSet, flow, secs: i64, cutting| {
            let mut tr = Vec::new();
            for _ in 0..secs * 10 {
                t += 100;
                tr.extend(rs.step(&Context {
                    frame: &mql_frame(t, flow, true, true),
                    cutting,
                    lubricant: None,
                }));
            }
            tr
        };
        step(&mut rs, 30.0, 10, true);
        assert_eq!(state_of(&rs, "mql-oil-flow-while-cutting"), RuleState::Ok);
        step(&mut rs, 1.0, 4, true);
        assert_eq!(
            state_of(&rs, "mql-oil-flow-while-cutting"),
            RuleState::Ok,
            "within grace"
        );
        let tr = step(&mut rs, 1.0, 2, true);
        assert_eq!(
            state_of(&rs, "mql-oil-flow-while-cutting"),
            RuleState::Violated
        );
        assert_eq!(tr.len(), 1);
        assert!(rs
            .conditions()
            .iter()
            .any(|c| c.active && c.key == "rule:gbt31210-near-dry.mql-oil-flow-while-cutting"));
        step(&mut rs, 30.0, 1, true);
        assert_eq!(state_of(&rs, "mql-oil-flow-while-cutting"), RuleState::Ok);
        step(&mut rs, 1.0, 1, false);
        assert_eq!(
            state_of(&rs, "mql-oil-flow-while-cutting"),
            RuleState::NotApplicable
        );
    }

    #[test]
    fn aerosol_on_while_idle_is_flagged() {
        let mut rs = RuleSet::new(
            vec![profile("gbt31210-near-dry.toml")],
            &all(),
            Some(&sheet()),
        );
        for i in 0..120 {
            rs.step(&Context {
                frame: &mql_frame(i * 100, 30.0, true, false),
                cutting: false,
                lubricant: None,
            });
        }
        assert_eq!(
            state_of(&rs, "mql-aerosol-off-when-idle"),
            RuleState::Violated
        );
        let s = rs
            .statuses()
            .into_iter()
            .find(|s| s.id == "mql-aerosol-off-when-idle")
            .unwrap();
        assert!(s.message.contains("while idle"), "{}", s.message);
    }

    #[test]
    fn diamond_on_steel_fails_dry_compatibility_and_profiles_follow_the_cooling_mode() {
        let profiles = vec![
            profile("gbt31210-near-dry.toml"),
            profile("gbt28614-dry.toml"),
        ];
        let mut rs = RuleSet::new(profiles, &all(), Some(&sheet()));
        let frame = |material: &str, cooling: &str| {
            Frame::from_values(
                0,
                [
                    ("cooling.mode", Value::Text(cooling.into())),
                    ("tool.material", Value::Text(material.into())),
                    ("tool.coating", Value::Text("none".into())),
                    ("workpiece.material_group", Value::Text("P".into())),
                    ("workpiece.material", Value::Text("C45".into())),
                    ("workpiece.hardness", Value::Number(18.0)),
                ],
            )
        };
        rs.step(&Context {
            frame: &frame("pcd", "dry"),
            cutting: true,
            lubricant: None,
        });
        assert_eq!(
            state_of(&rs, "dry-tool-workpiece-compatibility"),
            RuleState::Violated
        );
        assert_eq!(
            state_of(&rs, "mql-oil-flow-while-cutting"),
            RuleState::NotApplicable
        );
        rs.step(&Context {
            frame: &frame("carbide", "dry"),
            cutting: true,
            lubricant: None,
        });
        assert_eq!(
            state_of(&rs, "dry-tool-workpiece-compatibility"),
            RuleState::Ok
        );
        assert_eq!(
            state_of(&rs, "dry-coating-for-steel"),
            RuleState::Violated,
            "uncoated carbide on steel"
        );
        assert!(!rs.violated(), "an info rule alone is no violation");
        rs.step(&Context {
            frame: &frame("pcd", "mql"),
            cutting: true,
            lubricant: None,
        });
        assert_eq!(
            state_of(&rs, "dry-tool-workpiece-compatibility"),
            RuleState::NotApplicable
        );
    }

    /// Every status message, limit and condition a rule gives, in every state the tests can
    /// drive it to, reads in Chinese with the same numbers.
    #[test]
    fn every_rule_message_reads_in_chinese_with_the_same_numbers() {
        use crate::text::check::chinese;
        let profiles = vec![
            profile("gbt31210-near-dry.toml"),
            profile("gbt28614-dry.toml"),
        ];
        let mut rs = RuleSet::new(profiles, &all(), Some(&sheet()));
        // Identifiers, units and names from the configuration: the same in both languages.
        let mut ids: Vec<String> = [
            "ml/h",
            "MPa",
            "mg/m3",
            "dB(A)",
            "s",
            "ppm",
            "HRC",
            "MQL",
            "PCD",
            "PCBN",
            "TiAlN",
            "AlCrN",
            "(Al,Ti)N",
            "C45",
            "P",
            "GB/T",
            "[lubricant]",
            "Ester X",
            "mm2/s",
            "°C",
        ]
        .map(String::from)
        .to_vec();
        ids.extend(
            crate::vocabulary::SIGNALS
                .iter()
                .map(|s| s.name.to_string()),
        );
        ids.extend(rs.statuses().into_iter().map(|s| s.id));
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut seen = std::collections::HashSet::new();
        let mut check = |rs: &RuleSet| {
            for st in rs.statuses() {
                let msg = Text::new(st.message.clone(), st.message_zh.clone());
                chinese(&msg, &ids);
                if !st.limit.is_empty() {
                    chinese(&Text::new(st.limit.clone(), st.limit_zh.clone()), &ids);
                }
                seen.insert((st.id.clone(), st.state as u8, st.message.clone()));
            }
            for c in rs.conditions() {
                chinese(&Text::new(c.message, c.message_zh), &ids);
            }
        };
        let mut t = 0;
        let mut step = |rs: &mut RuleSet, frame: &dyn Fn(i64) -> Frame, cutting, secs: i64| {
            for _ in 0..secs * 10 {
                t += 100;
                let lub = sheet();
                rs.step(&Context {
                    frame: &frame(t),
                    cutting,
                    lubricant: Some(&lub),
                });
            }
        };
        // No cooling mode known, then MQL: flowing, starved within and past the grace, idle
        // with the aerosol left on, the air pressure out of its range.
        step(&mut rs, &|t| Frame::from_values(t, []), true, 1);
        check(&rs);
        step(&mut rs, &|t| mql_frame(t, 30.0, true, true), true, 2);
        check(&rs);
        step(&mut rs, &|t| mql_frame(t, 1.25, false, true), true, 2);
        check(&rs);
        step(&mut rs, &|t| mql_frame(t, 1.25, false, true), true, 5);
        check(&rs);
        step(&mut rs, &|t| mql_frame(t, 80.5, true, false), false, 4);
        check(&rs);
        step(&mut rs, &|t| mql_frame(t, 80.5, true, false), false, 10);
        check(&rs);
        let high_air = |t| {
            Frame::from_values(
                t,
                [
                    ("cooling.mode", Value::Text("mql".into())),
                    ("mql.air_pressure", Value::Number(0.75)),
                    ("mql.oil_flow", Value::Number(60.0)),
                    ("environment.noise", Value::Number(91.5)),
                    ("mql.mist_concentration", Value::Number(0.8)),
                ],
            )
        };
        step(&mut rs, &high_air, true, 12);
        check(&rs);
        // Dry: diamond on steel, uncoated carbide, coated carbide, hardened steel.
        for (material, coating, hardness) in [
            ("pcd", "none", 20.0),
            ("carbide", "none", 20.0),
            ("carbide", "TiAlN", 20.0),
            ("carbide", "TiAlN", 55.0),
        ] {
            let f = move |t| {
                Frame::from_values(
                    t,
                    [
                        ("cooling.mode", Value::Text("dry".into())),
                        ("tool.material", Value::Text(material.into())),
                        ("tool.coating", Value::Text(coating.into())),
                        ("workpiece.group", Value::Text("P".into())),
                        ("workpiece.material_group", Value::Text("P".into())),
                        ("workpiece.material", Value::Text("C45".into())),
                        ("workpiece.hardness", Value::Number(hardness)),
                    ],
                )
            };
            step(&mut rs, &f, true, 1);
            check(&rs);
        }
        // Without a data sheet.
        rs.step(&Context {
            frame: &mql_frame(t + 100, 30.0, true, true),
            cutting: true,
            lubricant: None,
        });
        check(&rs);
        let states: std::collections::HashSet<u8> = seen.iter().map(|s| s.1).collect();
        assert_eq!(states.len(), 4, "every state was checked");
        assert!(seen.len() > 40, "{} messages checked", seen.len());
    }

    #[test]
    fn lubricant_properties_are_checked_from_the_data_sheet() {
        let mut rs = RuleSet::new(
            vec![profile("gbt31210-near-dry.toml")],
            &all(),
            Some(&sheet()),
        );
        let lub = sheet();
        rs.step(&Context {
            frame: &mql_frame(0, 30.0, true, true),
            cutting: true,
            lubricant: Some(&lub),
        });
        assert_eq!(state_of(&rs, "lubricant-flash-point"), RuleState::Violated);
        assert_eq!(state_of(&rs, "lubricant-viscosity"), RuleState::Ok);
        assert_eq!(state_of(&rs, "lubricant-no-biocides"), RuleState::Violated);
        assert_eq!(state_of(&rs, "lubricant-benzo-a-pyrene"), RuleState::NoData);
    }
}
