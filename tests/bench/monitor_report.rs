//! Process monitoring on the simulator, whose ground truth is known: breakage detection rate and
//! delay, missing tools found, false alarms per 8-hour shift of normal cutting with ±20 %
//! overrides and part-to-part scatter, and the cycles each operation needs to be learned.
//!
//! `cargo run --release -p e2e --bin monitor-report -- [--seeds 5] [--poll-ms 100]
//! [--normal-hours 8] [--breakages 20] [--json]`
//!
//! The simulator's physics (`simulator::physics::Machine`) runs in-process on a 20 ms step, and
//! the agent's own monitor evaluator (`agent::evaluators::monitor::Monitor`, with the activity
//! stage it is given in the agent) is stepped with a frame of the served values every poll
//! interval of machine time, as the evaluator loop would see them at time scale 1: the delays
//! are in poll intervals of the machine's clock, free of the wall clock and the network (the
//! end-to-end test `monitor` runs the same evaluator over real sockets).
//!
//! Scenarios (each seed its own run, from `configs/scenarios/process-monitoring.toml`):
//!
//! - **breakage**: forced breakages every 15 simulated minutes after a 30-minute start (plus any
//!   the wear-driven hazard makes); the scenario's breakage signature (a load spike, then the
//!   broken tool running on in air until its operation ends or 30 s pass). Truth: the instant
//!   the simulator's breakage counter went up. Detected: a `breakage` finding on the tool that
//!   broke within its run-on (or `missing_tool`: a tool that breaks as it enters the cut never
//!   cut in that run). Delay: from the breakage to the poll that raised the finding.
//! - **missing tool**: the spindle holds no tool for one whole cycle every 15 minutes.
//!   Detected: a `missing_tool` (or `breakage`) finding during it.
//! - **normal**: no breakage (hazard off), feed and spindle overrides changed every 5 to 15
//!   minutes to 80-120 %, part-to-part scatter and load noise on. Every critical finding is a
//!   false alarm; wear-drift warnings are counted apart (the tools do wear) and each is held
//!   against the simulator's truth: how much its tool's load had risen from wear (flank wear VB
//!   since the envelope was learned, on the cutting share of the load). A warning before the
//!   load rose by the detector's rise less 5 points is early; a tool whose load rose by the
//!   whole rise without a warning is missed.
//!
//! Every run also drives the feed-hold output (`agent::notify::feed_hold::drive`, on its own
//! thread as in the agent, for breakages and missing tools) on an output that only records: the
//! latency printed is from the detector's decision to the output set, on this machine's
//! scheduler; a hold in normal cutting would be a false one.
//!
//! `MONITOR_REPORT_VERBOSE=1` prints every breakage not found or found later than two polls,
//! every false alarm and every wear-drift warning with its tool's truth, on stderr.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::condition::Severity;
use agent::config::monitor::{FeedHoldSettings, MonitorSettings};
use agent::config::OperationSettings;
use agent::evaluators::frame::Frame;
use agent::evaluators::monitor::Monitor;
use agent::evaluators::operations::Activity;
use agent::evaluators::{Evaluator, Tick};
use agent::notify::feed_hold;
use agent::records::monitor::{Finding, FindingKind};
use agent::store::Record;
use agent::value::Value;
use anyhow::Result;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use simulator::physics::{Machine, Observation};
use simulator::scenario::{Event, ScenarioConfig};

#[derive(Parser)]
struct Args {
    /// Runs per scenario, seeds 1..=N.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// The poll interval (and evaluator tick), milliseconds of machine time.
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    /// Simulated hours of normal cutting per seed.
    #[arg(long, default_value_t = 8.0)]
    normal_hours: f64,
    /// Forced breakages (and missing tools) per seed.
    #[arg(long, default_value_t = 20)]
    breakages: usize,
    /// Machine-readable output on stdout.
    #[arg(long)]
    json: bool,
}

/// The calling thread's CPU time (Linux: `CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn verbose() -> bool {
    std::env::var_os("MONITOR_REPORT_VERBOSE").is_some()
}

/// The simulator's physics step, simulated seconds.
const STEP_S: f64 = 0.02;

