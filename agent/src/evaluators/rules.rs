//! Evaluating the rules of the loaded profiles, tick by tick. Each rule keeps its own small
//! state (a window, a since-when); its status says ok, violated, not applicable (the profile's
//! cooling mode or the rule's `when` does not hold) or no data (the signals it needs are not
//! good), with the value, the limit and where the limit comes from.

use serde::Serialize;

use super::frame::Frame;
use super::window::WindowMean;
use crate::condition::{Condition, Severity};
use crate::config::profile::{Check, Pairing, Profile, PropertyValue, Rule, When};
use crate::config::Lubricant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleState {
    Ok,
    Violated,
    NotApplicable,
    NoData,
}

/// A rule's live status, as `/api/compliance` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub id: String,
    pub profile: String,
    pub standard: String,
    pub topic: String,
    pub kind: &'static str,
    pub state: RuleState,
    pub value: Option<f64>,
    pub limit: String,
    pub unit: String,
    /// Since when the rule has been in this state (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    pub source: String,
    pub verified: bool,
    pub severity: Severity,
    /// Whether this agent is configured to feed the rule at all (its signals mapped, or a
    /// `[lubricant]` given). An unmonitored rule can never pass or fail; a monitored rule
    /// without data makes the verdict `no_data`, never `compliant`.
    pub monitored: bool,
    pub message: String,
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

