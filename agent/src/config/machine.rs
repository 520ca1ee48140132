//! `[machine]`: the machine context a real controller does not publish, as data.
//!
//! - `fixed`: signals with one value for this machine (`cooling.mode = "mql"` on a machine that
//!   only has MQL; the workpiece material of a machine that runs one material);
//! - `tool_table`, `program_table`: files (`tables.rs`) the agent looks the tool in the spindle
//!   and the program running up in; each feeds the signals of its kind that no device feeds;
//! - `[[machine.derived]]`: signals computed from other signals, as a few typed kinds (no
//!   expression language): the cooling mode from the coolant M-code or from PLC bits, a load
//!   in % from spindle power or current against its rating.
//!
//! Every signal has exactly one feeder: a device tag, a fixed value, a table or a derivation;
//! two are a configuration error naming both.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::tables::{PROGRAM_SIGNALS, TOOL_SIGNALS};
use crate::value::Value;
use crate::vocabulary::{self, Kind};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMachine {
    #[serde(default)]
    pub fixed: BTreeMap<String, Spanned<toml::Value>>,
    pub tool_table: Option<Spanned<String>>,
    pub program_table: Option<Spanned<String>>,
    #[serde(default)]
    pub derived: Vec<RawDerived>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDerived {
    pub signal: Spanned<String>,
    pub kind: Spanned<String>,
    pub input: Option<Spanned<String>>,
    /// `codes`: code → value, e.g. `{ "7" = "mql", "8" = "flood", "9" = "dry" }`.
    pub codes: Option<BTreeMap<String, String>>,
    /// `flags`: in order, the first flag that is on gives the value.
    pub flags: Option<Vec<RawFlag>>,
    /// `flags`: the value while no flag is on.
    pub otherwise: Option<String>,
    /// `percent_of_rated`: the input's value at 100 %.
    pub rated: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlag {
    pub signal: String,
    pub value: String,
}

/// The device the machine context's signals belong to in the state and the API.
pub const CONTEXT_DEVICE: &str = "machine-context";

/// Where a signal comes from, as `/api/signals` says (`source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// A device's tag.
    Device,
    /// `[machine] fixed`.
    Fixed,
    /// The tool table or the program table.
    Table,
    /// `[[machine.derived]]`.
    Derived,
}

/// How a derived signal is computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Derivation {
    /// The input's code (a number, or text such as `M08`) looked up: M-codes for coolant.
    Codes {
        input: String,
        codes: Vec<(i64, String)>,
    },
    /// The first of the bool inputs that is on gives the value; none on gives `otherwise`.
    Flags {
        flags: Vec<(String, String)>,
        otherwise: Option<String>,
    },
    /// The input as a percentage of its rated value (spindle power or current → load in %).
    PercentOfRated { input: String, rated: f64 },
}

impl Derivation {
    /// The signals it reads.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Derivation::Codes { input, .. } | Derivation::PercentOfRated { input, .. } => {
                vec![input]
            }
            Derivation::Flags { flags, .. } => flags.iter().map(|(s, _)| s.as_str()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub signal: String,
    pub rule: Derivation,
}

/// The checked `[machine]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineContext {
    pub fixed: Vec<(String, Value)>,
    /// Resolved relative to the configuration file.
    pub tool_table: Option<PathBuf>,
    pub program_table: Option<PathBuf>,
    /// The signals the tables feed: those of their kinds no device or other feeder feeds.
    pub tool_signals: Vec<String>,
    pub program_signals: Vec<String>,
    pub derived: Vec<Derived>,
}

impl MachineContext {
    /// Every signal this section feeds, with where it comes from.
    pub fn signals(&self) -> Vec<(&str, SignalSource)> {
        let mut out: Vec<(&str, SignalSource)> = self
            .fixed
            .iter()
            .map(|(s, _)| (s.as_str(), SignalSource::Fixed))
            .collect();
        out.extend(
            self.tool_signals
                .iter()
                .chain(&self.program_signals)
                .map(|s| (s.as_str(), SignalSource::Table)),
        );
        out.extend(
            self.derived
                .iter()
                .map(|d| (d.signal.as_str(), SignalSource::Derived)),
        );
        out
    }
}

/// The default coolant M-codes (DIN 66025 / ISO 6983): M07 mist, M08 flood, M09 off. A machine
/// whose M07 starts its MQL unit reads M07 as `mql`; configure `codes` where it differs.
const DEFAULT_CODES: &[(i64, &str)] = &[(7, "mql"), (8, "flood"), (9, "dry")];

