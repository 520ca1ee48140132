//! Standards profiles: the green-cutting rules as data. A profile names the standard it serves,
//! the cooling modes it applies to, and its rules; each rule is one of a few typed kinds
//! implemented in `rules.rs`, with its limits, severity, `source` (where the number comes from)
//! and `verified` (true only where the number was read in the standard's own text). A user
//! replaces a limit from their own copy of the standard by editing the profile, not the code.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::ConfigError;
use crate::condition::Severity;
use crate::vocabulary::{self, Kind};

/// A checked profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub standard: String,
    pub title: String,
    /// The title in Simplified Chinese (`title_zh`, else `title`).
    pub title_zh: String,
    /// Cooling modes (`cooling.mode` values) the profile's rules apply to.
    pub cooling: Vec<String>,
    pub rules: Vec<Rule>,
    /// Texts without their Chinese (`title_zh`, `topic_zh`, `reason_zh`), each as
    /// `file:line:column: what`: the page shows the English there. Not an error (a user's own
    /// profile may be English only); `agent check-config` and the agent's start say so.
    pub untranslated: Vec<String>,
}

/// When a rule is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Cutting,
    Idle,
    Always,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub topic: String,
    /// The topic in Simplified Chinese (`topic_zh`, else `topic`).
    pub topic_zh: String,
    pub severity: Severity,
    pub source: String,
    /// The source in Simplified Chinese (`source_zh`, else `source`).
    pub source_zh: String,
    pub verified: bool,
    pub note: String,
    pub check: Check,
}

/// The typed rule kinds.
#[derive(Debug, Clone)]
pub enum Check {
    /// The signal's average over `window` stays within [min, max] while `when` holds.
    Range {
        signal: String,
        unit: String,
        min: Option<f64>,
        max: Option<f64>,
        window: Duration,
        when: When,
    },
    /// While cutting, the signal is present (a bool true, or a number ≥ min); absent for longer
    /// than `grace` is a violation (e.g. MQL starvation).
    PresentWhileCutting {
        signal: String,
        unit: String,
        min: Option<f64>,
        grace: Duration,
    },
    /// While idle (spindle stopped, or the door open), the bool signal is off; on for longer
    /// than `grace` is a violation (e.g. aerosol left on: needless mist).
    AbsentWhileIdle { signal: String, grace: Duration },
    /// Consumption rate: the average over `window` ≤ max, and no value above `peak_max`
    /// (short peaks below it are allowed).
    Consumption {
        signal: String,
        unit: String,
        max: f64,
        peak_max: Option<f64>,
        window: Duration,
    },
    /// Tool cutting material and coating against the workpiece's ISO 513 group and hardness.
    Compatibility {
        deny: Vec<Pairing>,
        require: Vec<Pairing>,
    },
    /// A static property of the lubricant in use, from its data sheet (`[lubricant]`).
    Property {
        property: String,
        min: Option<f64>,
        max: Option<f64>,
        equals: Option<PropertyValue>,
    },
}

/// One line of a compatibility table. Empty lists match anything.
///
/// `deny`: a violation when the tool (material, coating) and the workpiece (group, hardness)
/// all match. `require`: when the workpiece (and `for_tool_material`) match, the tool must be of
/// `tool_material` and carry `coating`.
#[derive(Debug, Clone, Default)]
pub struct Pairing {
    pub for_tool_material: Vec<String>,
    pub tool_material: Vec<String>,
    pub coating: Vec<String>,
    pub workpiece_group: Vec<String>,
    pub min_hardness_hrc: Option<f64>,
    pub reason: String,
    /// The reason in Simplified Chinese (`reason_zh`, else `reason`).
    pub reason_zh: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Bool(bool),
    Text(String),
}

impl std::fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::Text(t) => write!(f, "{t}"),
        }
    }
}

