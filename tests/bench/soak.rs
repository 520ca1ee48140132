//! Soak: a day of the simulated machine at a high time scale with everything that goes wrong
//! on a shop floor going wrong on a schedule, and four figures at the end.
//!
//! `cargo run --release -p e2e --bin soak -- [--sim-hours 24] [--time-scale 100]
//! [--flap-every-s 45] [--flap-s 6] [--opcua-restarts 5] [--opcua-down-s 8]
//! [--broker-down-s 60] [--out-dir DIR]`
//!
//! The simulator runs in this process (scenario `normal-near-dry`), the agent as a child
//! process (this binary with `--as-agent`, so its memory is its own) with
//! `configs/agent.toml` pointed at the simulator and at a local Mosquitto. The schedule is in
//! wall seconds (the agent's timers, reconnects and alarm delays run on the wall clock; at
//! time scale 100 one wall second is 100 machine seconds):
//!
//! - the Modbus server (MQL unit and spindle sensor) stops for `--flap-s` every
//!   `--flap-every-s`;
//! - the OPC UA server (the CNC) restarts `--opcua-restarts` times, down `--opcua-down-s`;
//! - the broker is down for `--broker-down-s` once, at 45 % of the run;
//! - the agent restarts twice: a clean stop (SIGTERM) at 30 % and a crash (SIGKILL) at 70 %.
//!
//! Figures:
//!
//! - **memory growth**: the agent's resident memory (VmRSS) every 2 s; per agent run, the
//!   least-squares slope after its first two minutes, in MiB per wall hour and per simulated
//!   hour (goal < 1 MiB/h).
//! - **OPC UA sessions left open**: sessions the simulator's server counts after the agent's
//!   final clean stop, once they have had 10 s to close (goal 0); also the most open at once.
//! - **samples lost**: the simulator's served values are sampled every 100 ms for three
//!   signals whose every change the agent stores (deadband 0): `machine.parts_count` and
//!   `tool.id` (OPC UA) and `mql.aerosol_on` (Modbus). A served value that lasted at least
//!   1.5 s while its device was observable (the agent running for 25 s and not within 3 s of
//!   being killed, plus the flush interval a kill loses, the device's server up for 15 s)
//!   must be in the store's `sample` table,
//!   with that value, within 2 s of when it was served. Every one that is not is a sample
//!   lost (goal 0).
//! - **alarms missed**: the ground truth is the simulator's: each stretch of at least 4 s in
//!   which the tool in the spindle was past its life warning (or limit) by the CNC's counter,
//!   and each server outage of at least 4 s, while observable; the agent must have had
//!   `tool:<id>:life-warning` (`-limit`) or `device:<name>:unavailable` active (by its
//!   `alarm_event` audit trail) at some time from its start to 5 s after its end. Every one
//!   without is an alarm missed (goal 0).
//!
//! Also printed: MQTT events received by a persistent subscriber, per sequence epoch, with
//! the gaps in `seq`. After the kill -9 the sequence resumes above its last reservation (a
//! gap up to the next multiple of 10,000, by design: the numbers in it may have been used by
//! messages the crash lost, at most the last second's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use e2e::mosquitto::{subscriber, Mosquitto};
use e2e::AgentProcess;
use simulator::Simulator;

#[derive(Parser)]
struct Args {
    /// Be the agent (child mode): `agent run --config FILE --listen 127.0.0.1:0`.
    #[arg(long)]
    as_agent: Option<String>,
    #[arg(long, default_value_t = 24.0)]
    sim_hours: f64,
    /// Simulated seconds per wall second.
    #[arg(long, default_value_t = 100.0)]
    time_scale: f64,
    /// Wall seconds between the starts of two Modbus outages.
    #[arg(long, default_value_t = 45.0)]
    flap_every_s: f64,
    /// Wall seconds each Modbus outage lasts.
    #[arg(long, default_value_t = 6.0)]
    flap_s: f64,
    #[arg(long, default_value_t = 5)]
    opcua_restarts: usize,
    #[arg(long, default_value_t = 8.0)]
    opcua_down_s: f64,
    #[arg(long, default_value_t = 60.0)]
    broker_down_s: f64,
    /// Keep the store, the configuration and the logs here (default: a temporary directory).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(cfg) = &args.as_agent {
        e2e::be_the_agent(cfg);
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(soak(args))
}

