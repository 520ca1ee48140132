//! The machine context as a source (`[machine]`, `config/machine.rs`): fixed values, the tool
//! and program tables looked up with the tool in the spindle and the program running, and
//! derived signals, written to the state like any device's values a few times a second.
//!
//! A value is only ever computed from good inputs; otherwise the signal is unavailable and its
//! error says which input is missing, so a derived value is never better than what it comes
//! from. The tables are reloaded when their files change; a file that does not read keeps the
//! table as it was, and the context device's `last_error` says why (file and line).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::machine::{Derivation, MachineContext, CONTEXT_DEVICE};
use crate::config::tables::{self, ProgramEntry, Table, ToolEntry};
use crate::config::Config;
use crate::state::{SignalId, State};
use crate::value::Value;

/// How often the context is written: faster than any device's stale limit, slower than a
/// poll (the inputs change at the devices' pace).
const TICK: Duration = Duration::from_millis(250);

/// A table file and what was last read from it.
struct Watched<E> {
    path: PathBuf,
    modified: Option<SystemTime>,
    table: Table<E>,
    error: Option<String>,
}

impl<E> Watched<E> {
    fn new(path: PathBuf) -> Self {
        Watched {
            path,
            modified: None,
            table: Table {
                entries: Default::default(),
            },
            error: None,
        }
    }

    /// Reloads the file if it changed since it was last read.
    fn refresh(&mut self, load: impl Fn(&Path) -> Result<Table<E>, crate::config::ConfigError>) {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_some() && modified == self.modified {
            return;
        }
        self.modified = modified;
        match load(&self.path) {
            Ok(t) => {
                if self.error.take().is_some() || !t.entries.is_empty() {
                    tracing::info!(
                        "machine context: {} read ({} entries)",
                        self.path.display(),
                        t.entries.len()
                    );
                }
                self.table = t;
            }
            Err(e) => {
                tracing::error!("machine context: {e}; keeping the table as it was");
                self.error = Some(e.to_string());
            }
        }
    }
}

/// A table's key from a signal's value: a text, or a number (a tool or program number).
fn key(v: &Value) -> Option<String> {
    match v {
        Value::Text(t) if !t.is_empty() => Some(t.clone()),
        Value::Number(x) if x.is_finite() && x.fract() == 0.0 => Some(format!("{x:.0}")),
        _ => None,
    }
}

/// The signals a table feeds, by state id and name.
type Fed = Vec<(SignalId, String)>;

struct Context {
    state: Arc<State>,
    device: usize,
    fixed: Vec<(SignalId, Value)>,
    tools: Option<(Watched<ToolEntry>, Fed)>,
    programs: Option<(Watched<ProgramEntry>, Fed)>,
    derived: Vec<(SignalId, Derivation)>,
}

fn ids(state: &State, signals: &[String]) -> Fed {
    signals
        .iter()
        .filter_map(|s| Some((state.id(s)?, s.clone())))
        .collect()
}

/// Starts the context's task, if `[machine]` feeds anything.
pub fn spawn(config: &Config, state: &Arc<State>) -> Option<tokio::task::JoinHandle<()>> {
    let m: &MachineContext = &config.machine;
    let device = state
        .devices()
        .iter()
        .position(|d| d.name == CONTEXT_DEVICE)?;
    let mut ctx = Context {
        state: state.clone(),
        device,
        fixed: m
            .fixed
            .iter()
            .filter_map(|(s, v)| Some((state.id(s)?, v.clone())))
            .collect(),
        tools: m
            .tool_table
            .clone()
            .map(|p| (Watched::new(p), ids(state, &m.tool_signals))),
        programs: m
            .program_table
            .clone()
            .map(|p| (Watched::new(p), ids(state, &m.program_signals))),
        derived: m
            .derived
            .iter()
            .filter_map(|d| Some((state.id(&d.signal)?, d.rule.clone())))
            .collect(),
    };
    Some(tokio::spawn(async move {
        ctx.state.device_connected(ctx.device);
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let started = Instant::now();
            let error = ctx.tick(started);
            ctx.state
                .record_poll(ctx.device, started.elapsed(), error.as_deref());
        }
    }))
}