fn value_for(d: &mut Diagnostics, signal: &str, v: &Spanned<toml::Value>) -> Option<Value> {
    let Some(def) = vocabulary::find(signal) else {
        return None; // reported by the caller
    };
    let got = match (def.kind, v.get_ref()) {
        (Kind::Text, toml::Value::String(s)) => Some(Value::Text(s.clone())),
        (Kind::Number, toml::Value::Float(x)) if x.is_finite() => Some(Value::Number(*x)),
        (Kind::Number, toml::Value::Integer(i)) => Some(Value::Number(*i as f64)),
        (Kind::Bool, toml::Value::Boolean(b)) => Some(Value::Bool(*b)),
        _ => None,
    };
    if got.is_none() {
        let want = match def.kind {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Bool => "true or false",
        };
        d.at(
            v.span(),
            format!(
                "[machine] fixed `{signal}` must be {want} (in {})",
                def.unit
            ),
        );
    }
    got
}

/// Checks `[machine]`. `device_signals`: what the devices' tags feed; `file`: the
/// configuration file (tables are relative to it).
pub fn check(
    d: &mut Diagnostics,
    raw: &RawMachine,
    device_signals: &HashMap<String, String>,
    file: &Path,
) -> MachineContext {
    let base = file.parent().unwrap_or(Path::new("."));
    // Signal → who feeds it, for the one-feeder rule.
    let mut feeders: HashMap<String, String> = device_signals
        .iter()
        .map(|(s, dev)| (s.clone(), format!("device `{dev}`")))
        .collect();
    let mut claim = |d: &mut Diagnostics, signal: &str, by: &str, span: std::ops::Range<usize>| {
        if vocabulary::find(signal).is_none() {
            let hint = vocabulary::closest(signal)
                .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
            d.at(span, format!("`{signal}` is not a canonical signal{hint}"));
            return false;
        }
        if let Some(first) = feeders.get(signal) {
            d.at(
                span,
                format!("`{signal}` is already fed by {first}; a signal has one source"),
            );
            return false;
        }
        feeders.insert(signal.to_string(), by.to_string());
        true
    };
    let mut ctx = MachineContext::default();
    for (signal, v) in &raw.fixed {
        if claim(d, signal, "[machine] fixed", v.span()) {
            if let Some(value) = value_for(d, signal, v) {
                ctx.fixed.push((signal.clone(), value));
            }
        }
    }
    let mut derived = Vec::new();
    for r in &raw.derived {
        let signal = r.signal.get_ref().clone();
        if !claim(d, &signal, "[[machine.derived]]", r.signal.span()) {
            continue;
        }
        if let Some(rule) = derivation(d, r) {
            derived.push(Derived { signal, rule });
        }
    }
    // The tables take the signals of their kind nobody else feeds.
    let table = |d: &mut Diagnostics,
                 feeders: &mut HashMap<String, String>,
                 path: &Option<Spanned<String>>,
                 kinds: &[&str]|
     -> (Option<PathBuf>, Vec<String>) {
        let Some(p) = path else {
            return (None, Vec::new());
        };
        let resolved = base.join(p.get_ref());
        if !resolved.is_file() {
            d.at(
                p.span(),
                format!("table {} does not exist", resolved.display()),
            );
        }
        let mine: Vec<String> = kinds
            .iter()
            .filter(|s| !feeders.contains_key(**s))
            .map(|s| s.to_string())
            .collect();
        for s in &mine {
            feeders.insert(s.clone(), format!("table {}", p.get_ref()));
        }
        (Some(resolved), mine)
    };
    (ctx.tool_table, ctx.tool_signals) = table(d, &mut feeders, &raw.tool_table, TOOL_SIGNALS);
    (ctx.program_table, ctx.program_signals) =
        table(d, &mut feeders, &raw.program_table, PROGRAM_SIGNALS);
    // Inputs must be fed by something (a device, or another context signal).
    for der in &derived {
        for input in der.rule.inputs() {
            if !feeders.contains_key(input) {
                let span = raw
                    .derived
                    .iter()
                    .find(|r| *r.signal.get_ref() == der.signal)
                    .map_or(0..0, |r| r.signal.span());
                d.at(
                    span,
                    format!(
                        "`{}` is derived from `{input}`, which no device or [machine] entry feeds",
                        der.signal
                    ),
                );
            }
        }
    }
    ctx.derived = derived;
    ctx
}

