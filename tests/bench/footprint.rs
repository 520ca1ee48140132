//! Footprint benchmark: what the agent costs a Raspberry Pi, beside what a plain client costs.
//!
//! 1. N third-party Modbus TCP servers (python pymodbus, `tests/support/modbus_server.py`) with
//!    M holding registers each that count up every `change_ms`. The agent (a child process, so
//!    the figures are its own) polls them at `interval_ms` with its whole pipeline (state,
//!    evaluators, alarms, store); then a plain tokio-modbus client loop (another child) reads
//!    the same registers from the same servers at the same rate and does nothing else, and so
//!    does a C libmodbus loop (`tests/support/libmodbus_loop.c`, built here with the system's
//!    libmodbus), the reference the Pi issue measured against. Each prints CPU per read and per
//!    tag, resident memory; the agent also bytes written to disk.
//! 2. The example configuration: `agent demo` (the built-in simulator at its time scale and the
//!    example `configs/agent.toml`), bytes written to disk per hour (`write_bytes` of
//!    /proc/PID/io: what reaches the SD card) and resident memory (agent and simulator in one
//!    process).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use e2e::pymodbus::ModbusServer;

#[derive(Parser, Debug)]
#[command(about = "CPU, memory and disk writes of the agent beside a plain Modbus client")]
struct Args {
    #[arg(long, default_value_t = 4)]
    devices: usize,
    #[arg(long, default_value_t = 50)]
    tags: u16,
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    #[arg(long, default_value_t = 237)]
    change_ms: u64,
    /// Length of each measurement, after a warm-up of 10 s.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Length of the example configuration's write measurement (0: skip it).
    #[arg(long, default_value_t = 120)]
    demo_seconds: u64,
    /// The agent binary to measure (`agent run --config ...`), e.g. the package's build
    /// `target/deb/agent`; without it, this benchmark's own build runs as the agent.
    #[arg(long)]
    agent_bin: Option<std::path::PathBuf>,
    #[arg(long, hide = true)]
    as_agent: Option<String>,
    /// Child mode: the plain client loop over these comma-separated addresses.
    #[arg(long, hide = true)]
    as_plain: Option<String>,
    #[arg(long, hide = true)]
    as_demo: Option<String>,
}

const WARM_UP: Duration = Duration::from_secs(10);