impl Context {
    /// Writes every context signal; returns a table's load error, if any.
    fn tick(&mut self, now: Instant) -> Option<String> {
        let state = self.state.clone();
        for (id, v) in &self.fixed {
            state.update(*id, v.clone(), now);
        }
        let mut error = None;
        if let Some((w, signals)) = &mut self.tools {
            w.refresh(tables::load_tools);
            let key = state.good_value("tool.id");
            look_up(
                &state,
                now,
                key,
                "tool.id",
                &w.table,
                signals,
                &w.path,
                |e, s| e.value(s),
            );
            error = error.or(w.error.clone());
        }
        if let Some((w, signals)) = &mut self.programs {
            w.refresh(tables::load_programs);
            let key = state.good_value("channel.program");
            look_up(
                &state,
                now,
                key,
                "channel.program",
                &w.table,
                signals,
                &w.path,
                |e, s| e.value(s),
            );
            error = error.or(w.error.clone());
        }
        // In order: a derived signal may read one derived before it.
        for (id, rule) in &self.derived {
            match derive(&state, rule) {
                Ok(v) => state.update(*id, v, now),
                Err(why) => state.fail(*id, &why),
            }
        }
        error
    }
}

/// Writes the entry's values for the key signal's current value, or fails them saying why.
#[allow(clippy::too_many_arguments)]
fn look_up<E>(
    state: &State,
    now: Instant,
    key_value: Option<Value>,
    key_signal: &str,
    table: &Table<E>,
    signals: &[(SignalId, String)],
    path: &Path,
    value: impl Fn(&E, &str) -> Option<Value>,
) {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let Some(k) = key_value.as_ref().and_then(key) else {
        for (id, _) in signals {
            state.fail(*id, &format!("{key_signal} has no good value"));
        }
        return;
    };
    let Some(entry) = table.entries.get(&k) else {
        for (id, _) in signals {
            state.fail(*id, &format!("`{k}` is not in {file}"));
        }
        return;
    };
    for (id, s) in signals {
        match value(entry, s) {
            Some(v) => state.update(*id, v, now),
            None => state.fail(*id, &format!("`{k}` in {file} gives no {s}")),
        }
    }
}

