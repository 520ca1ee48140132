//! Remaining-tool-life error on the simulator, whose ground truth is known: at 25 %, 50 % and
//! 75 % of each tool's true life, the agent's predicted remaining minutes of cutting (P10/P50/P90)
//! against the true remaining minutes, over a run of at least `--tools` tools.
//!
//! `cargo run --release -p e2e --bin rul-report -- [--tools 20] [--time-scale 100] [--seed 1]
//! [--scenario FILE] [--run-to-wear] [--measure-every-min M] [--verbose] [--json]`
//!
//! The simulator runs in-process with its ground-truth CSV on; the agent runs in-process against
//! it with `configs/agent.toml` (its `[life]` wear model). Three sets of figures come out of one
//! run:
//!
//! - **live**: what the running agent predicted. It counts cutting minutes on the machine's
//!   clock (`machine.clock`, the simulator's simulated time), so its minutes are simulated
//!   minutes; its segmentation (the 300 ms start delay of every cut, ticks of 100 ms of wall
//!   time, i.e. X·0.1 s of machine time) is coarser than at time scale 1.
//! - **sim-clock**: the agent's own life evaluator (`agent::evaluators::life::Life`, the same
//!   `[life]` settings and model file) driven cut by cut with the simulator's exact cuts: each
//!   cut the simulator made (from the truth CSV) with its simulated cutting time and its
//!   cutting conditions (feed per revolution from the program, speed, load, power, cutting
//!   speed as served). That is what the wear model predicts with exact segmentation.
//! - **own lifetimes**: the same replay, with every tool change reported as the shop floor
//!   would (replaced at the wear limit: `worn_out`; by the CNC's life counter: `preventive`;
//!   broken: `broken`), so that once a tool class has five worn-out lives the agent predicts
//!   from the machine's own tool lifetimes (`models::lifetime`). Scored on the tools predicted
//!   that way. `--run-to-wear` lifts the CNC's life limits so that tools go to the wear limit
//!   (a shop that changes tools when they are worn), which gives that model its labels.
//! - **wear measured** (`--measure-every-min M`): both replays again, each tool's flank wear
//!   measured every M minutes of its cutting from the truth (`Life::measure_wear`, what
//!   `POST /api/tools/{id}/wear` does), with each tool's VB band coverage after its first
//!   measurement beside the unmeasured replay's on the same cuts.
//!
//! Truth: per tool, its true life T = minutes of cutting (the CNC's tool-life counter, simulated
//! time) at which the consumed life fraction reached 1 (VB = VB_limit), interpolated between
//! truth rows; a tool replaced by the CNC's life counter before that has T = its counter + the
//! simulator's own remaining life at its last conditions (marked `projected`). True remaining
//! at a prediction = T − the tool's counter when the prediction was made. Tools replaced for
//! breakage are counted and left out of the statistics.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::evaluators::frame::Frame;
use agent::evaluators::life::Life;
use agent::records::operation::OperationRecord;
use agent::records::tool::ChangeReason;
use agent::state::State;
use agent::store::{Record, Store};
use agent::value::Value;
use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;
use simulator::scenario::ScenarioConfig;
use simulator::Simulator;

#[derive(Parser)]
struct Args {
    /// Tools that must reach end of life (replaced for VB limit or life counter).
    #[arg(long, default_value_t = 20)]
    tools: usize,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 100.0)]
    time_scale: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario (default: configs/scenarios/normal-near-dry.toml).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Lift the CNC's tool-life limits: tools are replaced at the wear limit.
    #[arg(long)]
    run_to_wear: bool,
    /// Stop after this many simulated hours even if fewer tools ended.
    #[arg(long, default_value_t = 24.0)]
    max_sim_h: f64,
    /// Per-tool rows.
    #[arg(long)]
    verbose: bool,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
    /// Keep the truth CSV and the agent's store here (default: a temporary directory).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Replay a truth CSV an earlier run kept (`--out-dir`) instead of running the simulator
    /// and the live agent: the sim-clock and labelled replays only, in seconds. Give the same
    /// `--scenario`, `--seed` and `--run-to-wear` as that run.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Report each change but a breakage (preventive and worn out) with the tool's flank wear
    /// measured then (the truth's VB at the change), as a shop that measures pulled tools
    /// would.
    #[arg(long)]
    measure_at_change: bool,
    /// Also replay with each tool's flank wear measured every this many minutes of its
    /// cutting (the truth's VB, as `POST /api/tools/{id}/wear` would give it), as a shop that
    /// checks tools under a microscope would: remaining-life error and each tool's VB band
    /// coverage after its first measurement, beside the same replay without measurements.
    #[arg(long)]
    measure_every_min: Option<f64>,
}

const FRACTIONS: [f64; 3] = [0.25, 0.50, 0.75];

/// A live prediction: at (wall ms), the agent's counted minutes, remaining P10/P50/P90 and
/// VB P50.
type LivePrediction = (i64, f64, [f64; 4]);

/// One row of the truth CSV (the columns used here).
#[derive(Debug, Clone)]
struct Row {
    wall_ms: i64,
    sim_s: f64,
    operation: String,
    tool: String,
    cutting: bool,
    vb_mm: f64,
    remaining: Option<f64>,
    consumed: f64,
    power_kw: f64,
    parts: u64,
    speed_mean_rpm: f64,
    load_pct: f64,
    counter_min: f64,
    vc: Option<f64>,
    events: String,
}

fn read_truth(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .context("empty truth CSV")?
        .split(',')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("truth CSV has no column {name}"))
    };
    let c = [
        col("wall_time_ms")?,
        col("sim_time_s")?,
        col("operation")?,
        col("tool_id")?,
        col("cutting")?,
        col("vb_mm")?,
        col("remaining_life_min")?,
        col("life_consumed")?,
        col("spindle_power_kw")?,
        col("parts")?,
        col("spindle_speed_rpm")?,
        col("spindle_load_pct")?,
        col("tool_life_counter_min")?,
        col("vc_m_min")?,
        col("events")?,
    ];
    let mut rows = Vec::new();
    for line in lines {
        let f = split_csv(line);
        if f.len() < header.len() {
            continue; // a row cut short by the shutdown
        }
        let num = |i: usize| f[c[i]].parse::<f64>().unwrap_or(f64::NAN);
        let opt = |i: usize| f[c[i]].parse::<f64>().ok();
        rows.push(Row {
            wall_ms: num(0) as i64,
            sim_s: num(1),
            operation: f[c[2]].clone(),
            tool: f[c[3]].clone(),
            cutting: f[c[4]] == "true",
            vb_mm: num(5),
            remaining: opt(6),
            consumed: num(7),
            power_kw: num(8),
            parts: num(9) as u64,
            speed_mean_rpm: num(10),
            load_pct: num(11),
            counter_min: num(12),
            vc: opt(13),
            events: f[c[14]].clone(),
        });
    }
    Ok(rows)
}