/// What the served values show, as the agent's frame holds them (`configs/agent.toml`'s
/// mapping: the channel state's labels, text tool and program).
fn frame(o: &Observation, t_ms: i64) -> Frame {
    let state = match o.channel_state {
        0 => "active",
        1 => "interrupted",
        _ => "reset",
    };
    Frame::from_values(
        t_ms,
        [
            ("spindle.rotating", Value::Bool(o.spindle_rotating)),
            ("spindle.speed", Value::Number(o.spindle_act_speed_rpm)),
            ("spindle.load", Value::Number(o.spindle_load_pct)),
            ("spindle.power", Value::Number(o.spindle_power_kw)),
            ("channel.feedrate", Value::Number(o.feedrate_mm_min)),
            ("channel.program", Value::Text(o.program_name.clone())),
            ("channel.operation", Value::Text(o.operation.clone())),
            ("channel.state", Value::Text(state.into())),
            ("tool.id", Value::Text(o.tool_identifier.clone())),
            ("machine.parts_count", Value::Number(f64::from(o.parts))),
        ],
    )
}

/// One run: every finding with its machine time, the breakages with theirs, the envelopes'
/// learning, and the monitor's cost per tick.
#[derive(Default)]
struct RunResult {
    findings: Vec<(f64, Finding)>,
    /// (instant, tool broken)
    breakages: Vec<(f64, String)>,
    /// Per operation: the cycles it was learned from, and the parts finished when it was.
    learned: BTreeMap<String, (u32, u32)>,
    /// Per wear-drift warning, the simulator's truth about its tool.
    drift: Vec<DriftTruth>,
    /// Per tool with a learned envelope: the most its load rose from wear after the envelope
    /// was learned, %.
    load_rise: BTreeMap<String, f64>,
    /// From each feed-hold request's detection to its output set.
    hold_latency: Vec<Duration>,
    ticks: u64,
    monitor_time: Duration,
    /// The same on the thread's CPU clock: what the monitor costs, not what the other
    /// processes of a busy machine took meanwhile.
    monitor_cpu: Duration,
    sim_s: f64,
}

/// What the simulator knows about the tool a wear-drift warning was raised on.
struct DriftTruth {
    tool: String,
    /// Flank wear VB of the tool when its envelope was learned, and at the warning, mm.
    vb_learned_mm: f64,
    vb_now_mm: f64,
    /// The spindle load's rise from wear since the envelope was learned, %: the simulator's
    /// force factor 1 + force_k_per_mm · VB now over then, on the share of the load that is
    /// cutting (the rest, the spindle's no-load power, does not wear).
    load_rise_pct: f64,
}

/// Per tool: Σ cutting power and Σ spindle power over the polls it cut.
type CutShare = BTreeMap<String, (f64, f64)>;

fn load_rise_pct(force_k: f64, vb_then: f64, vb_now: f64, share: Option<&(f64, f64)>) -> f64 {
    let share = share.map_or(1.0, |(c, p)| if *p > 0.0 { c / p } else { 1.0 });
    100.0 * share * ((1.0 + force_k * vb_now) / (1.0 + force_k * vb_then) - 1.0)
}

/// The feed-hold output as the benchmark drives it: a level, set in memory.
struct Latch(bool);

impl feed_hold::HoldOutput for Latch {
    fn set(&mut self, hold: bool) {
        self.0 = std::hint::black_box(hold);
    }
}