/// A derived value from good inputs only.
fn derive(state: &State, rule: &Derivation) -> Result<Value, String> {
    let input = |s: &str| {
        state
            .good_value(s)
            .ok_or_else(|| format!("input {s} has no good value"))
    };
    match rule {
        Derivation::Codes { input: s, codes } => {
            let v = input(s)?;
            let code = match &v {
                Value::Number(x) => Some(x.round() as i64),
                Value::Text(t) => crate::config::machine::parse_code(t),
                Value::Bool(_) => None,
            };
            let code = code.ok_or_else(|| format!("input {s} = {v:?} is no code"))?;
            codes
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, m)| Value::Text(m.clone()))
                .ok_or_else(|| format!("code {code} of {s} is not configured"))
        }
        Derivation::Flags { flags, otherwise } => {
            for (s, value) in flags {
                let on = match input(s)? {
                    Value::Bool(b) => b,
                    Value::Number(x) => x != 0.0,
                    Value::Text(t) => return Err(format!("input {s} = {t:?} is no flag")),
                };
                if on {
                    return Ok(Value::Text(value.clone()));
                }
            }
            otherwise
                .clone()
                .map(Value::Text)
                .ok_or_else(|| "no flag is on and no `otherwise` is configured".into())
        }
        Derivation::PercentOfRated { input: s, rated } => match input(s)? {
            Value::Number(x) => Ok(Value::Number(x / rated * 100.0)),
            other => Err(format!("input {s} = {other:?} is no number")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn context(dir: &Path) -> (Context, Arc<State>) {
        std::fs::write(
            dir.join("tools.toml"),
            "[[tool]]\nid = \"12\"\nmaterial = \"carbide\"\ncoating = \"TiAlN\"\n",
        )
        .unwrap();
        let src = r#"
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:1/"
  [[device.tag]]
  name = "tool"
  node = "ns=2;s=tool"
  signal = "tool.id"
  [[device.tag]]
  name = "coolant"
  node = "ns=2;s=m"
  [[device.tag]]
  name = "power"
  node = "ns=2;s=p"
  signal = "spindle.power"
[machine]
tool_table = "tools.toml"
fixed = { "workpiece.material_group" = "P" }
[[machine.derived]]
signal = "cooling.mode"
kind = "codes"
input = "cnc.coolant"
codes = { "M08" = "flood", "7" = "mql" }
[[machine.derived]]
signal = "spindle.load"
kind = "percent_of_rated"
input = "spindle.power"
rated = 20.0
"#;
        let cfg = crate::config::parse(&dir.join("agent.toml"), src).unwrap();
        let state = Arc::new(State::new(&cfg));
        let device = state
            .devices()
            .iter()
            .position(|d| d.name == CONTEXT_DEVICE)
            .unwrap();
        let m = &cfg.machine;
        let ctx = Context {
            state: state.clone(),
            device,
            fixed: m
                .fixed
                .iter()
                .map(|(s, v)| (state.id(s).unwrap(), v.clone()))
                .collect(),
            tools: m
                .tool_table
                .clone()
                .map(|p| (Watched::new(p), ids(&state, &m.tool_signals))),
            programs: None,
            derived: m
                .derived
                .iter()
                .map(|d| (state.id(&d.signal).unwrap(), d.rule.clone()))
                .collect(),
        };
        state.device_connected(0);
        state.device_connected(device);
        (ctx, state)
    }

    /// Writes a table as an editor would, `n` seconds after the last write (set, not waited
    /// for: the reload goes by modification time).
    fn edit(path: &Path, text: &str, n: u64) {
        std::fs::write(path, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() + Duration::from_secs(n))
            .unwrap();
    }

    fn view(state: &State, s: &str) -> crate::state::SignalView {
        state.view(state.id(s).unwrap())
    }

    #[test]
    fn fixed_table_and_derived_values_follow_their_inputs_and_say_why_not() {
        let dir = std::env::temp_dir().join(format!("context-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let (mut ctx, state) = context(&dir);
        let now = Instant::now();
        ctx.tick(now);
        assert_eq!(
            view(&state, "workpiece.material_group").value,
            Some(Value::Text("P".into()))
        );
        let v = view(&state, "tool.material");
        assert!(
            v.value.is_none() && v.error.as_deref() == Some("tool.id has no good value"),
            "{v:?}"
        );
        let v = view(&state, "cooling.mode");
        assert!(v.error.unwrap().contains("input cnc.coolant"));

        // The CNC reports tool 12 as a number and M08 as a number: looked up, derived.
        state.update(state.id("tool.id").unwrap(), Value::Number(12.0), now);
        state.update(state.id("cnc.coolant").unwrap(), Value::Number(8.0), now);
        state.update(state.id("spindle.power").unwrap(), Value::Number(5.0), now);
        ctx.tick(now);
        assert_eq!(
            view(&state, "tool.material").value,
            Some(Value::Text("carbide".into()))
        );
        assert_eq!(
            view(&state, "tool.coating").value,
            Some(Value::Text("TiAlN".into()))
        );
        let v = view(&state, "tool.diameter");
        assert!(v.error.unwrap().contains("gives no tool.diameter"));
        assert_eq!(
            view(&state, "cooling.mode").value,
            Some(Value::Text("flood".into()))
        );
        assert_eq!(
            view(&state, "spindle.load").value,
            Some(Value::Number(25.0))
        );
        assert_eq!(
            view(&state, "tool.material").source,
            crate::config::machine::SignalSource::Table
        );

        // An unknown code and an unknown tool say so; an edited table is read again.
        state.update(
            state.id("cnc.coolant").unwrap(),
            Value::Text("M09".into()),
            now,
        );
        state.update(state.id("tool.id").unwrap(), Value::Text("T9".into()), now);
        ctx.tick(now);
        assert!(view(&state, "cooling.mode")
            .error
            .unwrap()
            .contains("code 9"));
        assert!(view(&state, "tool.material")
            .error
            .unwrap()
            .contains("`T9` is not in tools.toml"));
        edit(
            &dir.join("tools.toml"),
            "[[tool]]\nid = \"T9\"\nmaterial = \"hss\"\n",
            1,
        );
        ctx.tick(now);
        assert_eq!(
            view(&state, "tool.material").value,
            Some(Value::Text("hss".into()))
        );
        // A broken file keeps the table and says why.
        edit(&dir.join("tools.toml"), "[[tool]]\nid = 1\n", 2);
        let err = ctx.tick(now).expect("the error");
        assert!(err.contains("tools.toml:2:"), "{err}");
        assert_eq!(
            view(&state, "tool.material").value,
            Some(Value::Text("hss".into()))
        );
    }
}