/// Lubricant properties a `property` rule may name, with their units.
pub const PROPERTIES: &[(&str, &str)] = &[
    ("flash_point_c", "degC"),
    ("evaporation_loss_pct", "%"),
    ("viscosity_40c_mm2_s", "mm2/s"),
    ("benzo_a_pyrene_ppm", "ppm"),
    ("biocides", "bool"),
    ("base_oil", "text"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    profile: RawHeader,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    id: String,
    standard: String,
    title: Spanned<String>,
    title_zh: Option<String>,
    cooling: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    topic: Spanned<String>,
    topic_zh: Option<String>,
    kind: Spanned<String>,
    severity: Severity,
    source: Spanned<String>,
    source_zh: Option<String>,
    verified: bool,
    #[serde(default)]
    note: String,
    signal: Option<Spanned<String>>,
    unit: Option<Spanned<String>>,
    min: Option<Spanned<f64>>,
    max: Option<Spanned<f64>>,
    peak_max: Option<Spanned<f64>>,
    window_s: Option<Spanned<f64>>,
    grace_s: Option<Spanned<f64>>,
    when: Option<When>,
    property: Option<Spanned<String>>,
    equals: Option<PropertyValue>,
    #[serde(default)]
    deny: Vec<RawPairing>,
    #[serde(default)]
    require: Vec<RawPairing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPairing {
    #[serde(default)]
    for_tool_material: Vec<String>,
    #[serde(default)]
    tool_material: Vec<String>,
    #[serde(default)]
    coating: Vec<String>,
    #[serde(default)]
    workpiece_group: Vec<String>,
    min_hardness_hrc: Option<f64>,
    reason: Spanned<String>,
    reason_zh: Option<String>,
}

const KINDS: &[&str] = &[
    "range",
    "present_while_cutting",
    "absent_while_idle",
    "consumption",
    "compatibility",
    "property",
];

/// Reads and checks a profile file.
pub fn load(file: &Path) -> Result<Profile, ConfigError> {
    parse(file, &super::diagnostic::read(file)?)
}

/// A text's Chinese, or its English where none is given (noted in `untranslated`, with the
/// place of the English text).
fn chinese(
    untranslated: &mut Vec<String>,
    file: &Path,
    text: &str,
    english: &Spanned<String>,
    zh: &Option<String>,
    key: &str,
) -> String {
    match zh.as_deref().map(str::trim) {
        Some(z) if !z.is_empty() => z.to_string(),
        _ => {
            let (line, column) = super::diagnostic::line_column(text, english.span().start);
            untranslated.push(format!(
                "{}:{line}:{column}: no `{key}`: the page shows `{}` in English",
                file.display(),
                english.get_ref()
            ));
            english.get_ref().clone()
        }
    }
}

pub fn parse(file: &Path, text: &str) -> Result<Profile, ConfigError> {
    let raw: RawProfile = super::diagnostic::toml(file, text)?;
    let mut d = Diagnostics::new(file, text);
    let mut untranslated = Vec::new();
    let title_zh = chinese(
        &mut untranslated,
        file,
        text,
        &raw.profile.title,
        &raw.profile.title_zh,
        "title_zh",
    );
    let mut ids = HashSet::new();
    let mut rules = Vec::new();
    for r in &raw.rules {
        if !ids.insert(r.id.get_ref().clone()) {
            d.at(
                r.id.span(),
                format!("duplicate rule id `{}`", r.id.get_ref()),
            );
        }
        if r.source.get_ref().trim().is_empty() {
            d.at(
                r.source.span(),
                "every rule needs a `source`: where its limit comes from",
            );
        }
        let topic_zh = chinese(
            &mut untranslated,
            file,
            text,
            &r.topic,
            &r.topic_zh,
            "topic_zh",
        );
        let source_zh = chinese(
            &mut untranslated,
            file,
            text,
            &r.source,
            &r.source_zh,
            "source_zh",
        );
        for p in r.deny.iter().chain(&r.require) {
            chinese(
                &mut untranslated,
                file,
                text,
                &p.reason,
                &p.reason_zh,
                "reason_zh",
            );
        }
        if let Some(check) = check(&mut d, r) {
            rules.push(Rule {
                id: r.id.get_ref().clone(),
                topic: r.topic.get_ref().clone(),
                topic_zh,
                severity: r.severity,
                source: r.source.get_ref().clone(),
                source_zh,
                verified: r.verified,
                note: r.note.clone(),
                check,
            });
        }
    }
    let h = raw.profile;
    d.into_result(Profile {
        id: h.id,
        standard: h.standard,
        title: h.title.into_inner(),
        title_zh,
        cooling: h.cooling,
        rules,
        untranslated,
    })
}

fn seconds(d: &mut Diagnostics, v: &Option<Spanned<f64>>, what: &str, default: f64) -> Duration {
    match v {
        None => Duration::from_secs_f64(default),
        Some(s) if !s.get_ref().is_finite() || *s.get_ref() < 0.0 => {
            d.at(s.span(), format!("{what} must be a number of seconds ≥ 0"));
            Duration::from_secs_f64(default)
        }
        Some(s) => Duration::from_secs_f64(*s.get_ref()),
    }
}

/// The rule's signal, checked against the vocabulary; its unit checked against the signal's.
fn signal(d: &mut Diagnostics, r: &RawRule, want: &[Kind]) -> Option<(String, String)> {
    let Some(s) = &r.signal else {
        d.at(
            r.kind.span(),
            format!(
                "rule `{}` ({}) needs `signal`",
                r.id.get_ref(),
                r.kind.get_ref()
            ),
        );
        return None;
    };
    let Some(def) = vocabulary::find(s.get_ref()) else {
        let hint = vocabulary::closest(s.get_ref())
            .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
        d.at(
            s.span(),
            format!(
                "rule `{}`: unknown signal `{}`{hint}",
                r.id.get_ref(),
                s.get_ref()
            ),
        );
        return None;
    };
    if !want.contains(&def.kind) {
        d.at(
            s.span(),
            format!(
                "rule `{}`: signal `{}` has the wrong kind for a {} rule",
                r.id.get_ref(),
                def.name,
                r.kind.get_ref()
            ),
        );
    }
    if let Some(u) = &r.unit {
        if u.get_ref() != def.unit {
            d.at(
                u.span(),
                format!(
                    "rule `{}`: unit `{}` but `{}` is in `{}`",
                    r.id.get_ref(),
                    u.get_ref(),
                    def.name,
                    def.unit
                ),
            );
        }
    }
    Some((def.name.to_string(), def.unit.to_string()))
}

fn bounds(d: &mut Diagnostics, r: &RawRule, need_one: bool) -> (Option<f64>, Option<f64>) {
    let min = r.min.as_ref().map(|m| *m.get_ref());
    let max = r.max.as_ref().map(|m| *m.get_ref());
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            d.at(
                r.min.as_ref().unwrap().span(),
                format!("rule `{}`: min {lo} > max {hi}", r.id.get_ref()),
            );
        }
    }
    if need_one && min.is_none() && max.is_none() {
        d.at(
            r.kind.span(),
            format!("rule `{}` needs `min`, `max` or both", r.id.get_ref()),
        );
    }
    (min, max)
}