fn run(cfg: &ScenarioConfig, settings: &MonitorSettings, poll_s: f64, hours: f64) -> RunResult {
    let mut m = Machine::new(cfg);
    let ops = OperationSettings {
        tick: Duration::from_secs_f64(poll_s),
        min_load_pct: 2.0,
        max_cutting_feed_mm_min: 10_000.0,
        start_delay: Duration::from_millis(300),
        end_delay: Duration::from_millis(1500),
    };
    let mut activity = Activity::new(ops);
    let mut monitor = Monitor::new(settings.clone(), 10_000.0);
    // The feed-hold output's driver on its own thread, as in the agent, on an output that only
    // records: from the detector's decision to the output set.
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    monitor.set_feed_hold(tx);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let driver = {
        let l = latencies.clone();
        // A hold of 1 ms: the holds of two breakages never overlap, so every request sets the
        // output afresh (the hold's length is no part of the latency).
        std::thread::spawn(move || {
            feed_hold::drive(Latch(false), rx, Duration::from_millis(1), |_, d| {
                l.lock().unwrap().push(d)
            })
        })
    };
    let mut out = RunResult::default();
    let mut next_poll = poll_s;
    let mut breakages = 0;
    let end = hours * 3600.0;
    let mut tool_before = m.observe().tool_identifier;
    // The simulator's flank wear of each tool as last seen in the spindle, and when its
    // envelope was learned.
    let mut vb: BTreeMap<String, f64> = BTreeMap::new();
    let mut vb_learned: BTreeMap<String, f64> = BTreeMap::new();
    let force_k = cfg.wear.force_k_per_mm;
    let mut share = CutShare::new();
    while m.t_s < end {
        m.step(STEP_S);
        let o = m.observe();
        if o.breakages > breakages {
            breakages = o.breakages;
            out.breakages.push((m.t_s, tool_before.clone()));
        }
        tool_before = o.tool_identifier.clone();
        if m.t_s + 1e-9 < next_poll {
            continue;
        }
        next_poll += poll_s;
        vb.insert(o.tool_identifier.clone(), o.vb_mm);
        if let Some(c) = &o.cut {
            let e = share.entry(o.tool_identifier.clone()).or_default();
            e.0 += c.power_kw;
            e.1 += o.spindle_power_kw;
        }
        let t_ms = (m.t_s * 1000.0).round() as i64;
        let f = frame(&o, t_ms);
        activity.step(&f, poll_s);
        let started = Instant::now();
        let cpu = thread_cpu();
        let step = monitor.step(&Tick {
            frame: &f,
            dt_s: poll_s,
            activity: &activity,
            devices: &[],
        });
        out.monitor_cpu += thread_cpu().saturating_sub(cpu);
        out.monitor_time += started.elapsed();
        out.ticks += 1;
        for r in step.records {
            match r {
                Record::MonitorFinding(x) => {
                    if x.kind == FindingKind::WearDrift {
                        let tool = x.tool_id.clone().unwrap_or_default();
                        let now = vb.get(&tool).copied().unwrap_or(f64::NAN);
                        let then = vb_learned.get(&tool).copied().unwrap_or(f64::NAN);
                        out.drift.push(DriftTruth {
                            vb_learned_mm: then,
                            vb_now_mm: now,
                            load_rise_pct: load_rise_pct(force_k, then, now, share.get(&tool)),
                            tool,
                        });
                    }
                    out.findings.push((m.t_s, *x))
                }
                Record::MonitorEnvelope(e) => {
                    if let Some(tool) = &e.tool_id {
                        let v = vb.get(tool).copied().unwrap_or(f64::NAN);
                        vb_learned.insert(tool.clone(), v);
                    }
                    out.learned
                        .entry(e.key.operation.clone())
                        .or_insert((e.cycles, o.parts));
                }
                _ => {}
            }
        }
    }
    out.sim_s = m.t_s;
    drop(monitor);
    driver.join().expect("the feed-hold driver");
    out.hold_latency = std::mem::take(&mut latencies.lock().unwrap());
    for (tool, then) in &vb_learned {
        let now = vb.get(tool).copied().unwrap_or(*then);
        out.load_rise.insert(
            tool.clone(),
            load_rise_pct(force_k, *then, now, share.get(tool)),
        );
    }
    out
}

fn scenario(root: &Path, seed: u64) -> Result<ScenarioConfig> {
    let mut sc = ScenarioConfig::from_file(root.join("configs/scenarios/process-monitoring.toml"))?;
    sc.seed = seed;
    sc.step_s = STEP_S;
    Ok(sc)
}