fn agent_config(args: &Args, addrs: &[String], dir: &Path) -> String {
    let mut s = format!(
        "[agent]\nmachine_id = \"footprint\"\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}/agent.db\"\n\
         flush_interval_ms = 15000\n\
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

/// What one side measured over the window.
struct Side {
    reads: f64,
    cpu_s: f64,
    rss_mib: f64,
    hwm_mib: f64,
    written: Option<u64>,
    elapsed_s: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(cfg) = &args.as_agent {
        let code = agent::cli::main_with(["agent", "run", "--config", cfg]);
        std::process::exit(i32::from(code != std::process::ExitCode::SUCCESS));
    }
    if let Some(dir) = &args.as_demo {
        let store = format!("{dir}/demo.db");
        let code = agent::cli::main_with([
            "agent",
            "demo",
            "--store",
            &store,
            "--listen",
            "127.0.0.1:0",
        ]);
        std::process::exit(i32::from(code != std::process::ExitCode::SUCCESS));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(addrs) = &args.as_plain {
        return rt.block_on(plain_client(&args, addrs));
    }
    rt.block_on(bench(args))
}

/// The plain client loop: one read of `tags` holding registers per device per interval, as a
/// hand-written poller would; prints `reads N cpu_s X` over the window after the warm-up.
async fn plain_client(args: &Args, addrs: &str) -> Result<()> {
    use tokio_modbus::client::{tcp, Reader};
    use tokio_modbus::Slave;
    let mut tasks = Vec::new();
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    for a in addrs.split(',') {
        let addr = a.parse()?;
        let (tags, interval, counted) = (
            args.tags,
            Duration::from_millis(args.interval_ms),
            counted.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ctx = tcp::connect_slave(addr, Slave(1)).await.expect("connect");
            let mut every = tokio::time::interval(interval);
            loop {
                every.tick().await;
                if let Ok(Ok(regs)) = ctx.read_holding_registers(0, tags).await {
                    std::hint::black_box(regs);
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let self_cpu = || -> f64 {
        // SAFETY: getrusage fills the struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(ru.ru_utime) + t(ru.ru_stime)
    };
    tokio::time::sleep(WARM_UP).await;
    let (c0, n0) = (
        self_cpu(),
        counted.load(std::sync::atomic::Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (c1, n1) = (
        self_cpu(),
        counted.load(std::sync::atomic::Ordering::Relaxed),
    );
    let (_, rss, hwm, _) = e2e::process_usage(std::process::id())?;
    println!("reads {} cpu_s {} rss {rss} hwm {hwm}", n1 - n0, c1 - c0);
    Ok(())
}

async fn bench(args: Args) -> Result<()> {
    let servers: Vec<ModbusServer> = (0..args.devices).map(|_| ModbusServer::start()).collect();
    for s in &servers {
        s.walk(args.tags, args.change_ms);
    }
    let addrs: Vec<String> = servers.iter().map(|s| s.address.clone()).collect();
    let dir = std::env::temp_dir().join(format!("footprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;

    // The agent, its whole pipeline.
    let cfg_path = dir.join("agent.toml");
    std::fs::write(&cfg_path, agent_config(&args, &addrs, &dir))?;
    let mut child = match &args.agent_bin {
        Some(bin) => {
            let mut cmd = std::process::Command::new(bin);
            cmd.arg("run").arg("--config").arg(&cfg_path);
            e2e::bench_agent_from(cmd, args.devices).await?
        }
        None => e2e::bench_agent(&cfg_path, args.devices).await?,
    };
    let http = child.http.clone();
    tokio::time::sleep(WARM_UP).await;
    let reads = |v: &serde_json::Value| -> f64 {
        v.as_array().unwrap().iter().fold(0.0, |n, d| {
            n + (d["polls"].as_u64().unwrap() - d["errors"].as_u64().unwrap()) as f64
        })
    };
    let pid = child.child.id();
    let r0 = reads(&e2e::get_json(&http, "/api/devices").await?);
    let (c0, _, _, w0) = e2e::process_usage(pid)?;
    let threads0 = thread_cpu_ns(pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (c1, rss, hwm, w1) = e2e::process_usage(pid)?;
    let threads1 = thread_cpu_ns(pid)?;
    let elapsed_s = t0.elapsed().as_secs_f64();
    let r1 = reads(&e2e::get_json(&http, "/api/devices").await?);
    child.kill();
    let agent = Side {
        reads: r1 - r0,
        cpu_s: c1 - c0,
        rss_mib: rss,
        hwm_mib: hwm,
        written: Some(w1 - w0),
        elapsed_s,
    };

    // The plain client loops, the same servers, the same rate: tokio-modbus, the client the
    // agent uses, and C libmodbus, the Pi issue's reference.
    let plain = child_side(
        std::process::Command::new(&exe).args([
            "--as-plain",
            &addrs.join(","),
            "--tags",
            &args.tags.to_string(),
            "--interval-ms",
            &args.interval_ms.to_string(),
            "--seconds",
            &args.seconds.to_string(),
        ]),
        args.seconds,
    )?;
    let libmodbus = match build_libmodbus_loop(&dir) {
        Ok(bin) => Some(child_side(
            std::process::Command::new(bin)
                .arg(args.interval_ms.to_string())
                .arg(args.tags.to_string())
                .arg(WARM_UP.as_secs().to_string())
                .arg(args.seconds.to_string())
                .args(&addrs),
            args.seconds,
        )?),
        Err(why) => {
            println!("C libmodbus loop not measured: {why:#}");
            None
        }
    };

    println!(
        "footprint: {} pymodbus servers x {} registers, read every {} ms, values changing every {} ms, {} s",
        args.devices, args.tags, args.interval_ms, args.change_ms, args.seconds
    );
    println!(
        "  agent: {}",
        args.agent_bin.as_ref().map_or_else(
            || "this benchmark's build (--as-agent)".to_string(),
            |b| b.display().to_string()
        )
    );
    println!(
        "                               {:>22} {:>22} {:>22}",
        "agent (full pipeline)", "tokio-modbus loop", "C libmodbus loop"
    );
    let row = |name: &str, f: &dyn Fn(&Side) -> String| {
        let c = libmodbus.as_ref().map_or_else(|| "not measured".into(), f);
        println!("  {name:<29}{:>22} {:>22} {c:>22}", f(&agent), f(&plain));
    };
    row("reads", &|s| format!("{:.0}", s.reads));
    row("CPU", &|s| {
        format!("{:.2} s = {:.2} %", s.cpu_s, s.cpu_s / s.elapsed_s * 100.0)
    });
    row("CPU per read", &|s| {
        format!("{:.3} ms", s.cpu_s / s.reads * 1e3)
    });
    let tags = f64::from(args.tags);
    row("CPU per tag", &|s| {
        format!("{:.2} µs", s.cpu_s / (s.reads * tags) * 1e6)
    });
    row("resident memory (now / peak)", &|s| {
        format!("{:.1} / {:.1} MiB", s.rss_mib, s.hwm_mib)
    });
    row("written to disk", &|s| match s.written {
        Some(b) => format!("{:.1} MiB/h", b as f64 / s.elapsed_s * 3600.0 / 1_048_576.0),
        None => "-".into(),
    });
    if let Some(c) = &libmodbus {
        let per_tag = |s: &Side| s.cpu_s / s.reads;
        println!(
            "  CPU per tag over the C libmodbus loop's: agent {:.2}x, tokio-modbus loop {:.2}x",
            per_tag(&agent) / per_tag(c),
            per_tag(&plain) / per_tag(c)
        );
    }
    // Where the agent's CPU goes, by thread: the runtime's (polling, state, alarms, HTTP), the
    // evaluators' tick, the store's writer.
    println!("  agent CPU per tag by thread:");
    let tag_reads = agent.reads * tags;
    for (name, ns1) in &threads1 {
        let ns = ns1 - threads0.get(name).copied().unwrap_or(0);
        if ns > 0 {
            println!(
                "    {name:<27}{:>8.2} µs  ({:.2} ms of CPU a second)",
                ns as f64 / 1e3 / tag_reads,
                ns as f64 / 1e6 / agent.elapsed_s
            );
        }
    }

    if args.demo_seconds > 0 {
        demo(&exe, &dir, args.demo_seconds).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs a plain client loop that prints `reads N cpu_s X rss MIB hwm MIB` and reads its figures.
fn child_side(cmd: &mut std::process::Command, seconds: u64) -> Result<Side> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let w: Vec<&str> = text.split_whitespace().collect();
    let field = |k: &str| -> Result<f64> {
        let i = w.iter().position(|x| *x == k).with_context(|| {
            format!(
                "{:?} said {text:?} {}",
                cmd.get_program(),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok(w[i + 1].parse()?)
    };
    Ok(Side {
        reads: field("reads")?,
        cpu_s: field("cpu_s")?,
        rss_mib: field("rss")?,
        hwm_mib: field("hwm")?,
        written: None,
        elapsed_s: seconds as f64,
    })
}

/// Builds `tests/support/libmodbus_loop.c` into `dir`; `Err` says what to install.
fn build_libmodbus_loop(dir: &Path) -> Result<std::path::PathBuf> {
    const INSTALL: &str = "needs a C compiler, pkg-config and libmodbus \
                           (apt-get install gcc pkg-config libmodbus-dev)";
    let flags = std::process::Command::new("pkg-config")
        .args(["--cflags", "--libs", "libmodbus"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .with_context(|| format!("pkg-config finds no libmodbus: {INSTALL}"))?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("support/libmodbus_loop.c");
    let bin = dir.join("libmodbus_loop");
    let out = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(String::from_utf8_lossy(&flags.stdout).split_whitespace())
        .arg("-lpthread")
        .output()
        .with_context(|| format!("running cc: {INSTALL}"))?;
    anyhow::ensure!(
        out.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(bin)
}

/// CPU time of each thread of `pid` so far, summed by thread name (ns, from
/// `/proc/PID/task/*/schedstat`: nanoseconds, where `stat` counts 10 ms ticks).
fn thread_cpu_ns(pid: u32) -> Result<std::collections::BTreeMap<String, u64>> {
    let mut out = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        // A thread that ended between the listing and the read is left out.
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            continue;
        };
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|x| x.parse().ok())
            .with_context(|| format!("{}: {stat:?}", dir.display()))?;
        *out.entry(name.trim().to_string()).or_insert(0) += ns;
    }
    Ok(out)
}

/// `agent demo` with the example configuration: disk writes per hour and memory.
async fn demo(exe: &Path, dir: &Path, seconds: u64) -> Result<()> {
    let mut child = std::process::Command::new(exe)
        .args(["--as-demo", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    tokio::time::sleep(WARM_UP).await;
    let (c0, _, _, w0) = e2e::process_usage(pid)?;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (c1, rss, hwm, w1) = e2e::process_usage(pid)?;
    let elapsed = t0.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let db = std::fs::metadata(dir.join("demo.db")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("demo.db-wal")).map_or(0, |m| m.len());
    println!(
        "example configuration (agent demo, simulator in the same process), {seconds} s:\n  \
         written to disk {:.1} MiB/h, store file and WAL {:.1} MiB after {:.0} s, \
         CPU {:.1} % of one core, resident {rss:.1} MiB (peak {hwm:.1})",
        (w1 - w0) as f64 / elapsed * 3600.0 / 1_048_576.0,
        db as f64 / 1_048_576.0,
        elapsed + WARM_UP.as_secs_f64(),
        (c1 - c0) / elapsed * 100.0
    );
    Ok(())
}