/// RFC 4180 fields (the simulator quotes fields with commas or quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

/// How a tool's life ended in the simulator.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Replaced(String),
    Running,
}

/// One tool's truth.
#[derive(Debug, Clone)]
struct ToolTruth {
    id: String,
    end: End,
    /// True life, simulated minutes of cutting to VB_limit.
    life_min: f64,
    /// T was projected from the simulator's remaining life (replaced before VB_limit).
    projected: bool,
    /// Counter when replaced.
    used_at_end: f64,
    /// (wall ms, counter, true VB) of every row of this tool, in order.
    rows: Vec<(i64, f64, f64)>,
}

impl ToolTruth {
    /// The tool's counter at wall time `ms` (its last row at or before it).
    fn used_at(&self, ms: i64) -> Option<f64> {
        let i = self.rows.partition_point(|(w, _, _)| *w <= ms);
        (i > 0).then(|| self.rows[i - 1].1)
    }

    /// True VB when the counter first reached `used`.
    fn vb_at(&self, used: f64) -> f64 {
        let i = self.rows.partition_point(|(_, c, _)| *c < used - 1e-9);
        self.rows
            .get(i)
            .or(self.rows.last())
            .map_or(f64::NAN, |r| r.2)
    }
}

fn tools_truth(rows: &[Row]) -> Vec<ToolTruth> {
    let mut ends: HashMap<String, String> = HashMap::new();
    for r in rows.iter().filter(|r| !r.events.is_empty()) {
        for e in r.events.split(';') {
            if let Some(rest) = e.strip_prefix("tool_replaced:") {
                let mut parts = rest.split(':');
                let (Some(ids), Some(reason)) = (parts.next(), parts.next()) else {
                    continue;
                };
                if let Some((old, _)) = ids.split_once("->") {
                    ends.insert(old.to_string(), reason.to_string());
                }
            }
        }
    }
    let mut by_tool: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.tool.is_empty()) {
        by_tool.entry(r.tool.clone()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (id, rs) in by_tool {
        let last = rs.last().unwrap();
        // First crossing of u = 1, interpolated on the counter.
        let mut life = None;
        for w in rs.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.consumed < 1.0 && b.consumed >= 1.0 {
                let f = (1.0 - a.consumed) / (b.consumed - a.consumed);
                life = Some(a.counter_min + f * (b.counter_min - a.counter_min));
                break;
            }
        }
        let (life_min, projected) = match life {
            Some(t) => (t, false),
            None => {
                let rem = rs
                    .iter()
                    .rev()
                    .find_map(|r| r.remaining)
                    .unwrap_or(f64::NAN);
                (last.counter_min + rem, true)
            }
        };
        out.push(ToolTruth {
            end: ends
                .get(&id)
                .cloned()
                .map(End::Replaced)
                .unwrap_or(End::Running),
            id,
            life_min,
            projected,
            used_at_end: last.counter_min,
            rows: rs
                .iter()
                .map(|r| (r.wall_ms, r.counter_min, r.vb_mm))
                .collect(),
        });
    }
    out
}

/// One cut the simulator made, from the truth rows: what the sim-clock replay feeds the agent's
/// life evaluator.
#[derive(Debug, Clone)]
struct Cut {
    tool: String,
    operation: String,
    end_sim_s: f64,
    used_before: f64,
    used_after: f64,
    speed: Vec<f64>,
    load: Vec<f64>,
    power: Vec<f64>,
    vc: Vec<f64>,
}