/// Override changes every 5 to 15 minutes, feed and spindle in turn, to 80-120 %.
fn overrides(rng: &mut StdRng, hours: f64) -> Vec<Event> {
    let mut t = 600.0;
    let mut out = Vec::new();
    let mut feed = true;
    while t < hours * 3600.0 {
        let d = rng.random_range(300.0..900.0);
        let percent = [80.0, 90.0, 110.0, 120.0][rng.random_range(0..4)];
        out.push(if feed {
            Event::FeedOverride {
                at_s: t,
                duration_s: Some(d),
                percent,
            }
        } else {
            Event::SpindleOverride {
                at_s: t,
                duration_s: Some(d),
                percent,
            }
        });
        feed = !feed;
        t += d + rng.random_range(0.0..300.0);
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Some(v[i])
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let poll_s = args.poll_ms as f64 / 1000.0;
    let settings = MonitorSettings {
        enabled: true,
        feed_hold: Some(FeedHoldSettings {
            pin: 16,
            active_low: false,
            kinds: vec![FindingKind::Breakage, FindingKind::MissingTool],
            hold: Duration::from_millis(500),
        }),
        ..MonitorSettings::default()
    };
    let mut hold_latency: Vec<Duration> = Vec::new();
    let mut holds_normal = 0;
    let spacing = 900.0;
    let start = 1800.0;
    let forced_hours = (start + spacing * (args.breakages as f64 + 1.0)) / 3600.0;

    // Breakages.
    let (mut broken, mut detected, mut delays_polls, mut wrong_tool) = (0, 0, Vec::new(), 0);
    let mut breakage_false = 0;
    let mut as_missing = 0;
    let mut cost = (Duration::ZERO, 0u64, Duration::ZERO);
    let run_on = scenario(&root, 1)?.breakage.run_on_s;
    for seed in 1..=args.seeds {
        let mut sc = scenario(&root, seed)?;
        let mut rng = StdRng::seed_from_u64(seed);
        for k in 0..args.breakages {
            sc.events.push(Event::ToolBreakage {
                at_s: start + spacing * k as f64 + rng.random_range(0.0..600.0),
            });
        }
        let r = run(&sc, &settings, poll_s, forced_hours);
        hold_latency.extend(&r.hold_latency);
        cost.0 += r.monitor_time;
        cost.1 += r.ticks;
        cost.2 += r.monitor_cpu;
        for (t, tool) in &r.breakages {
            broken += 1;
            // A tool that breaks as it enters the cut never cut in this run: to the monitor it
            // is a missing tool, and that alarm is as good.
            let hit = r.findings.iter().find(|(ft, f)| {
                matches!(f.kind, FindingKind::Breakage | FindingKind::MissingTool)
                    && *ft >= *t
                    && *ft <= *t + run_on + poll_s
            });
            match hit {
                Some((ft, f)) => {
                    detected += 1;
                    if f.kind == FindingKind::MissingTool {
                        as_missing += 1;
                    }
                    if f.tool_id.as_deref() != Some(tool) {
                        wrong_tool += 1;
                    }
                    delays_polls.push((ft - t) / poll_s);
                    if verbose() && (ft - t) / poll_s > 2.0 + 1e-9 {
                        eprintln!(
                            "seed {seed}: breakage of {tool} at {t:.2} s found {:.1} polls after: {}",
                            (ft - t) / poll_s,
                            f.message
                        );
                    }
                }
                None => {
                    if verbose() {
                        eprintln!("seed {seed}: breakage of {tool} at {t:.1} s not found");
                    }
                }
            }
        }
        // A breakage finding with no breakage in the run-on before it is a false alarm.
        breakage_false += r
            .findings
            .iter()
            .filter(|(ft, f)| {
                f.kind == FindingKind::Breakage
                    && !r
                        .breakages
                        .iter()
                        .any(|(t, _)| *ft >= *t && *ft <= *t + run_on + poll_s)
            })
            .count();
    }
    let within_two = delays_polls.iter().filter(|d| **d <= 2.0 + 1e-9).count();

    // Missing tools: one cycle each.
    let (mut missing, mut missing_found) = (0, 0);
    for seed in 1..=args.seeds {
        let mut sc = scenario(&root, seed)?;
        sc.wear.breakage_base_per_min = 0.0;
        sc.wear.breakage_wear_per_min = 0.0;
        let mut rng = StdRng::seed_from_u64(seed ^ 0x55);
        let mut windows = Vec::new();
        for k in 0..args.breakages {
            let at = start + spacing * k as f64 + rng.random_range(0.0..600.0);
            windows.push((at, at + 60.0));
            sc.events.push(Event::MissingTool {
                at_s: at,
                duration_s: Some(60.0),
            });
        }
        let r = run(&sc, &settings, poll_s, forced_hours);
        hold_latency.extend(&r.hold_latency);
        for (a, b) in windows {
            missing += 1;
            if r.findings.iter().any(|(t, f)| {
                matches!(f.kind, FindingKind::MissingTool | FindingKind::Breakage)
                    && *t >= a
                    && *t <= b
            }) {
                missing_found += 1;
            }
        }
    }

    // Normal cutting.
    let mut false_alarms: BTreeMap<&str, usize> = BTreeMap::new();
    let mut drift = 0;
    let mut drift_truth: Vec<DriftTruth> = Vec::new();
    // (the tool's most load rise from wear after learning, %; a drift warning was raised on it)
    let mut worn: Vec<(f64, bool)> = Vec::new();
    let mut normal_h = 0.0;
    let mut learned: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for seed in 1..=args.seeds {
        let mut sc = scenario(&root, seed)?;
        sc.wear.breakage_base_per_min = 0.0;
        sc.wear.breakage_wear_per_min = 0.0;
        let mut rng = StdRng::seed_from_u64(seed ^ 0xa11);
        sc.events.extend(overrides(&mut rng, args.normal_hours));
        let r = run(&sc, &settings, poll_s, args.normal_hours);
        holds_normal += r.hold_latency.len();
        normal_h += r.sim_s / 3600.0;
        for (_, f) in &r.findings {
            let severity = settings
                .detectors
                .iter()
                .find(|d| d.kind() == f.kind)
                .map(|d| d.severity());
            if severity == Some(Severity::Critical) {
                *false_alarms.entry(f.kind.as_str()).or_default() += 1;
                if verbose() {
                    eprintln!("seed {seed}: false alarm: {}", f.message);
                }
            } else {
                drift += 1;
            }
        }
        if verbose() {
            for d in &r.drift {
                eprintln!(
                    "seed {seed}: wear drift on {}: VB {:.3} mm when learned, {:.3} mm now, \
                     load +{:.1} % from wear",
                    d.tool, d.vb_learned_mm, d.vb_now_mm, d.load_rise_pct
                );
            }
        }
        for (tool, rise) in &r.load_rise {
            worn.push((*rise, r.drift.iter().any(|d| d.tool == *tool)));
        }
        drift_truth.extend(r.drift);
        for (op, (cycles, _)) in r.learned {
            learned.entry(op).or_default().push(cycles);
        }
    }
    let false_total: usize = false_alarms.values().sum();
    let per_shift = false_total as f64 / normal_h * 8.0;
    let mut d = delays_polls.clone();
    let p50 = percentile(&mut d, 0.5);
    let max = d.last().copied();
    let mut hold_us: Vec<f64> = hold_latency.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    let hold_p50 = percentile(&mut hold_us, 0.5);
    let hold_p99 = percentile(&mut hold_us, 0.99);
    let hold_max = hold_us.last().copied();
    let us_per_tick = cost.0.as_secs_f64() * 1e6 / cost.1.max(1) as f64;
    let cpu_us_per_tick = cost.2.as_secs_f64() * 1e6 / cost.1.max(1) as f64;
    let learned_max = learned.values().flatten().copied().max();
    // A drift warning is early when the tool's load had not yet risen from wear by the
    // detector's rise less 5 points (3 σ of the mean of three parts at the scenario's 3 %
    // part-to-part scatter): it is then the feed or the scatter, not wear.
    let rise = settings
        .detectors
        .iter()
        .find_map(|d| match d {
            agent::config::monitor::Detector::WearDrift { rise_pct, .. } => Some(*rise_pct),
            _ => None,
        })
        .unwrap_or(f64::NAN);
    let early_below = rise - 5.0;
    let mut rises: Vec<f64> = drift_truth.iter().map(|d| d.load_rise_pct).collect();
    let early = rises.iter().filter(|r| **r < early_below).count();
    let rise_p50 = percentile(&mut rises, 0.5);
    let rise_min = rises.first().copied();
    // Tools that did wear by the detector's rise after their envelope was learned, and how
    // many of them were warned of.
    let worn_tools = worn.iter().filter(|(r, _)| *r >= rise).count();
    let worn_warned = worn.iter().filter(|(r, w)| *r >= rise && *w).count();

    if args.json {
        println!(
            "{}",
            json!({
                "poll_ms": args.poll_ms,
                "seeds": args.seeds,
                "learn_cycles": settings.learn_cycles,
                "breakages": broken,
                "breakages_detected": detected,
                "breakages_within_two_polls": within_two,
                "breakage_delay_polls_p50": p50,
                "breakage_delay_polls_max": max,
                "breakage_on_another_tool": wrong_tool,
                "breakages_found_as_missing_tool": as_missing,
                "breakage_findings_without_breakage": breakage_false,
                "missing_tools": missing,
                "missing_tools_detected": missing_found,
                "normal_hours": normal_h,
                "false_alarms": false_alarms,
                "false_alarms_per_8h": per_shift,
                "wear_drift_warnings": drift,
                "wear_drift_load_rise_pct_min": rise_min,
                "wear_drift_load_rise_pct_p50": rise_p50,
                "wear_drift_warnings_early": early,
                "tools_worn_by_the_rise": worn_tools,
                "tools_worn_by_the_rise_warned": worn_warned,
                "cycles_until_learned": learned,
                "monitor_us_per_tick": us_per_tick,
                "monitor_cpu_us_per_tick": cpu_us_per_tick,
                "feed_holds": hold_us.len(),
                "feed_hold_latency_us_p50": hold_p50,
                "feed_hold_latency_us_p99": hold_p99,
                "feed_hold_latency_us_max": hold_max,
                "feed_holds_in_normal_cutting": holds_normal,
            })
        );
        return Ok(());
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!(
        "process monitoring on the simulator: poll {} ms of machine time, {} seeds, envelopes \
         from {} cycles",
        args.poll_ms, args.seeds, settings.learn_cycles
    );
    println!();
    println!("{:<44} {:>10} {:>10}", "figure", "measured", "target");
    println!(
        "{:<44} {:>9.1}% {:>10}",
        format!("breakages detected ({detected} of {broken})"),
        pct(detected, broken),
        "≥ 95 %"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "... of which found as a missing tool (on entry)", as_missing, "-"
    );
    println!(
        "{:<44} {:>9.1}% {:>10}",
        format!("... within two polls ({within_two} of {broken})"),
        pct(within_two, broken),
        "≥ 95 %"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "breakage delay, polls: median / max",
        match (p50, max) {
            (Some(a), Some(b)) => format!("{a:.1} / {b:.1}"),
            _ => "-".into(),
        },
        "≤ 2"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "breakage findings with no breakage", breakage_false, "-"
    );
    println!(
        "{:<44} {:>9.1}% {:>10}",
        format!("missing tools found ({missing_found} of {missing})"),
        pct(missing_found, missing),
        "-"
    );
    println!(
        "{:<44} {:>10.2} {:>10}",
        format!("false alarms per 8 h ({false_total} in {normal_h:.0} h, ±20 %)"),
        per_shift,
        "≤ 1"
    );
    for (k, n) in &false_alarms {
        println!("{:<44} {:>10}", format!("  of which {k}"), n);
    }
    println!(
        "{:<44} {:>10} {:>10}",
        "wear-drift warnings in normal cutting", drift, "-"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "... true load rise from wear, %: min / median",
        match (rise_min, rise_p50) {
            (Some(a), Some(b)) => format!("{a:.1} / {b:.1}"),
            _ => "-".into(),
        },
        "-"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        format!("... early (true load rise < {early_below:.0} %)"),
        early,
        "-"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        format!("tools whose load rose ≥ {rise:.0} %: warned of"),
        format!("{worn_warned} of {worn_tools}"),
        "-"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        "cycles until learned (max over operations)",
        learned_max.map_or("-".into(), |c| c.to_string()),
        "≤ 5"
    );
    println!(
        "{:<44} {:>10.1} {:>10}",
        "monitor cost per tick, µs (this machine)", us_per_tick, "-"
    );
    println!(
        "{:<44} {:>10.1} {:>10}",
        "... of it on the thread's CPU clock, µs", cpu_us_per_tick, "-"
    );
    println!(
        "{:<44} {:>10} {:>10}",
        format!("feed hold set after detection, µs ({})", hold_us.len()),
        match (hold_p50, hold_p99, hold_max) {
            (Some(a), Some(b), Some(c)) => format!("{a:.0}/{b:.0}/{c:.0}"),
            _ => "-".into(),
        },
        "-"
    );
    println!("{:<44}", "  (median / p99 / max, this machine)");
    println!(
        "{:<44} {:>10} {:>10}",
        "feed holds in normal cutting", holds_normal, "0"
    );
    Ok(())
}