/// What happens when, in wall seconds from the start.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Happening {
    ModbusStop,
    ModbusStart,
    OpcUaStop,
    OpcUaStart,
    BrokerStop,
    BrokerStart,
    AgentTerm,
    AgentKill,
}

fn schedule(a: &Args, total: f64) -> Vec<(f64, Happening)> {
    use Happening::*;
    let mut s = Vec::new();
    let mut t = a.flap_every_s;
    while t + a.flap_s < total - 10.0 {
        s.push((t, ModbusStop));
        s.push((t + a.flap_s, ModbusStart));
        t += a.flap_every_s;
    }
    for i in 0..a.opcua_restarts {
        // Between the flaps, not on them.
        let t = total * (i as f64 + 0.5) / a.opcua_restarts as f64 + a.flap_every_s / 2.0;
        s.push((t, OpcUaStop));
        s.push((t + a.opcua_down_s, OpcUaStart));
    }
    s.push((total * 0.45, BrokerStop));
    s.push((total * 0.45 + a.broker_down_s, BrokerStart));
    s.push((total * 0.3, AgentTerm));
    s.push((total * 0.7, AgentKill));
    s.sort_by(|x, y| x.0.total_cmp(&y.0));
    s
}

/// A value served without change from `from` to `to` (wall ms).
#[derive(Debug, Clone)]
struct Served {
    value: String,
    from: i64,
    to: i64,
}

/// The served history of one signal, as runs of one value.
#[derive(Default)]
struct History(Vec<Served>);

impl History {
    fn saw(&mut self, value: String, at: i64) {
        match self.0.last_mut() {
            Some(r) if r.value == value => r.to = at,
            _ => self.0.push(Served {
                value,
                from: at,
                to: at,
            }),
        }
    }
}

/// Wall-ms intervals.
type Spans = Vec<(i64, i64)>;

fn covered(spans: &Spans, from: i64, to: i64) -> bool {
    spans.iter().any(|(a, b)| *a <= from && to <= *b)
}

fn overlaps(spans: &Spans, from: i64, to: i64) -> bool {
    spans.iter().any(|(a, b)| *a <= to && from <= *b)
}

/// Where the agent could observe a device: agent runs (from 25 s after the start to the stop,
/// or to a flush interval and 3 s before a kill) minus the device's outages (and 15 s after each).
fn observable(agent_runs: &Spans, outages: &Spans) -> Spans {
    let mut out = Vec::new();
    for &(a, b) in agent_runs {
        let mut cuts: Vec<(i64, i64)> = outages
            .iter()
            .map(|&(f, t)| (f, t + 15_000))
            .filter(|&(f, t)| f < b && t > a)
            .collect();
        cuts.sort();
        let mut start = a;
        for (f, t) in cuts {
            if f > start {
                out.push((start, f));
            }
            start = start.max(t);
        }
        if start < b {
            out.push((start, b));
        }
    }
    out
}

/// VmRSS of a process in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Least-squares slope of (x, y).
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The agent's configuration: the example's, pointed at the simulator, the broker and a store
/// in `dir`.
fn agent_config(sim: &Simulator, broker: u16, dir: &Path) -> Result<PathBuf> {
    e2e::example_config(
        sim,
        dir,
        &format!(
            "\n[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\nsite = \"soak\"\nline = \"line-1\"\n\
             keep_alive_s = 5\n"
        ),
    )
}

fn now_ms() -> i64 {
    agent::value::now_ms()
}

async fn start_agent(file: &Path) -> Result<AgentProcess> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["--as-agent", file.to_str().context("path")?])
        .env("RUST_LOG", "warn");
    Ok(AgentProcess::spawn(cmd).await)
}

/// SIGTERM, and wait for the agent to flush and exit.
fn terminate(agent: &mut AgentProcess) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &agent.child.id().to_string()])
        .status();
    let _ = agent.child.wait();
}