fn cuts(rows: &[Row]) -> Vec<Cut> {
    let mut open: HashMap<String, (u64, String)> = HashMap::new();
    let mut cuts: Vec<Cut> = Vec::new();
    let mut current: HashMap<String, usize> = HashMap::new();
    let mut last_counter: HashMap<String, f64> = HashMap::new();
    for r in rows.iter().filter(|r| !r.tool.is_empty()) {
        if r.cutting {
            let key = (r.parts, r.operation.clone());
            if open.get(&r.tool) != Some(&key) {
                open.insert(r.tool.clone(), key);
                let before = last_counter.get(&r.tool).copied().unwrap_or(0.0);
                cuts.push(Cut {
                    tool: r.tool.clone(),
                    operation: r.operation.clone(),
                    end_sim_s: r.sim_s,
                    used_before: before,
                    used_after: before,
                    speed: Vec::new(),
                    load: Vec::new(),
                    power: Vec::new(),
                    vc: Vec::new(),
                });
                current.insert(r.tool.clone(), cuts.len() - 1);
            }
            let c = &mut cuts[current[&r.tool]];
            c.speed.push(r.speed_mean_rpm);
            c.load.push(r.load_pct);
            c.power.push(r.power_kw);
            c.vc.extend(r.vc);
        }
        if let Some(&i) = current.get(&r.tool) {
            let c = &mut cuts[i];
            if r.counter_min >= c.used_after {
                c.used_after = r.counter_min;
                c.end_sim_s = c.end_sim_s.max(r.sim_s);
            }
        }
        last_counter.insert(r.tool.clone(), r.counter_min);
    }
    cuts.retain(|c| c.used_after > c.used_before);
    cuts.sort_by(|a, b| a.end_sim_s.total_cmp(&b.end_sim_s));
    cuts
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

/// A prediction at a moment of a tool's life: the tool's true usage then (simulated minutes),
/// the usage the agent counted, and the predicted remaining minutes in simulated minutes.
#[derive(Debug, Clone)]
struct Point {
    used_true: f64,
    agent_used: f64,
    p10: f64,
    p50: f64,
    p90: f64,
    /// Predicted VB P50, mm.
    vb_p50: f64,
    /// Predicted VB P10 and P90, and the truth's VB after the cut, mm.
    vb_p10: f64,
    vb_p90: f64,
    vb_true: f64,
    /// Wear measurements taken into the tool before this prediction.
    measured: usize,
    /// Recorded lives of the tool's class behind the prediction, and the share of the figure
    /// from them (`Prediction::sources`; 0 and 0 for the wear model alone).
    lives: usize,
    machine_share: f64,
    class: String,
}

/// The sim-clock replay: the agent's life evaluator fed every cut on the simulator's clock.
/// With `labels` (tool id → change reason), each tool's change is reported after its last cut,
/// so that later tools of its class are predicted from the wear model adapted to the lives
/// recorded so far.
fn replay(
    cfg: &agent::config::Config,
    sc: &ScenarioConfig,
    cuts: &[Cut],
    store: &Path,
    labels: Option<&HashMap<String, (ChangeReason, Option<f64>)>>,
    truth: &HashMap<&str, &ToolTruth>,
    measure_every_min: Option<f64>,
) -> Result<HashMap<String, Vec<Point>>> {
    // A replay starts from an empty store: lives left by an earlier run in the same
    // `--out-dir` would count as this machine's history.
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", store.display()));
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    let mut cfg = cfg.clone();
    cfg.store.path = store.to_path_buf();
    let store = Store::open(&cfg.store, &Arc::new(State::new(&cfg)))?;
    let life = Life::open(&cfg, store.clone())?;
    let group = sc.workpiece.group.as_str().to_string();
    let t0: i64 = 1_700_000_000_000;
    let last_cut: HashMap<&str, usize> = cuts
        .iter()
        .enumerate()
        .map(|(i, c)| (c.tool.as_str(), i))
        .collect();
    let mut out: HashMap<String, Vec<Point>> = HashMap::new();
    // Per tool: the cutting minutes of its next wear measurement, and its measurements so far.
    let mut measuring: HashMap<String, (f64, usize)> = HashMap::new();
    for (i, c) in cuts.iter().enumerate() {
        let op = sc.program.operations.iter().find(|o| o.name == c.operation);
        let tool_cfg = op.and_then(|o| sc.tools.iter().find(|t| t.pocket == o.tool));
        let edges = tool_cfg.map(|t| t.edges as f64);
        let speed = mean(&c.speed);
        let feed = match (op, edges, speed) {
            (Some(o), Some(z), Some(n)) => Some(o.fz * z * n),
            _ => None,
        };
        let cut_s = (c.used_after - c.used_before) * 60.0;
        let now = t0 + (c.end_sim_s * 1000.0) as i64;
        let rec = OperationRecord {
            start_ms: now - (cut_s * 1000.0) as i64,
            end_ms: now,
            operation: Some(c.operation.clone()),
            tool_id: Some(c.tool.clone()),
            tool_material: tool_cfg.map(|t| t.material.as_str().to_string()),
            tool_coating: tool_cfg.map(|t| t.coating.as_str().to_string()),
            tool_diameter_mm: tool_cfg.map(|t| t.diameter_mm),
            tool_edges: edges,
            workpiece_material: Some(sc.workpiece.material.clone()),
            workpiece_group: Some(group.clone()),
            cutting_s: cut_s,
            speed_mean_rpm: speed,
            feed_mean_mm_min: feed,
            vc_mean_m_min: mean(&c.vc),
            fz_mean_mm: op.map(|o| o.fz),
            spindle_load_mean_pct: mean(&c.load),
            spindle_load_max_pct: max(&c.load),
            spindle_power_mean_kw: mean(&c.power),
            spindle_power_max_kw: max(&c.power),
            ..OperationRecord::default()
        };
        let frame = Frame::from_values(
            now,
            [
                ("tool.id", Value::Text(c.tool.clone())),
                ("channel.feedrate", Value::Number(feed.unwrap_or(0.0))),
            ],
        );
        // The operation table is where the lifetimes find each tool's class.
        store.record(Record::Operation(Box::new(rec.clone())));
        for r in life.advance(&frame, cut_s, Some((&c.tool, cut_s)), &[rec], false) {
            store.record(r);
        }
        let vb_true = truth
            .get(c.tool.as_str())
            .map_or(f64::NAN, |t| t.vb_at(c.used_after));
        let (next, measured) = measuring
            .entry(c.tool.clone())
            .or_insert((measure_every_min.unwrap_or(f64::INFINITY), 0));
        if let Some((counters, Some(p))) = life.tool(&c.tool) {
            let (lives, machine_share) = p
                .sources
                .as_ref()
                .map_or((0, 0.0), |s| (s.lives, s.machine_share));
            let vb = |i: usize| p.vb.as_ref().map_or(f64::NAN, |v| [v.p10, v.p50, v.p90][i]);
            out.entry(c.tool.clone()).or_default().push(Point {
                used_true: c.used_after,
                agent_used: counters.cutting_min,
                p10: p.remaining_min.p10,
                p50: p.remaining_min.p50,
                p90: p.remaining_min.p90,
                vb_p10: vb(0),
                vb_p50: vb(1),
                vb_p90: vb(2),
                vb_true,
                measured: *measured,
                lives,
                machine_share,
                class: p.class.clone(),
            });
        }
        // The tool measured after the cut that took it past its next measurement's minutes.
        if c.used_after >= *next && vb_true.is_finite() {
            if life
                .measure_wear(&c.tool, vb_true, "rul-report", now + 1)?
                .and_then(|(m, _)| m.check)
                .is_some()
            {
                *measured += 1;
            }
            let every = measure_every_min.unwrap_or(f64::INFINITY);
            while *next <= c.used_after {
                *next += every;
            }
        }
        if let Some((reason, vb)) = labels.and_then(|l| l.get(&c.tool)) {
            if last_cut.get(c.tool.as_str()) == Some(&i) {
                life.change(&c.tool, *reason, *vb, "rul-report", now + 1)?;
                // The next cut is predicted from the lifetimes refitted with this one.
                life.settle();
            }
        }
    }
    store.close();
    Ok(out)
}

/// Error of one tool at one life fraction.
#[derive(Debug, Clone)]
struct Sample {
    tool: String,
    fraction: f64,
    life_min: f64,
    used_true: f64,
    agent_used: f64,
    true_rem: f64,
    p10: f64,
    p50: f64,
    p90: f64,
    vb_p50: f64,
    vb_true: f64,
    lives: usize,
    machine_share: f64,
    class: String,
}

impl Sample {
    fn err(&self) -> f64 {
        self.p50 - self.true_rem
    }
    fn covered(&self) -> bool {
        self.p10 <= self.true_rem && self.true_rem <= self.p90
    }
}

/// Per tool and fraction, the prediction whose true usage is closest to fraction × T, if
/// within half the larger of 5 % of T and the tool's longest gap between predictions.
fn samples(tools: &[&ToolTruth], points: &HashMap<String, Vec<Point>>) -> Vec<Sample> {
    let mut out = Vec::new();
    for t in tools {
        let Some(ps) = points.get(&t.id).filter(|p| !p.is_empty()) else {
            continue;
        };
        let mut gap: f64 = ps[0].used_true;
        for w in ps.windows(2) {
            gap = gap.max(w[1].used_true - w[0].used_true);
        }
        let tol = (0.05 * t.life_min).max(gap / 2.0 + 1e-9);
        for f in FRACTIONS {
            let target = f * t.life_min;
            if target > t.used_at_end + 1e-9 {
                continue; // replaced before this point of its life
            }
            let best = ps
                .iter()
                .min_by(|a, b| {
                    (a.used_true - target)
                        .abs()
                        .total_cmp(&(b.used_true - target).abs())
                })
                .unwrap();
            if (best.used_true - target).abs() > tol {
                continue;
            }
            out.push(Sample {
                tool: t.id.clone(),
                fraction: f,
                life_min: t.life_min,
                used_true: best.used_true,
                agent_used: best.agent_used,
                true_rem: t.life_min - best.used_true,
                p10: best.p10,
                p50: best.p50,
                p90: best.p90,
                vb_p50: best.vb_p50,
                vb_true: t.vb_at(best.used_true),
                lives: best.lives,
                machine_share: best.machine_share,
                class: best.class.clone(),
            });
        }
    }
    out
}

fn stats(s: &[&Sample]) -> serde_json::Value {
    if s.is_empty() {
        return json!({ "n": 0 });
    }
    let n = s.len() as f64;
    let e: Vec<f64> = s.iter().map(|x| x.err()).collect();
    let ep: Vec<f64> = s.iter().map(|x| 100.0 * x.err() / x.life_min).collect();
    // Error as a share of the true remaining life (the target at 50 % of life).
    let er: Vec<f64> = s
        .iter()
        .map(|x| 100.0 * x.err() / x.true_rem.max(1e-9))
        .collect();
    let m = |v: &[f64]| v.iter().sum::<f64>() / n;
    let mae = |v: &[f64]| v.iter().map(|x| x.abs()).sum::<f64>() / n;
    let rmse = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / n).sqrt();
    json!({
        "n": s.len(),
        "bias_min": m(&e), "mae_min": mae(&e), "rmse_min": rmse(&e),
        "bias_pct": m(&ep), "mae_pct": mae(&ep), "rmse_pct": rmse(&ep),
        "bias_pct_of_remaining": m(&er), "mae_pct_of_remaining": mae(&er),
        "machine_share_mean": s.iter().map(|x| x.machine_share).sum::<f64>() / n,
        "coverage_80": s.iter().filter(|x| x.covered()).count() as f64 / n,
        "true_remaining_mean_min": s.iter().map(|x| x.true_rem).sum::<f64>() / n,
        "p50_mean_min": s.iter().map(|x| x.p50).sum::<f64>() / n,
    })
}