fn unused(d: &mut Diagnostics, r: &RawRule, fields: &[(&str, Option<Range<usize>>)]) {
    for (name, span) in fields {
        if let Some(span) = span {
            d.at(
                span.clone(),
                format!(
                    "rule `{}`: `{name}` does not apply to kind {}",
                    r.id.get_ref(),
                    r.kind.get_ref()
                ),
            );
        }
    }
}

fn check(d: &mut Diagnostics, r: &RawRule) -> Option<Check> {
    let kind = r.kind.get_ref().as_str();
    let sp = |v: &Option<Spanned<f64>>| v.as_ref().map(Spanned::span);
    match kind {
        "range" => {
            let (signal, unit) = signal(d, r, &[Kind::Number])?;
            let (min, max) = bounds(d, r, true);
            unused(
                d,
                r,
                &[("peak_max", sp(&r.peak_max)), ("grace_s", sp(&r.grace_s))],
            );
            Some(Check::Range {
                signal,
                unit,
                min,
                max,
                window: seconds(d, &r.window_s, "window_s", 0.0),
                when: r.when.unwrap_or(When::Cutting),
            })
        }
        "present_while_cutting" => {
            let (signal, unit) = signal(d, r, &[Kind::Number, Kind::Bool])?;
            let (min, _) = bounds(d, r, false);
            unused(
                d,
                r,
                &[
                    ("max", sp(&r.max)),
                    ("peak_max", sp(&r.peak_max)),
                    ("window_s", sp(&r.window_s)),
                ],
            );
            Some(Check::PresentWhileCutting {
                signal,
                unit,
                min,
                grace: seconds(d, &r.grace_s, "grace_s", 5.0),
            })
        }
        "absent_while_idle" => {
            let (signal, _) = signal(d, r, &[Kind::Bool])?;
            unused(
                d,
                r,
                &[
                    ("min", sp(&r.min)),
                    ("max", sp(&r.max)),
                    ("window_s", sp(&r.window_s)),
                ],
            );
            Some(Check::AbsentWhileIdle {
                signal,
                grace: seconds(d, &r.grace_s, "grace_s", 10.0),
            })
        }
        "consumption" => {
            let (signal, unit) = signal(d, r, &[Kind::Number])?;
            let (_, max) = bounds(d, r, true);
            let Some(max) = max else {
                d.at(
                    r.kind.span(),
                    format!("rule `{}` (consumption) needs `max`", r.id.get_ref()),
                );
                return None;
            };
            let peak_max = r.peak_max.as_ref().map(|p| *p.get_ref());
            if peak_max.is_some_and(|p| p < max) {
                d.at(
                    r.peak_max.as_ref().unwrap().span(),
                    format!("rule `{}`: peak_max below max", r.id.get_ref()),
                );
            }
            Some(Check::Consumption {
                signal,
                unit,
                max,
                peak_max,
                window: seconds(d, &r.window_s, "window_s", 3600.0),
            })
        }
        "compatibility" => {
            if r.deny.is_empty() && r.require.is_empty() {
                d.at(
                    r.kind.span(),
                    format!(
                        "rule `{}` (compatibility) needs [[rule.deny]] or [[rule.require]] entries",
                        r.id.get_ref()
                    ),
                );
            }
            let conv = |p: &RawPairing| Pairing {
                for_tool_material: p
                    .for_tool_material
                    .iter()
                    .map(|s| s.to_lowercase())
                    .collect(),
                tool_material: p.tool_material.iter().map(|s| s.to_lowercase()).collect(),
                coating: p.coating.iter().map(|s| s.to_lowercase()).collect(),
                workpiece_group: p.workpiece_group.iter().map(|s| s.to_uppercase()).collect(),
                min_hardness_hrc: p.min_hardness_hrc,
                reason: p.reason.get_ref().clone(),
                reason_zh: p
                    .reason_zh
                    .as_deref()
                    .map(str::trim)
                    .filter(|z| !z.is_empty())
                    .unwrap_or(p.reason.get_ref())
                    .to_string(),
            };
            Some(Check::Compatibility {
                deny: r.deny.iter().map(conv).collect(),
                require: r.require.iter().map(conv).collect(),
            })
        }
        "property" => {
            let Some(p) = &r.property else {
                d.at(
                    r.kind.span(),
                    format!("rule `{}` (property) needs `property`", r.id.get_ref()),
                );
                return None;
            };
            if !PROPERTIES.iter().any(|(n, _)| n == p.get_ref()) {
                let known: Vec<&str> = PROPERTIES.iter().map(|(n, _)| *n).collect();
                d.at(
                    p.span(),
                    format!(
                        "rule `{}`: unknown property `{}` (one of: {})",
                        r.id.get_ref(),
                        p.get_ref(),
                        known.join(", ")
                    ),
                );
            }
            let (min, max) = bounds(d, r, r.equals.is_none());
            Some(Check::Property {
                property: p.get_ref().clone(),
                min,
                max,
                equals: r.equals.clone(),
            })
        }
        other => {
            d.at(
                r.kind.span(),
                format!(
                    "rule `{}`: unknown kind `{other}` (one of: {})",
                    r.id.get_ref(),
                    KINDS.join(", ")
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(Path::new("p.toml"), text) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    const HEAD: &str =
        "[profile]\nid = \"x\"\nstandard = \"S\"\ntitle = \"T\"\ncooling = [\"mql\"]\n";

    fn rule(body: &str) -> String {
        format!("{HEAD}\n[[rule]]\nid = \"r\"\ntopic = \"t\"\nseverity = \"warning\"\nsource = \"somewhere\"\nverified = false\n{body}")
    }

    #[test]
    fn the_shipped_profiles_load() {
        for f in ["gbt31210-near-dry.toml", "gbt28614-dry.toml"] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../configs/standards")
                .join(f);
            let prof = load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(!prof.rules.is_empty());
            // Nothing in a shipped profile may claim to be read in a GB/T text: none was.
            assert!(
                prof.rules.iter().all(|r| !r.verified),
                "{f} claims a verified limit"
            );
            // Every text a person reads is there in Chinese too.
            assert!(
                prof.untranslated.is_empty(),
                "{f}:\n{}",
                prof.untranslated.join("\n")
            );
            let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
            assert!(han(&prof.title_zh), "{f}: title_zh");
            // The same figures in both: a limit's source may not say another number.
            let numbers = |s: &str| {
                let mut n = crate::text::check::numbers(s);
                n.sort();
                n
            };
            assert_eq!(numbers(&prof.title), numbers(&prof.title_zh), "{f}: title");
            for r in &prof.rules {
                assert!(han(&r.topic_zh), "{f}: {} topic_zh", r.id);
                assert!(han(&r.source_zh), "{f}: {} source_zh", r.id);
                assert_eq!(
                    numbers(&r.source),
                    numbers(&r.source_zh),
                    "{f}: {} source_zh",
                    r.id
                );
                if let Check::Compatibility { deny, require } = &r.check {
                    for p in deny.iter().chain(require) {
                        assert!(han(&p.reason_zh), "{f}: {} reason_zh", r.id);
                        assert_eq!(numbers(&p.reason), numbers(&p.reason_zh), "{f}: {}", r.id);
                    }
                }
            }
        }
    }

    #[test]
    fn a_profile_without_chinese_falls_back_to_english_and_says_where() {
        let text = rule(
            "kind = \"compatibility\"\n[[rule.deny]]\ntool_material = [\"pcd\"]\nreason = \"no diamond on iron\"\n",
        );
        let p = parse(Path::new("p.toml"), &text).unwrap();
        assert_eq!(p.title_zh, "T");
        assert_eq!(p.rules[0].topic_zh, "t");
        let Check::Compatibility { deny, .. } = &p.rules[0].check else {
            panic!("compatibility")
        };
        assert_eq!(deny[0].reason_zh, "no diamond on iron");
        assert_eq!(
            p.untranslated,
            [
                "p.toml:4:9: no `title_zh`: the page shows `T` in English",
                "p.toml:9:9: no `topic_zh`: the page shows `t` in English",
                "p.toml:11:10: no `source_zh`: the page shows `somewhere` in English",
                "p.toml:16:10: no `reason_zh`: the page shows `no diamond on iron` in English",
            ]
        );
        let text = text
            .replace("title = \"T\"", "title = \"T\"\ntitle_zh = \"标题\"")
            .replace("topic = \"t\"", "topic = \"t\"\ntopic_zh = \"主题\"")
            .replace(
                "source = \"somewhere\"",
                "source = \"somewhere\"\nsource_zh = \"某处\"",
            )
            .replace(
                "reason = \"no diamond on iron\"",
                "reason = \"no diamond on iron\"\nreason_zh = \"金刚石刀具不可加工铁基材料\"",
            );
        let p = parse(Path::new("p.toml"), &text).unwrap();
        assert!(p.untranslated.is_empty(), "{:?}", p.untranslated);
        assert_eq!(p.title_zh, "标题");
        assert_eq!(p.rules[0].topic_zh, "主题");
    }

    #[test]
    fn broken_rules_are_rejected_with_their_line() {
        let p = problems(&rule(
            "kind = \"range\"\nsignal = \"mql.oil_flwo\"\nmax = 50.0\n",
        ));
        assert!(
            p[0].starts_with("p.toml:14:") && p[0].contains("did you mean `mql.oil_flow`"),
            "{p:?}"
        );
        let p = problems(&rule(
            "kind = \"range\"\nsignal = \"mql.air_pressure\"\nmin = 0.6\nmax = 0.4\n",
        ));
        assert!(
            p[0].starts_with("p.toml:15:") && p[0].contains("min 0.6 > max 0.4"),
            "{p:?}"
        );
        let p = problems(&rule("kind = \"limit\"\nsignal = \"mql.oil_flow\"\n"));
        assert!(
            p[0].starts_with("p.toml:13:") && p[0].contains("unknown kind `limit`"),
            "{p:?}"
        );
        let p = problems(&rule(
            "kind = \"range\"\nsignal = \"mql.oil_flow\"\nunit = \"l/h\"\nmax = 1.0\n",
        ));
        assert!(p[0].contains("unit `l/h`"), "{p:?}");
        let p = problems(&rule(
            "kind = \"absent_while_idle\"\nsignal = \"mql.oil_flow\"\n",
        ));
        assert!(p[0].contains("wrong kind"), "{p:?}");
    }
}
