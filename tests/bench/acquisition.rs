//! Acquisition benchmark: N simulated Modbus TCP devices with M holding registers each on
//! loopback, the real agent polling them as a child process, and the figures that matter on a
//! Raspberry Pi: tags acquired per second, latency from a device's value change to the API
//! showing it (p50/p99), the agent's CPU seconds per 1,000 tags and its resident memory.
//!
//! The registers' values are a function of time (register r of every device holds
//! `k + r` during the k-th change period), so the instant of every change is known exactly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use e2e::devices::{counter, Clock};

#[derive(Parser, Debug)]
#[command(about = "Modbus acquisition benchmark of the agent")]
struct Args {
    #[arg(long, default_value_t = 4)]
    devices: usize,
    #[arg(long, default_value_t = 50)]
    tags: u16,
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Length of the CPU and memory measurement.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Length of the latency measurement (the API is polled hard then, which costs the agent CPU,
    /// so it is kept apart from the CPU measurement).
    #[arg(long, default_value_t = 10)]
    latency_seconds: u64,
    /// How often the devices' values change. Not a multiple of the poll interval, so that over
    /// the run a change falls at every phase of the poll cycle and the latency figures are fair.
    #[arg(long, default_value_t = 237)]
    change_ms: u64,
    #[arg(long, hide = true)]
    as_agent: Option<String>,
}

fn config(args: &Args, addrs: &[SocketAddr], dir: &std::path::Path) -> String {
    let mut s = format!(
        "[agent]\nmachine_id = \"bench\"\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}/bench.db\"\n\
         [poll_groups]\nbench = {{ interval_ms = {} }}\n",
        dir.display(),
        args.interval_ms
    );
    for (d, a) in addrs.iter().enumerate() {
        s += &format!(
            "[[device]]\nname = \"d{d}\"\nprotocol = \"modbus-tcp\"\naddress = \"{a}\"\ngroup = \"bench\"\n\
             stale_after_ms = 2000\n"
        );
        for t in 0..args.tags {
            s += &format!(
                "  [[device.tag]]\n  name = \"t{t}\"\n  table = \"holding\"\n  address = {t}\n"
            );
        }
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(cfg) = &args.as_agent {
        // Child mode: be the agent, nothing else, so its CPU and memory are its own.
        let code = agent::cli::main_with(["agent", "run", "--config", cfg]);
        std::process::exit(if code == std::process::ExitCode::SUCCESS {
            0
        } else {
            1
        });
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench(args))
}

async fn bench(args: Args) -> Result<()> {
    let clock = Arc::new(Clock {
        start: Instant::now(),
        change: Duration::from_millis(args.change_ms),
    });
    let mut addrs = Vec::new();
    for _ in 0..args.devices {
        addrs.push(counter(clock.clone(), args.tags).await);
    }
    let dir = std::env::temp_dir().join(format!("acq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cfg_path = dir.join("bench.toml");
    std::fs::write(&cfg_path, config(&args, &addrs, &dir))?;

    // The agent listens on a port of the kernel's choice and says which.
    let mut agent = e2e::bench_agent(&cfg_path, args.devices).await?;
    let base = agent.http.clone();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Phase 1: throughput, CPU and memory, with the API left alone.
    let polls = |v: &serde_json::Value| -> (u64, u64) {
        v.as_array().unwrap().iter().fold((0, 0), |(p, e), d| {
            (
                p + d["polls"].as_u64().unwrap(),
                e + d["errors"].as_u64().unwrap(),
            )
        })
    };
    let (p0, e0) = polls(&e2e::get_json(&base, "/api/devices").await?);
    let (cpu0, _, _, _) = e2e::process_usage(agent.child.id())?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (cpu1, rss, hwm, _) = e2e::process_usage(agent.child.id())?;
    let elapsed = t0.elapsed().as_secs_f64();
    let (p1, e1) = polls(&e2e::get_json(&base, "/api/devices").await?);
    let reads_per_cycle = u64::from(args.tags.div_ceil(125));
    let tags = ((p1 - p0) - (e1 - e0)) as f64 * f64::from(args.tags) / reads_per_cycle as f64;
    let tags_per_s = tags / elapsed;
    let cpu = cpu1 - cpu0;

    // Phase 2: latency from a value change to the API showing it.
    let mut latencies = Vec::new();
    let mut last_seen = vec![u64::MAX; args.devices];
    let end = Instant::now() + Duration::from_secs(args.latency_seconds);
    while Instant::now() < end {
        let signals = e2e::get_json(&base, "/api/signals").await?;
        let now = Instant::now();
        let current = clock.period(now);
        for s in signals.as_array().unwrap() {
            if s["tag"] != "t0" {
                continue;
            }
            let d: usize = s["device"].as_str().unwrap()[1..].parse()?;
            let Some(v) = s["value"].as_f64() else {
                continue;
            };
            // The register holds k mod 65536; find the period k it came from.
            let k = current - ((current as u16).wrapping_sub(v as u16)) as u64;
            if last_seen[d] != u64::MAX && k > last_seen[d] {
                latencies.push(now.duration_since(clock.began(k)).as_secs_f64() * 1e3);
            }
            last_seen[d] = k;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    agent.kill();
    latencies.sort_by(f64::total_cmp);

    println!(
        "acquisition benchmark: {} devices x {} tags, poll interval {} ms",
        args.devices, args.tags, args.interval_ms
    );
    println!(
        "  tags acquired per second     {tags_per_s:>10.0}   (target {:.0})",
        args.devices as f64 * f64::from(args.tags) * 1000.0 / args.interval_ms as f64
    );
    println!(
        "  agent CPU                    {:>10.3} s in {elapsed:.1} s = {:.2} % of one core",
        cpu,
        cpu / elapsed * 100.0
    );
    println!(
        "  CPU seconds per 1,000 tags   {:>10.5}",
        cpu / (tags / 1000.0)
    );
    println!("  resident memory (now / peak) {rss:>10.1} / {hwm:.1} MiB");
    println!(
        "  change -> API latency        p50 {:.1} ms, p99 {:.1} ms over {} changes (value changes every {} ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
        args.change_ms
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