fn table(name: &str, samples: &[Sample]) -> serde_json::Value {
    let mut rows = Vec::new();
    for f in FRACTIONS {
        let s: Vec<&Sample> = samples.iter().filter(|x| x.fraction == f).collect();
        let mut st = stats(&s);
        st["fraction"] = json!(f);
        rows.push(st);
    }
    let all: Vec<&Sample> = samples.iter().collect();
    let mut st = stats(&all);
    st["fraction"] = json!("all");
    rows.push(st);
    let per_tool: Vec<_> = samples
        .iter()
        .map(|s| {
            json!({
                "tool": s.tool, "fraction": s.fraction, "life_min": s.life_min,
                "used_min": s.used_true, "agent_counted_min": s.agent_used,
                "true_remaining_min": s.true_rem,
                "p10": s.p10, "p50": s.p50, "p90": s.p90, "error_min": s.err(),
                "covered": s.covered(), "vb_p50_mm": s.vb_p50, "vb_true_mm": s.vb_true,
            })
        })
        .collect();
    json!({ "mode": name, "fractions": rows, "samples": per_tool })
}

/// Recorded lives of a tool's class at the prediction, in the buckets the report prints.
const LIFE_BUCKETS: [(usize, usize, &str); 5] = [
    (0, 0, "0"),
    (1, 1, "1"),
    (2, 2, "2"),
    (3, 4, "3-4"),
    (5, usize::MAX, "5+"),
];

/// The labelled replay's error by recorded lives of the class at the prediction and life
/// fraction, beside the wear model alone (the sim-clock replay) on the same tools and
/// fractions: how far the adaptation moved the figure, and whether its bias ever got worse.
fn by_lives(adapted: &[Sample], prior: &[Sample]) -> serde_json::Value {
    let mut rows = Vec::new();
    for (lo, hi, name) in LIFE_BUCKETS {
        for f in FRACTIONS {
            let a: Vec<&Sample> = adapted
                .iter()
                .filter(|x| x.fraction == f && (lo..=hi).contains(&x.lives))
                .collect();
            let p: Vec<&Sample> = a
                .iter()
                .filter_map(|x| prior.iter().find(|y| y.tool == x.tool && y.fraction == f))
                .collect();
            let mut st = stats(&a);
            st["lives"] = json!(name);
            st["fraction"] = json!(f);
            st["prior"] = stats(&p);
            rows.push(st);
        }
    }
    json!(rows)
}