fn derivation(d: &mut Diagnostics, r: &RawDerived) -> Option<Derivation> {
    let signal = r.signal.get_ref();
    let kind = r.kind.get_ref().as_str();
    let input = |d: &mut Diagnostics| match &r.input {
        Some(i) => Some(i.get_ref().clone()),
        None => {
            d.at(r.kind.span(), format!("`{signal}` ({kind}) needs `input`"));
            None
        }
    };
    let want_kind = |d: &mut Diagnostics, k: Kind, what: &str| {
        if vocabulary::find(signal).is_some_and(|def| def.kind != k) {
            d.at(
                r.signal.span(),
                format!("`{signal}` cannot be derived by {kind}: {what}"),
            );
        }
    };
    match kind {
        "codes" => {
            want_kind(d, Kind::Text, "it gives text");
            let codes = match &r.codes {
                None => DEFAULT_CODES
                    .iter()
                    .map(|(c, v)| (*c, v.to_string()))
                    .collect(),
                Some(m) => {
                    let mut out = Vec::new();
                    for (c, v) in m {
                        match parse_code(c) {
                            Some(n) => out.push((n, v.clone())),
                            None => d.at(
                                r.kind.span(),
                                format!("`{signal}`: code `{c}` is not a number or M-code"),
                            ),
                        }
                    }
                    out
                }
            };
            Some(Derivation::Codes {
                input: input(d)?,
                codes,
            })
        }
        "flags" => {
            want_kind(d, Kind::Text, "it gives text");
            let Some(flags) = r.flags.as_ref().filter(|f| !f.is_empty()) else {
                d.at(
                    r.kind.span(),
                    format!("`{signal}` (flags) needs `flags = [{{ signal = …, value = … }}]`"),
                );
                return None;
            };
            Some(Derivation::Flags {
                flags: flags
                    .iter()
                    .map(|f| (f.signal.clone(), f.value.clone()))
                    .collect(),
                otherwise: r.otherwise.clone(),
            })
        }
        "percent_of_rated" => {
            want_kind(d, Kind::Number, "it gives a number");
            let rated = match &r.rated {
                Some(x) => d.positive(Some(x), "rated")?,
                None => {
                    d.at(
                        r.kind.span(),
                        format!("`{signal}` (percent_of_rated) needs `rated`, the input at 100 %"),
                    );
                    return None;
                }
            };
            Some(Derivation::PercentOfRated {
                input: input(d)?,
                rated,
            })
        }
        other => {
            d.at(
                r.kind.span(),
                format!("unknown kind `{other}` (codes, flags, percent_of_rated)"),
            );
            None
        }
    }
}

/// A code as a number: `8`, `08`, `M08`, `m8`.
pub fn parse_code(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s
        .strip_prefix('M')
        .or_else(|| s.strip_prefix('m'))
        .unwrap_or(s);
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    const DEVICE: &str = r#"
[[device]]
name = "cnc"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
  [[device.tag]]
  name = "power"
  table = "input"
  address = 0
  type = "f32"
  signal = "spindle.power"
  [[device.tag]]
  name = "coolant"
  table = "holding"
  address = 2
  type = "u16"
  [[device.tag]]
  name = "program"
  table = "holding"
  address = 3
  type = "i32"
  signal = "channel.program"
"#;

    #[test]
    fn context_signals_are_typed_have_one_source_and_say_where_they_come_from() {
        let cfg = parse(
            Path::new("/etc/agent.toml"),
            &format!(
                r#"{DEVICE}
[machine]
fixed = {{ "workpiece.material_group" = "P", "workpiece.hardness" = 18 }}

[[machine.derived]]
signal = "cooling.mode"
kind = "codes"
input = "cnc.coolant"

[[machine.derived]]
signal = "spindle.load"
kind = "percent_of_rated"
input = "spindle.power"
rated = 15.0
"#
            ),
        )
        .unwrap();
        let m = &cfg.machine;
        assert_eq!(
            m.fixed,
            vec![
                ("workpiece.hardness".into(), Value::Number(18.0)),
                ("workpiece.material_group".into(), Value::Text("P".into())),
            ]
        );
        assert!(matches!(&m.derived[0].rule, Derivation::Codes { codes, .. } if codes.len() == 3));
        let sources = m.signals();
        assert!(sources.contains(&("spindle.load", SignalSource::Derived)));
        assert!(cfg.fed_signals().contains("cooling.mode"));
        // An integer register feeds a text signal: the number as text.
        assert!(cfg.devices[0].tags[2].text);
    }

    #[test]
    fn two_sources_for_one_signal_a_wrong_type_and_an_unfed_input_are_errors() {
        let e = parse(
            Path::new("agent.toml"),
            &format!(
                r#"{DEVICE}
[machine]
fixed = {{ "spindle.power" = 3.0, "workpiece.hardness" = "hard", "cooling.mod" = "mql" }}

[[machine.derived]]
signal = "cooling.mode"
kind = "flags"
flags = [{{ signal = "plc.mql_on", value = "mql" }}]
"#
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`spindle.power` is already fed by device `cnc`"),
            "{e}"
        );
        assert!(e.contains("`workpiece.hardness` must be a number"), "{e}");
        assert!(e.contains("did you mean `cooling.mode`"), "{e}");
        assert!(
            e.contains("derived from `plc.mql_on`, which no device"),
            "{e}"
        );
        assert!(e.contains("agent.toml:"), "{e}");
    }

    #[test]
    fn codes_parse_with_or_without_the_m() {
        assert_eq!(parse_code("M08"), Some(8));
        assert_eq!(parse_code("8"), Some(8));
        assert_eq!(parse_code(" m7 "), Some(7));
        assert_eq!(parse_code("coolant"), None);
    }
}