async fn soak(args: Args) -> Result<()> {
    let total = args.sim_hours * 3600.0 / args.time_scale;
    let dir = match &args.out_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => e2e::temp_dir("soak"),
    };
    let sc = e2e::scenario("normal-near-dry.toml", args.time_scale);
    let sim = Simulator::start(sc).await?;
    let mut broker = Some(Mosquitto::start_persistent(&dir).await);
    let port = broker.as_ref().unwrap().port();
    let mqtt = subscriber(port, "green-machining/soak/#", Some("soak-historian")).await;
    let file = agent_config(&sim, port, &dir)?;
    let plan = schedule(&args, total);
    println!(
        "soak: {} simulated hours at time scale {} = {:.0} s of wall time; Modbus down {} s every \
         {} s, {} OPC UA restarts ({} s down), broker down {} s, agent SIGTERM at {:.0} s and \
         SIGKILL at {:.0} s; files in {}",
        args.sim_hours,
        args.time_scale,
        total,
        args.flap_s,
        args.flap_every_s,
        args.opcua_restarts,
        args.opcua_down_s,
        args.broker_down_s,
        total * 0.3,
        total * 0.7,
        dir.display()
    );

    let t0 = Instant::now();
    let wall0 = now_ms();
    let sim0 = sim.snapshot().cnc.power_on_time_s;
    // A kill -9 loses what waits for the next commit: at most one flush interval of samples
    // (the SD card's sake, see the README); those before it must be stored.
    let flush_ms = agent::config::load(&file)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .store
        .flush_interval
        .as_millis() as i64;
    let mut agent = start_agent(&file).await?;
    let mut run_from = now_ms();
    let mut agent_runs: Spans = Vec::new();
    // Memory per agent run: (wall s, simulated s, MiB).
    let mut memory: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
    let (mut modbus_out, mut opcua_out): (Spans, Spans) = (Vec::new(), Vec::new());
    let mut down_since: BTreeMap<&str, i64> = BTreeMap::new();
    let mut stopped_broker = None;
    let mut served: BTreeMap<&str, History> = BTreeMap::new();
    let mut life: History = History::default();
    let mut max_sessions = 0u32;
    let mut next = 0usize;
    let mut last_rss = Instant::now() - Duration::from_secs(10);
    let mut last_sessions = Instant::now() - Duration::from_secs(10);
    let mut reported = 0u64;
    while t0.elapsed().as_secs_f64() < total {
        let at = now_ms();
        let s = sim.snapshot();
        served
            .entry("machine.parts_count")
            .or_default()
            .saw(s.cnc.parts_counter.to_string(), at);
        served
            .entry("tool.id")
            .or_default()
            .saw(s.cnc.tool_identifier.clone(), at);
        served
            .entry("mql.aerosol_on")
            .or_default()
            .saw(u8::from(s.mql.aerosol_on).to_string(), at);
        let level = if s.cnc.tool_life_min >= s.cnc.tool_life_limit_min {
            "life-limit"
        } else if s.cnc.tool_life_min >= s.cnc.tool_life_warning_min {
            "life-warning"
        } else {
            ""
        };
        life.saw(format!("{}|{level}", s.cnc.tool_identifier), at);
        if last_rss.elapsed() >= Duration::from_secs(2) {
            last_rss = Instant::now();
            if let Some(mib) = rss_mib(agent.child.id()) {
                memory.last_mut().unwrap().push((
                    t0.elapsed().as_secs_f64(),
                    s.cnc.power_on_time_s - sim0,
                    mib,
                ));
            }
        }
        if last_sessions.elapsed() >= Duration::from_secs(1) {
            last_sessions = Instant::now();
            max_sessions = max_sessions.max(sim.opcua_sessions().await.unwrap_or(0));
        }
        let minute = t0.elapsed().as_secs() / 60;
        if minute > reported {
            reported = minute;
            eprintln!(
                "soak: {minute} min, {:.1} simulated h, agent {:.0} MiB",
                (s.cnc.power_on_time_s - sim0) / 3600.0,
                memory.last().and_then(|m| m.last()).map_or(0.0, |m| m.2)
            );
        }
        while next < plan.len() && plan[next].0 <= t0.elapsed().as_secs_f64() {
            let (_, h) = plan[next];
            next += 1;
            let at = now_ms();
            match h {
                Happening::ModbusStop => {
                    sim.stop_modbus().await;
                    down_since.insert("modbus", at);
                }
                Happening::ModbusStart => {
                    sim.start_modbus().await?;
                    modbus_out.push((down_since.remove("modbus").unwrap_or(at), at));
                }
                Happening::OpcUaStop => {
                    sim.stop_opcua().await;
                    down_since.insert("opcua", at);
                }
                Happening::OpcUaStart => {
                    sim.start_opcua().await?;
                    opcua_out.push((down_since.remove("opcua").unwrap_or(at), at));
                }
                Happening::BrokerStop => stopped_broker = broker.take().map(|b| b.stop()),
                Happening::BrokerStart => {
                    if let Some(b) = stopped_broker.take() {
                        broker = Some(b.start().await);
                    }
                }
                Happening::AgentTerm | Happening::AgentKill => {
                    if h == Happening::AgentTerm {
                        terminate(&mut agent);
                        agent_runs.push((run_from + 25_000, now_ms()));
                    } else {
                        agent.kill();
                        agent_runs.push((run_from + 25_000, at - flush_ms - 3_000));
                    }
                    agent = start_agent(&file).await?;
                    run_from = now_ms();
                    memory.push(Vec::new());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = agent.http.clone();
    let mqtt_dropped = e2e::get(&http, "/metrics")
        .await
        .ok()
        .and_then(|(_, body)| {
            body.lines()
                .find(|l| l.starts_with("agent_mqtt_dropped_total"))
                .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        });
    terminate(&mut agent);
    let end = now_ms();
    agent_runs.push((run_from + 25_000, end));
    for (what, since) in std::mem::take(&mut down_since) {
        match what {
            "modbus" => modbus_out.push((since, end)),
            _ => opcua_out.push((since, end)),
        }
    }
    // Sessions the agent's stop should have closed: give them 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left_open = sim.opcua_sessions().await.unwrap_or(0);
    while left_open > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left_open = sim.opcua_sessions().await.unwrap_or(0);
    }
    let sim_end = sim.snapshot().cnc.power_on_time_s;
    sim.shutdown().await;

    // --- The figures --------------------------------------------------------------------
    let store = rusqlite::Connection::open_with_flags(
        dir.join("agent.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let cnc_seen = observable(&agent_runs, &opcua_out);
    let modbus_seen = observable(&agent_runs, &modbus_out);

    println!(
        "wall {:.0} s, simulated {:.1} h",
        (end - wall0) as f64 / 1000.0,
        (sim_end - sim0) / 3600.0
    );
    // Memory.
    let mut worst: f64 = f64::NEG_INFINITY;
    for (i, run) in memory.iter().enumerate() {
        let Some(&(first, _, _)) = run.first() else {
            continue;
        };
        let steady: Vec<_> = run.iter().filter(|m| m.0 >= first + 120.0).collect();
        let wall: Vec<(f64, f64)> = steady.iter().map(|m| (m.0 / 3600.0, m.2)).collect();
        let simh: Vec<(f64, f64)> = steady.iter().map(|m| (m.1 / 3600.0, m.2)).collect();
        let (w, s) = (slope(&wall), slope(&simh));
        println!(
            "memory, agent run {}: {:.1} → {:.1} MiB resident; growth after its first 2 min: \
             {} MiB per wall hour, {} MiB per simulated hour ({} samples)",
            i + 1,
            run.first().map_or(0.0, |m| m.2),
            run.last().map_or(0.0, |m| m.2),
            w.map_or("-".into(), |x| format!("{x:.2}")),
            s.map_or("-".into(), |x| format!("{x:.3}")),
            steady.len()
        );
        if let Some(s) = s {
            worst = worst.max(s);
        }
    }
    println!("memory growth (worst run, per simulated hour): {worst:.3} MiB/h (goal < 1)");
    println!(
        "OPC UA sessions left open after the agent's clean stop: {left_open} (goal 0); most open \
         at once during the run: {max_sessions}"
    );

    // Samples lost.
    let mut expected = 0;
    let mut lost = Vec::new();
    for (signal, history) in &served {
        let seen = if *signal == "mql.aerosol_on" {
            &modbus_seen
        } else {
            &cnc_seen
        };
        let mut st = store.prepare(
            "SELECT count(*) FROM sample s JOIN signal g ON g.id = s.signal_id
             WHERE g.name = ?1 AND s.ts_ms BETWEEN ?2 AND ?3
               AND (s.txt = ?4 OR (s.num IS NOT NULL AND abs(s.num - CAST(?4 AS REAL)) < 1e-9))",
        )?;
        for r in &history.0 {
            if r.to - r.from < 1_500 || !covered(seen, r.from, r.to) {
                continue;
            }
            expected += 1;
            let n: i64 = st.query_row((signal, r.from - 2_000, r.to + 2_000, &r.value), |row| {
                row.get(0)
            })?;
            if n == 0 {
                lost.push(format!("{signal} = {} ({} .. {})", r.value, r.from, r.to));
            }
        }
    }
    println!(
        "samples lost: {} of {expected} served values that had to be kept (goal 0){}",
        lost.len(),
        if lost.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                lost.iter().take(10).cloned().collect::<Vec<_>>().join("; ")
            )
        }
    );

    // Alarms missed.
    let mut active: BTreeMap<String, Spans> = BTreeMap::new();
    {
        let mut st = store.prepare("SELECT key, ts_ms, state FROM alarm_event ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut since: BTreeMap<String, i64> = BTreeMap::new();
        for row in rows {
            let (key, ts, state) = row?;
            if state.starts_with("active") {
                since.entry(key).or_insert(ts);
            } else if let Some(from) = since.remove(&key) {
                active.entry(key).or_default().push((from, ts));
            }
        }
        for (key, from) in since {
            active.entry(key).or_default().push((from, i64::MAX));
        }
    }
    let mut truth: Vec<(String, i64, i64, &Spans)> = Vec::new();
    for r in &life.0 {
        let (tool, level) = r.value.split_once('|').unwrap_or_default();
        if !level.is_empty() {
            truth.push((format!("tool:{tool}:{level}"), r.from, r.to, &cnc_seen));
        }
    }
    for &(f, t) in &modbus_out {
        for d in ["mql", "spindle-sensor"] {
            truth.push((format!("device:{d}:unavailable"), f, t, &agent_runs));
        }
    }
    for &(f, t) in &opcua_out {
        truth.push(("device:cnc:unavailable".into(), f, t, &agent_runs));
    }
    let mut alarms_expected = 0;
    let mut missed = Vec::new();
    let mut by_kind: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for (key, from, to, seen) in &truth {
        // A device outage is observable while the agent runs; a tool's life while the CNC is.
        let watched = if key.starts_with("device:") {
            covered(seen, *from - 5_000, *to + 5_000)
        } else {
            covered(seen, *from, *to)
        };
        if to - from < 4_000 || !watched {
            continue;
        }
        alarms_expected += 1;
        let kind = key.rsplit(':').next().unwrap_or_default();
        let k = by_kind
            .entry(if key.starts_with("device:") {
                "device unavailable"
            } else {
                kind
            })
            .or_default();
        k.0 += 1;
        let hit = active
            .get(key)
            .is_some_and(|spans| overlaps(spans, *from, *to + 5_000));
        if !hit {
            k.1 += 1;
            missed.push(format!("{key} ({from} .. {to})"));
        }
    }
    println!(
        "alarms missed: {} of {alarms_expected} the simulator's ground truth called for (goal 0){}",
        missed.len(),
        by_kind
            .iter()
            .map(|(k, (n, m))| format!("; {k}: {m} of {n}"))
            .collect::<String>()
    );
    for m in missed.iter().take(10) {
        println!("    missed {m}");
    }

    // MQTT.
    let got = mqtt.lock().unwrap().clone();
    let mut epochs: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for (_, _, v) in &got {
        if let (Some(e), Some(s)) = (v["epoch"].as_str(), v["seq"].as_u64()) {
            epochs.entry(e.to_string()).or_default().insert(s);
        }
    }
    for (e, seqs) in &epochs {
        let (lo, hi) = (seqs.first().unwrap(), seqs.last().unwrap());
        let gaps: Vec<(u64, u64)> = seqs
            .iter()
            .zip(seqs.iter().skip(1))
            .filter(|(a, b)| **b > **a + 1)
            .map(|(a, b)| (a + 1, b - 1))
            .collect();
        println!(
            "mqtt epoch {e}: {} events received, seq {lo}..{hi}, {} missing in {} gaps{}",
            seqs.len(),
            hi - lo + 1 - seqs.len() as u64,
            gaps.len(),
            gaps.iter()
                .take(6)
                .map(|(a, b)| format!(" {a}..{b}"))
                .collect::<String>()
        );
    }
    println!(
        "mqtt dropped by the outbox (last agent run): {}",
        mqtt_dropped.map_or("-".into(), |d| d.to_string())
    );
    drop(broker);
    Ok(())
}