/// 80 % coverage of the adapted predictions per tool class (the group a band must hold for,
/// not only pooled), over the samples with at least one recorded life behind them, or over
/// all of them (`all`).
fn coverage_by_class(adapted: &[Sample], all: bool) -> serde_json::Value {
    let mut classes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in adapted.iter().filter(|s| all || s.lives > 0) {
        let e = classes.entry(s.class.as_str()).or_default();
        e.0 += 1;
        e.1 += usize::from(s.covered());
    }
    let groups: Vec<_> = classes
        .iter()
        .map(|(c, (n, inside))| json!({"class": c, "n": n, "coverage_80": *inside as f64 / *n as f64}))
        .collect();
    let worst = groups
        .iter()
        .min_by(|a, b| {
            a["coverage_80"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["coverage_80"].as_f64().unwrap())
        })
        .cloned();
    let n: usize = classes.values().map(|v| v.0).sum();
    let inside: usize = classes.values().map(|v| v.1).sum();
    json!({
        "groups": groups,
        "worst": worst,
        "pooled": if n > 0 { json!(inside as f64 / n as f64) } else { json!(null) },
        "n": n,
    })
}

/// Per tool, the share of its predictions after its first wear measurement whose VB band
/// (P10–P90) held the true VB: with the measurements (`measured`) and without (`plain`, the
/// same cuts of the same tool).
fn vb_coverage_by_tool(
    tools: &[&ToolTruth],
    measured: &HashMap<String, Vec<Point>>,
    plain: &HashMap<String, Vec<Point>>,
) -> serde_json::Value {
    let inside = |p: &Point| p.vb_p10 <= p.vb_true && p.vb_true <= p.vb_p90;
    let mut rows = Vec::new();
    let (mut n, mut with, mut without) = (0usize, 0usize, 0usize);
    for t in tools {
        let (Some(m), Some(p)) = (measured.get(&t.id), plain.get(&t.id)) else {
            continue;
        };
        let Some(first) = m.iter().find(|x| x.measured > 0).map(|x| x.used_true) else {
            continue;
        };
        let after = |v: &[Point]| -> Vec<bool> {
            v.iter()
                .filter(|x| x.used_true >= first && x.vb_true.is_finite() && x.vb_p10.is_finite())
                .map(inside)
                .collect()
        };
        let (a, b) = (after(m), after(p));
        if a.is_empty() || a.len() != b.len() {
            continue;
        }
        let count = |v: &[bool]| v.iter().filter(|x| **x).count();
        n += a.len();
        with += count(&a);
        without += count(&b);
        rows.push(json!({
            "tool": t.id, "predictions": a.len(),
            "measurements": m.last().map_or(0, |x| x.measured),
            "coverage_measured": count(&a) as f64 / a.len() as f64,
            "coverage_plain": count(&b) as f64 / b.len() as f64,
        }));
    }
    let worst = |k: &str| {
        rows.iter()
            .filter_map(|r| r[k].as_f64())
            .fold(f64::INFINITY, f64::min)
    };
    let share = |k: &str, lo: f64, hi: f64| {
        rows.iter()
            .filter(|r| r[k].as_f64().is_some_and(|c| (lo..=hi).contains(&c)))
            .count()
    };
    json!({
        "tools": rows.len(),
        "predictions": n,
        "pooled_measured": (n > 0).then(|| with as f64 / n as f64),
        "pooled_plain": (n > 0).then(|| without as f64 / n as f64),
        "worst_measured": (!rows.is_empty()).then(|| worst("coverage_measured")),
        "worst_plain": (!rows.is_empty()).then(|| worst("coverage_plain")),
        "tools_70_90_measured": share("coverage_measured", 0.7, 0.9),
        "tools_70_90_plain": share("coverage_plain", 0.7, 0.9),
        "by_tool": rows,
    })
}

fn print_vb_coverage(c: &serde_json::Value, verbose: bool) {
    let pct = |v: &serde_json::Value| {
        v.as_f64()
            .map_or("n/a".into(), |x| format!("{:.0} %", 100.0 * x))
    };
    println!(
        "  VB band (P10-P90) coverage of the true VB after each tool's first measurement, {} \
         tools, {} predictions:",
        c["tools"], c["predictions"]
    );
    println!(
        "    pooled {} measured / {} without; worst tool {} / {}; tools within 70-90 %: {} / {}",
        pct(&c["pooled_measured"]),
        pct(&c["pooled_plain"]),
        pct(&c["worst_measured"]),
        pct(&c["worst_plain"]),
        c["tools_70_90_measured"],
        c["tools_70_90_plain"]
    );
    if verbose {
        for r in c["by_tool"].as_array().into_iter().flatten() {
            println!(
                "    {:<12} {:>4} predictions {:>3} measurements  {:>5} / {:>5}",
                r["tool"].as_str().unwrap_or(""),
                r["predictions"],
                r["measurements"],
                pct(&r["coverage_measured"]),
                pct(&r["coverage_plain"])
            );
        }
    }
}

fn print_by_lives(rows: &serde_json::Value) {
    println!(
        "{:>6} {:>5} {:>4} {:>9} {:>8} {:>10} {:>10} {:>9} {:>8} {:>11} {:>11}",
        "lives",
        "life",
        "n",
        "bias min",
        "RMSE min",
        "bias % rem",
        "MAE % rem",
        "cov 80 %",
        "machine",
        "prior bias",
        "prior b%rem"
    );
    for r in rows.as_array().unwrap() {
        if r["n"] == 0 {
            continue;
        }
        let g = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        let pg = |k: &str| r["prior"][k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>6} {:>4.0} % {:>4} {:>9.2} {:>8.2} {:>10.1} {:>10.1} {:>9.1} {:>7.0} % {:>11.2} {:>11.1}",
            r["lives"].as_str().unwrap_or(""),
            100.0 * g("fraction"),
            r["n"],
            g("bias_min"),
            g("rmse_min"),
            g("bias_pct_of_remaining"),
            g("mae_pct_of_remaining"),
            100.0 * g("coverage_80"),
            100.0 * g("machine_share_mean"),
            pg("bias_min"),
            pg("bias_pct_of_remaining"),
        );
    }
}