struct Tracker {
    profile: usize,
    rule: Rule,
    window: Option<WindowMean>,
    /// Since when the bad condition has held (for grace periods).
    bad_since: Option<i64>,
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

/// The signals a rule needs.
fn inputs(c: &Check) -> Vec<&str> {
    match c {
        Check::Range { signal, .. }
        | Check::PresentWhileCutting { signal, .. }
        | Check::AbsentWhileIdle { signal, .. }
        | Check::Consumption { signal, .. } => vec![signal.as_str()],
        Check::Compatibility { .. } => vec!["tool.material", "workpiece.material_group"],
        Check::Property { .. } => vec![],
    }
}

impl RuleSet {
    /// `fed`: the canonical signals some device feeds; `lubricant`: the data sheet, if given.
    pub fn new(
        profiles: Vec<Profile>,
        fed: &std::collections::HashSet<String>,
        lubricant: Option<&Lubricant>,
    ) -> RuleSet {
        let mut trackers = Vec::new();
        for (pi, p) in profiles.iter().enumerate() {
            for r in &p.rules {
                let window = match &r.check {
                    Check::Range { window, .. } | Check::Consumption { window, .. }
                        if !window.is_zero() =>
                    {
                        Some(WindowMean::new(window.as_millis() as i64))
                    }
                    _ => None,
                };
                let (kind, limit, unit) = describe(&r.check);
                let monitored = match &r.check {
                    Check::Property { property, .. } => lubricant.is_some_and(|l| {
                        l.number(property).is_some() || l.property(property).is_some()
                    }),
                    c => inputs(c).iter().all(|s| fed.contains(*s)),
                };
                trackers.push(Tracker {
                    profile: pi,
                    rule: r.clone(),
                    window,
                    bad_since: None,
                    status: RuleStatus {
                        id: r.id.clone(),
                        profile: p.id.clone(),
                        standard: p.standard.clone(),
                        topic: r.topic.clone(),
                        kind,
                        state: RuleState::NoData,
                        value: None,
                        limit,
                        unit,
                        since_ms: None,
                        source: r.source.clone(),
                        verified: r.verified,
                        severity: r.severity,
                        monitored,
                        message: String::new(),
                    },
                });
            }
        }
        RuleSet { profiles, trackers }
    }

    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// The profile that applies to a cooling mode, if any.
    pub fn profile_for(&self, cooling: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.cooling.iter().any(|c| c == cooling))
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
            .any(|t| t.status.state == RuleState::Violated && t.rule.severity >= Severity::Warning)
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
            .map(|t| Condition {
                key: format!("rule:{}.{}", t.status.profile, t.status.id),
                active: t.status.state == RuleState::Violated,
                severity: t.rule.severity,
                message: format!(
                    "{} ({}): {}",
                    t.status.id, t.status.standard, t.status.message
                ),
                source: t.status.source.clone(),
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
            let (state, value, message) = match cooling {
                None => (RuleState::NoData, None, "cooling mode unknown".to_string()),
                Some(c) if !profile.cooling.iter().any(|p| p == c) => (
                    RuleState::NotApplicable,
                    None,
                    format!(
                        "cooling mode is {c}; this profile is for {}",
                        profile.cooling.join(", ")
                    ),
                ),
                Some(_) => evaluate(t, ctx),
            };
            let before = t.status.state;
            if state != before || t.status.since_ms.is_none() {
                t.status.since_ms = Some(now);
                if state == RuleState::Violated {
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
            t.status.state = state;
            t.status.value = value;
            t.status.message = message;
        }
        out
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

fn describe(c: &Check) -> (&'static str, String, String) {
    match c {
        Check::Range {
            unit,
            min,
            max,
            window,
            ..
        } => {
            let avg = if window.is_zero() {
                String::new()
            } else {
                format!(" ({} s average)", window.as_secs())
            };
            (
                "range",
                format!("{}{avg}", fmt_bounds(*min, *max, unit)),
                unit.clone(),
            )
        }
        Check::PresentWhileCutting {
            unit, min, grace, ..
        } => (
            "present_while_cutting",
            match min {
                Some(m) => format!(
                    "≥ {m} {unit} while cutting (grace {} s)",
                    grace.as_secs_f64()
                ),
                None => format!("on while cutting (grace {} s)", grace.as_secs_f64()),
            },
            unit.clone(),
        ),
        Check::AbsentWhileIdle { grace, .. } => (
            "absent_while_idle",
            format!("off while idle (grace {} s)", grace.as_secs_f64()),
            String::new(),
        ),
        Check::Consumption {
            unit,
            max,
            peak_max,
            window,
            ..
        } => (
            "consumption",
            format!(
                "≤ {max} {unit} ({} s average){}",
                window.as_secs(),
                peak_max.map_or(String::new(), |p| format!(", peaks ≤ {p} {unit}"))
            ),
            unit.clone(),
        ),
        Check::Compatibility { deny, require } => {
            let mut parts: Vec<String> =
                deny.iter().map(|p| format!("not: {}", p.reason)).collect();
            parts.extend(require.iter().map(|p| p.reason.clone()));
            ("compatibility", parts.join("; "), String::new())
        }
        Check::Property {
            property,
            min,
            max,
            equals,
        } => (
            "property",
            match equals {
                Some(PropertyValue::Bool(b)) => format!("{property} = {b}"),
                Some(PropertyValue::Text(t)) => format!("{property} = {t}"),
                None => format!("{property} {}", fmt_bounds(*min, *max, "")),
            },
            crate::config::profile::PROPERTIES
                .iter()
                .find(|(n, _)| n == property)
                .map_or("", |(_, u)| u)
                .to_string(),
        ),
    }
}

fn outside(v: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m)
}

/// Evaluates one rule whose profile applies.
fn evaluate(t: &mut Tracker, ctx: &Context) -> (RuleState, Option<f64>, String) {
    let now = ctx.frame.now_ms;
    let f = ctx.frame;
    match &t.rule.check {
        Check::Range {
            signal,
            unit,
            min,
            max,
            when,
            ..
        } => {
            let applies = match when {
                When::Cutting => ctx.cutting,
                When::Idle => ctx.idle() == Some(true),
                When::Always => true,
            };
            if let Some(w) = &mut t.window {
                w.expire(now);
            }
            if !applies {
                return (
                    RuleState::NotApplicable,
                    None,
                    format!("only checked while {}", when_word(*when)),
                );
            }
            let Some(v) = f.num(signal) else {
                return (
                    RuleState::NoData,
                    None,
                    format!("no good value of {signal}"),
                );
            };
            let value = match &mut t.window {
                Some(w) => {
                    w.push(now, v);
                    w.mean().unwrap_or(v)
                }
                None => v,
            };
            if outside(value, *min, *max) {
                (
                    RuleState::Violated,
                    Some(value),
                    format!("{signal} at {value:.3} {unit}, limit {}", t.status.limit),
                )
            } else {
                (
                    RuleState::Ok,
                    Some(value),
                    format!("{signal} at {value:.3} {unit}"),
                )
            }
        }
        Check::PresentWhileCutting {
            signal,
            unit,
            min,
            grace,
        } => {
            if !ctx.cutting {
                t.bad_since = None;
                return (
                    RuleState::NotApplicable,
                    None,
                    "only checked while cutting".into(),
                );
            }
            let (present, value) = match (f.flag(signal), f.num(signal), min) {
                (_, Some(v), Some(m)) => (v >= *m, Some(v)),
                (Some(b), _, None) => (b, Some(f64::from(u8::from(b)))),
                _ => {
                    return (
                        RuleState::NoData,
                        None,
                        format!("no good value of {signal}"),
                    )
                }
            };
            if present {
                t.bad_since = None;
                return (
                    RuleState::Ok,
                    value,
                    format!("{signal} present while cutting"),
                );
            }
            let since = *t.bad_since.get_or_insert(now);
            let absent_s = (now - since) as f64 / 1000.0;
            if absent_s > grace.as_secs_f64() {
                let what = match (value, min) {
                    (Some(v), Some(m)) => format!("{signal} at {v:.1} {unit} (< {m} {unit})"),
                    _ => format!("{signal} off"),
                };
                (
                    RuleState::Violated,
                    value,
                    format!("{what} while cutting for {absent_s:.0} s"),
                )
            } else {
                (
                    RuleState::Ok,
                    value,
                    format!("{signal} absent for {absent_s:.1} s (within grace)"),
                )
            }
        }
        Check::AbsentWhileIdle { signal, grace } => {
            let Some(idle) = ctx.idle() else {
                return (RuleState::NoData, None, "spindle state unknown".into());
            };
            if !idle {
                t.bad_since = None;
                return (
                    RuleState::NotApplicable,
                    None,
                    "only checked while idle".into(),
                );
            }
            let Some(on) = f.flag(signal) else {
                return (
                    RuleState::NoData,
                    None,
                    format!("no good value of {signal}"),
                );
            };
            if !on {
                t.bad_since = None;
                return (RuleState::Ok, Some(0.0), format!("{signal} off while idle"));
            }
            let since = *t.bad_since.get_or_insert(now);
            let on_s = (now - since) as f64 / 1000.0;
            if on_s > grace.as_secs_f64() {
                (
                    RuleState::Violated,
                    Some(1.0),
                    format!(
                        "{signal} on while idle (spindle stopped or door open) for {on_s:.0} s"
                    ),
                )
            } else {
                (
                    RuleState::Ok,
                    Some(1.0),
                    format!("{signal} on while idle for {on_s:.1} s (within grace)"),
                )
            }
        }
        Check::Consumption {
            signal,
            unit,
            max,
            peak_max,
            ..
        } => {
            if let Some(w) = &mut t.window {
                w.expire(now);
            }
            if ctx.cutting {
                if let (Some(v), Some(w)) = (f.num(signal), &mut t.window) {
                    w.push(now, v);
                }
            }
            let current = f.num(signal);
            let Some(mean) = t.window.as_ref().and_then(WindowMean::mean) else {
                return (
                    RuleState::NoData,
                    None,
                    "no consumption measured while cutting yet".into(),
                );
            };
            if mean > *max {
                (
                    RuleState::Violated,
                    Some(mean),
                    format!("average {mean:.1} {unit} while cutting, limit {max} {unit}"),
                )
            } else if let (Some(p), Some(c)) = (peak_max, current) {
                if c > *p {
                    (
                        RuleState::Violated,
                        Some(c),
                        format!("peak {c:.1} {unit} above {p} {unit}"),
                    )
                } else {
                    (
                        RuleState::Ok,
                        Some(mean),
                        format!("average {mean:.1} {unit} while cutting"),
                    )
                }
            } else {
                (
                    RuleState::Ok,
                    Some(mean),
                    format!("average {mean:.1} {unit} while cutting"),
                )
            }
        }
        Check::Compatibility { deny, require } => {
            let (Some(material), Some(group)) =
                (f.text("tool.material"), f.text("workpiece.material_group"))
            else {
                return (
                    RuleState::NoData,
                    None,
                    "tool material or workpiece group unknown".into(),
                );
            };
            let tool = Tool {
                material: material.to_lowercase(),
                coating: f.text("tool.coating").unwrap_or("none").to_lowercase(),
                group: group.to_uppercase(),
                hardness: f.num("workpiece.hardness"),
            };
            let who = format!(
                "{} {} on {} (group {})",
                tool.material,
                tool.coating,
                f.text("workpiece.material").unwrap_or("?"),
                tool.group
            );
            if let Some(p) = deny.iter().find(|p| tool.denied_by(p)) {
                return (RuleState::Violated, None, format!("{who}: {}", p.reason));
            }
            if let Some(p) = require.iter().find(|p| tool.misses(p)) {
                return (RuleState::Violated, None, format!("{who}: {}", p.reason));
            }
            (RuleState::Ok, None, format!("{who}: compatible"))
        }
        Check::Property {
            property,
            min,
            max,
            equals,
        } => {
            let Some(lub) = ctx.lubricant else {
                return (
                    RuleState::NoData,
                    None,
                    "no [lubricant] in the configuration".into(),
                );
            };
            let name = &lub.name;
            if let Some(want) = equals {
                return match lub.property(property) {
                    None => (
                        RuleState::NoData,
                        None,
                        format!("{name}: {property} not given in [lubricant]"),
                    ),
                    Some(have) if same_property(&have, want) => {
                        (RuleState::Ok, None, format!("{name}: {property} = {have}"))
                    }
                    Some(have) => (
                        RuleState::Violated,
                        None,
                        format!("{name}: {property} = {have}, required {want}"),
                    ),
                };
            }
            match lub.number(property) {
                None => (
                    RuleState::NoData,
                    None,
                    format!("{name}: {property} not given in [lubricant]"),
                ),
                Some(x) if outside(x, *min, *max) => (
                    RuleState::Violated,
                    Some(x),
                    format!("{name}: {property} = {x}, limit {}", t.status.limit),
                ),
                Some(x) => (RuleState::Ok, Some(x), format!("{name}: {property} = {x}")),
            }
        }
    }
}

fn same_property(a: &PropertyValue, b: &PropertyValue) -> bool {
    match (a, b) {
        (PropertyValue::Bool(x), PropertyValue::Bool(y)) => x == y,
        (PropertyValue::Text(x), PropertyValue::Text(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

fn when_word(w: When) -> &'static str {
    match w {
        When::Cutting => "cutting",
        When::Idle => "idle",
        When::Always => "always",
    }
}

struct Tool {
    material: String,
    coating: String,
    group: String,
    hardness: Option<f64>,
}

fn any_of(list: &[String], v: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x.eq_ignore_ascii_case(v))
}

impl Tool {
    fn workpiece_matches(&self, p: &Pairing) -> bool {
        any_of(&p.workpiece_group, &self.group)
            && p.min_hardness_hrc
                .is_none_or(|h| self.hardness.is_some_and(|x| x >= h))
    }

    fn denied_by(&self, p: &Pairing) -> bool {
        self.workpiece_matches(p)
            && any_of(&p.tool_material, &self.material)
            && any_of(&p.coating, &self.coating)
    }

    fn misses(&self, p: &Pairing) -> bool {
        self.workpiece_matches(p)
            && any_of(&p.for_tool_material, &self.material)
            && !(any_of(&p.tool_material, &self.material) && any_of(&p.coating, &self.coating))
    }
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