fn print_coverage_by_class(c: &serde_json::Value) {
    for g in c["groups"].as_array().unwrap() {
        println!(
            "  {:<40} n {:>3}  80 % coverage {:>5.1} %",
            g["class"].as_str().unwrap_or(""),
            g["n"],
            100.0 * g["coverage_80"].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(w) = c["worst"].as_object() {
        println!(
            "  pooled {:.1} % over {} samples; worst class {} at {:.1} %",
            100.0 * c["pooled"].as_f64().unwrap_or(f64::NAN),
            c["n"],
            w["class"].as_str().unwrap_or(""),
            100.0 * w["coverage_80"].as_f64().unwrap_or(f64::NAN)
        );
    }
}

fn print_table(t: &serde_json::Value, verbose: bool) {
    println!(
        "{:>6} {:>4} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "life",
        "n",
        "bias min",
        "MAE min",
        "RMSE min",
        "bias %",
        "MAE %",
        "RMSE %",
        "cov 80 %",
        "true rem",
        "P50 mean"
    );
    for r in t["fractions"].as_array().unwrap() {
        let label = match r["fraction"].as_f64() {
            Some(f) => format!("{:.0} %", f * 100.0),
            None => "all".into(),
        };
        if r["n"] == 0 {
            println!("{label:>6} {:>4}", 0);
            continue;
        }
        let g = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{label:>6} {:>4} {:>9.2} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>9.2} {:>9.2}",
            r["n"],
            g("bias_min"),
            g("mae_min"),
            g("rmse_min"),
            g("bias_pct"),
            g("mae_pct"),
            g("rmse_pct"),
            100.0 * g("coverage_80"),
            g("true_remaining_mean_min"),
            g("p50_mean_min"),
        );
    }
    if verbose {
        println!(
            "  {:<10} {:>5} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "tool", "frac", "T min", "used", "counted", "true rem", "P10", "P50", "P90", "err"
        );
        println!("  {:>96}", "VB P50 / true (mm)");
        for s in t["samples"].as_array().unwrap() {
            let g = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "  {:<10} {:>5.2} {:>7.2} {:>7.2} {:>8.3} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7.3} / {:.3}{}",
                s["tool"].as_str().unwrap_or(""),
                g("fraction"),
                g("life_min"),
                g("used_min"),
                g("agent_counted_min"),
                g("true_remaining_min"),
                g("p10"),
                g("p50"),
                g("p90"),
                g("error_min"),
                g("vb_p50_mm"),
                g("vb_true_mm"),
                if s["covered"] == true { "" } else { "  (outside P10-P90)" }
            );
        }
    }
}

/// The live run: the simulator and the agent against it until `--tools` tools ended; every
/// prediction the agent published, by (tool, cut), and the wall time it took.
async fn live_run(
    args: &Args,
    sc: ScenarioConfig,
    mut cfg: agent::config::Config,
    scenario: &Path,
    truth_csv: &Path,
) -> Result<(PathBuf, HashMap<String, BTreeMap<u64, LivePrediction>>, f64)> {
    let x = args.time_scale;
    let sim = Simulator::start(sc).await?;
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    let agent = agent::Agent::start(cfg).await?;
    eprintln!(
        "rul-report: scenario {} seed {} at time scale {x}, until {} tools reached end of life; \
         truth {}",
        scenario.display(),
        args.seed,
        args.tools,
        truth_csv.display()
    );

    // Live: every prediction the agent publishes, by (tool, cut).
    let mut live: HashMap<String, BTreeMap<u64, LivePrediction>> = HashMap::new();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    loop {
        let view = agent.life.view(8)?;
        for t in &view.tools {
            if let Some(p) = &t.prediction {
                live.entry(t.tool_id.clone()).or_default().insert(
                    p.after_cut,
                    (
                        p.at_ms,
                        p.cutting_min,
                        [
                            p.remaining_min.p10,
                            p.remaining_min.p50,
                            p.remaining_min.p90,
                            p.vb.map_or(f64::NAN, |v| v.p50),
                        ],
                    ),
                );
            }
        }
        let s = sim.snapshot();
        let ended = s.truth.tool_changes.saturating_sub(s.truth.breakages) as usize;
        if last_progress.elapsed() >= Duration::from_secs(10) {
            last_progress = Instant::now();
            eprintln!(
                "  {:>5.0} s wall, {:>6.2} h simulated: {ended} tools ended, {} breakages, {} parts, \
                 {} live predictions",
                started.elapsed().as_secs_f64(),
                s.sim_time_s / 3600.0,
                s.truth.breakages,
                s.truth.parts,
                live.values().map(|m| m.len()).sum::<usize>()
            );
        }
        if ended >= args.tools {
            break;
        }
        if s.sim_time_s / 3600.0 > args.max_sim_h {
            eprintln!("rul-report: stopping at --max-sim-h {}", args.max_sim_h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall_s = started.elapsed().as_secs_f64();
    sim.shutdown().await;
    agent.shutdown().await;

    Ok((truth_csv.to_path_buf(), live, wall_s))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = args
        .scenario
        .clone()
        .unwrap_or_else(|| root.join("configs/scenarios/normal-near-dry.toml"));
    let dir = match &args.out_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => e2e::temp_dir("rul-report"),
    };
    let truth_csv = dir.join("truth.csv");
    let mut sc = ScenarioConfig::from_file(&scenario)?;
    sc.opcua.listen = "127.0.0.1:0".parse()?;
    sc.modbus.listen = "127.0.0.1:0".parse()?;
    sc.time_scale = args.time_scale;
    sc.seed = args.seed;
    sc.truth.csv = Some(truth_csv.clone());
    sc.truth.interval_s = 1.0;
    if args.run_to_wear {
        for t in &mut sc.tools {
            t.life_warning_min = 1e6;
            t.life_limit_min = 1e6;
        }
    }
    let x = args.time_scale;

    let mut cfg = agent::demo::simulator_config();
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.store.path = dir.join("agent.db");
    let replay_cfg = cfg.clone();
    let model_file = cfg
        .life
        .wear_model
        .as_ref()
        .map(|m| m.path.display().to_string());
    let Some(model_file) = model_file else {
        bail!("configs/agent.toml has no [life] wear_model: nothing to score");
    };
    let (truth_csv, live, wall_s) = match &args.truth {
        Some(t) => (t.clone(), HashMap::new(), 0.0),
        None => live_run(&args, sc.clone(), cfg, &scenario, &truth_csv).await?,
    };

    let rows = read_truth(&truth_csv)?;
    let truth = tools_truth(&rows);
    let ended: Vec<&ToolTruth> = truth
        .iter()
        .filter(|t| matches!(&t.end, End::Replaced(r) if r == "vb_limit" || r == "life_counter"))
        .collect();
    let broken = truth
        .iter()
        .filter(|t| matches!(&t.end, End::Replaced(r) if r == "breakage"))
        .count();
    let by_reason = |r: &str| {
        ended
            .iter()
            .filter(|t| t.end == End::Replaced(r.into()))
            .count()
    };

    // Live points: the agent's predictions → truth by wall time; minutes are machine minutes.
    let by_id: HashMap<&str, &ToolTruth> = truth.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut live_points: HashMap<String, Vec<Point>> = HashMap::new();
    for (tool, preds) in &live {
        let Some(t) = by_id.get(tool.as_str()) else {
            continue;
        };
        for (at_ms, counted, [p10, p50, p90, vb]) in preds.values() {
            if let Some(used) = t.used_at(*at_ms) {
                live_points.entry(tool.clone()).or_default().push(Point {
                    used_true: used,
                    agent_used: *counted,
                    p10: *p10,
                    p50: *p50,
                    p90: *p90,
                    vb_p50: *vb,
                    vb_p10: f64::NAN,
                    vb_p90: f64::NAN,
                    vb_true: f64::NAN,
                    measured: 0,
                    lives: 0,
                    machine_share: 0.0,
                    class: String::new(),
                });
            }
        }
    }
    for v in live_points.values_mut() {
        v.sort_by(|a, b| a.used_true.total_cmp(&b.used_true));
    }

    let cut_list = cuts(&rows);
    let sim_points = replay(
        &replay_cfg,
        &sc,
        &cut_list,
        &dir.join("replay.db"),
        None,
        &by_id,
        None,
    )?;
    if let Some(m) = args.measure_every_min.filter(|m| m.is_nan() || *m <= 0.0) {
        bail!("--measure-every-min must be above 0, got {m}");
    }
    // The replay again with each tool's wear measured, unlabelled or labelled.
    let measured_replay = |db: &str, labels| {
        args.measure_every_min
            .map(|m| {
                replay(
                    &replay_cfg,
                    &sc,
                    &cut_list,
                    &dir.join(db),
                    labels,
                    &by_id,
                    Some(m),
                )
            })
            .transpose()
    };
    let measured_points = measured_replay("replay-measured.db", None)?;
    // Each change's reason, with the truth's flank wear at the change where the shop measures
    // the tool it pulls (`--measure-at-change`: every change but a breakage).
    let labels: HashMap<String, (ChangeReason, Option<f64>)> = truth
        .iter()
        .filter_map(|t| match &t.end {
            End::Replaced(r) => {
                let reason = match r.as_str() {
                    "vb_limit" => ChangeReason::WornOut,
                    "breakage" => ChangeReason::Broken,
                    _ => ChangeReason::Preventive,
                };
                let vb = (args.measure_at_change && reason != ChangeReason::Broken)
                    .then(|| t.vb_at(t.used_at_end))
                    .filter(|v| v.is_finite());
                Some((t.id.clone(), (reason, vb)))
            }
            End::Running => None,
        })
        .collect();
    let own_points = replay(
        &replay_cfg,
        &sc,
        &cut_list,
        &dir.join("replay-labelled.db"),
        Some(&labels),
        &by_id,
        None,
    )?;

    let own_measured_points = measured_replay("replay-labelled-measured.db", Some(&labels))?;
    let live_samples = samples(&ended, &live_points);
    let sim_samples = samples(&ended, &sim_points);
    let own_samples = samples(&ended, &own_points);

    // How much of the true cutting time the live agent counted, over ended tools.
    let (mut counted, mut true_used) = (0.0, 0.0);
    for t in &ended {
        if let Some(ps) = live_points.get(&t.id) {
            if let Some(p) = ps.last() {
                counted += p.agent_used;
                true_used += p.used_true;
            }
        }
    }
    let counted_share = (true_used > 0.0).then(|| counted / true_used);
    let tools_json: Vec<_> = truth
        .iter()
        .map(|t| {
            json!({
                "tool": t.id,
                "end": match &t.end { End::Replaced(r) => r.as_str(), End::Running => "running" },
                "life_min": t.life_min, "projected": t.projected, "used_at_end_min": t.used_at_end,
                "sim_clock_predictions": sim_points.get(&t.id).map_or(0, |v| v.len()),
                "live_predictions": live_points.get(&t.id).map_or(0, |v| v.len()),
            })
        })
        .collect();
    let sim_table = table("sim-clock", &sim_samples);
    let own_table = table("adapted", &own_samples);
    let own_by_lives = by_lives(&own_samples, &sim_samples);
    let own_by_class = coverage_by_class(&own_samples, false);
    let live_table = table("live", &live_samples);
    let measured_report = measured_points.as_ref().map(|m| {
        (
            table("sim-clock, wear measured", &samples(&ended, m)),
            vb_coverage_by_tool(&ended, m, &sim_points),
        )
    });
    let own_measured_report = own_measured_points.as_ref().map(|m| {
        let s = samples(&ended, m);
        (
            table("adapted, wear measured", &s),
            by_lives(&s, &sim_samples),
            coverage_by_class(&s, true),
        )
    });
    let sim_h = rows.last().map_or(0.0, |r| r.sim_s / 3600.0);

    if args.json {
        let out = json!({
            "scenario": scenario.display().to_string(),
            "seed": args.seed,
            "time_scale": x,
            "wall_s": wall_s,
            "simulated_h": sim_h,
            "model_file": model_file,
            "tools_ended": ended.len(),
            "ended_vb_limit": by_reason("vb_limit"),
            "ended_life_counter": by_reason("life_counter"),
            "life_projected": ended.iter().filter(|t| t.projected).count(),
            "breakages": broken,
            "run_to_wear": args.run_to_wear,
            "live_counted_share_of_true_cutting": counted_share,
            "sim_clock": sim_table,
            "adapted": own_table,
            "adapted_by_lives": own_by_lives,
            "adapted_coverage_by_class": own_by_class,
            "live": live_table,
            "measured_every_min": args.measure_every_min,
            "sim_clock_measured": measured_report.as_ref().map(|m| &m.0),
            "vb_coverage_measured": measured_report.as_ref().map(|m| &m.1),
            "adapted_measured": own_measured_report.as_ref().map(|m| &m.0),
            "adapted_measured_by_lives": own_measured_report.as_ref().map(|m| &m.1),
            "adapted_measured_coverage_by_class": own_measured_report.as_ref().map(|m| &m.2),
            "tools": tools_json,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }

    println!(
        "RUL error on the simulator (truth known), remaining minutes of cutting to VB = 0.3 mm"
    );
    println!(
        "scenario {}, seed {}, time scale {x}: {:.2} h simulated in {:.0} s",
        scenario.file_name().unwrap_or_default().to_string_lossy(),
        args.seed,
        sim_h,
        wall_s
    );
    println!("wear model: {model_file} (configs/agent.toml [life])");
    let projected = ended.iter().filter(|t| t.projected).count();
    println!(
        "tools ended: {} (replaced: {} for VB limit, {} by the CNC life counter); {} of them \
         replaced before VB reached the limit, their T projected by the simulator's own \
         remaining life; {} breakages (counted, not scored)",
        ended.len(),
        by_reason("vb_limit"),
        by_reason("life_counter"),
        projected,
        broken
    );
    println!(
        "error = predicted P50 − true remaining (positive: the agent says the tool lasts longer \
         than it does); % of the tool's true life T; coverage: truth within P10–P90"
    );
    println!();
    println!(
        "sim-clock: the agent's life evaluator fed each simulated cut with its simulated cutting \
         time (what the agent predicts at time scale 1):"
    );
    print_table(&sim_table, args.verbose);
    println!();
    if let (Some((t, vb)), Some(m)) = (&measured_report, args.measure_every_min) {
        println!(
            "sim-clock, wear measured: the same replay with each tool's flank wear measured every \
             {m} min of its cutting (the truth's VB, POST /api/tools/{{id}}/wear):"
        );
        print_table(t, args.verbose);
        print_vb_coverage(vb, args.verbose);
        println!();
    }
    println!(
        "adapted: the same replay with every tool change reported (wear limit: worn_out; life \
         counter: preventive; breakage: broken), each tool predicted from the wear model adapted \
         to the lives of its class recorded so far (models::adapt):"
    );
    print_table(&own_table, args.verbose);
    println!();
    println!(
        "adapted, by recorded lives of the tool's class at the prediction (`machine`: mean share \
         of the figure from them; % rem: of the true remaining life), beside the wear model \
         alone on the same tools (prior):"
    );
    print_by_lives(&own_by_lives);
    println!();
    println!(
        "adapted, 80 % coverage per tool class (predictions with at least one life behind them):"
    );
    print_coverage_by_class(&own_by_class);
    println!();
    if let Some((t, lives, by_class)) = &own_measured_report {
        println!(
            "adapted, wear measured: the adapted replay with each tool's wear also measured as in \
             `sim-clock, wear measured` (a measured tool is predicted from its own wear):"
        );
        print_table(t, args.verbose);
        print_by_lives(lives);
        println!("  80 % coverage per tool class, every prediction:");
        print_coverage_by_class(by_class);
        println!();
    }
    println!(
        "live: the running agent at time scale {x}, on the machine's clock (it counted {} of the \
         true cutting time):",
        counted_share.map_or("n/a".into(), |s| format!("{:.1} %", 100.0 * s))
    );
    print_table(&live_table, args.verbose);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(
        tool: &str,
        fraction: f64,
        p50: f64,
        covered: bool,
        lives: usize,
        class: &str,
    ) -> Sample {
        Sample {
            tool: tool.into(),
            fraction,
            life_min: 20.0,
            used_true: 20.0 * fraction,
            agent_used: 20.0 * fraction,
            true_rem: 20.0 * (1.0 - fraction),
            p10: if covered { 0.0 } else { 100.0 },
            p50,
            p90: 200.0,
            vb_p50: f64::NAN,
            vb_true: f64::NAN,
            lives,
            machine_share: lives as f64 / (lives as f64 + 0.2),
            class: class.into(),
        }
    }

    /// Samples go to the bucket of their lives, beside the prior's sample of the same tool and
    /// fraction; coverage is per class with the worst named.
    #[test]
    fn figures_by_lives_and_by_class() {
        let adapted = [
            sample("A", 0.5, 12.0, true, 1, "x"),
            sample("B", 0.5, 8.0, false, 1, "y"),
            sample("C", 0.5, 10.0, true, 7, "x"),
            sample("D", 0.5, 0.0, false, 0, "y"),
        ];
        let prior = [
            sample("A", 0.5, 0.0, false, 0, ""),
            sample("B", 0.5, 1.0, false, 0, ""),
            sample("B", 0.25, 5.0, false, 0, ""),
        ];
        let rows = by_lives(&adapted, &prior);
        let row = |lives: &str, f: f64| {
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["lives"] == lives && r["fraction"] == f)
                .unwrap()
                .clone()
        };
        let one = row("1", 0.5);
        assert_eq!(one["n"], 2);
        // Errors +2 and −2 min: bias 0, RMSE 2; the prior's −10 and −9.
        assert!(one["bias_min"].as_f64().unwrap().abs() < 1e-12);
        assert!((one["rmse_min"].as_f64().unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(one["prior"]["n"], 2);
        assert!((one["prior"]["bias_min"].as_f64().unwrap() + 9.5).abs() < 1e-12);
        assert_eq!(row("5+", 0.5)["n"], 1);
        assert_eq!(row("2", 0.5)["n"], 0);
        let c = coverage_by_class(&adapted, false);
        // D has no life behind it and is left out.
        assert_eq!(c["n"], 3);
        assert_eq!(c["worst"]["class"], "y");
        assert_eq!(c["worst"]["coverage_80"], 0.0);
        assert!((c["pooled"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }
}
