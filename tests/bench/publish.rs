//! Publish rate to a local Mosquitto, through the agent's own outbox and session (QoS 1, every
//! message acknowledged before it leaves the outbox), in two situations:
//!
//! - live: the broker is up, messages go out as they are produced;
//! - replay: the broker was down while the messages were produced (they went to the outbox
//!   file), then comes back and the backlog drains.
//!
//! - stall: the broker is down and messages are spilled to the outbox file when another
//!   connection holds the file locked for `--stall-s` seconds: every SQLite call of the outbox
//!   blocks for that long, as on an SD card that stalls.
//!
//! Prints messages per second and the outbox file's size for the backlog. In every phase a
//! probe task on the same runtime (two worker threads, as the agent's) sleeps 10 ms in a loop,
//! as a Modbus poll timer does, and its lateness is printed: SQLite work on the runtime's
//! threads shows there. Run in release:
//! `cargo run --release -p e2e --bin publish-bench -- --messages 100000`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::config::MqttSettings;
use agent::fleet::outbox::Publish;
use agent::fleet::{outbox_thread, session, FleetStats};
use clap::Parser;
use e2e::mosquitto::Mosquitto;
use serde_json::json;
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// How long the outbox file is held locked in the stall phase.
    #[arg(long, default_value_t = 3.0)]
    stall_s: f64,
}

fn settings(port: u16) -> MqttSettings {
    MqttSettings {
        host: "127.0.0.1".into(),
        port,
        client_id: format!("publish-bench-{port}"),
        credentials: None,
        tls: false,
        ca_file: None,
        keep_alive: Duration::from_secs(30),
        base_topic: "green-machining/bench/line/vmc-bench".into(),
        outbox_path: None,
        outbox_bytes: 1 << 30,
        signals: None,
        operations: false,
        alarms: false,
        life: false,
    }
}

/// A signal message as the agent makes them (about 200 bytes of JSON).
fn message(i: u64) -> Publish {
    let body = json!({
        "machine_id": "vmc-bench",
        "signal": "spindle.load",
        "value": (i % 1000) as f64 * 0.1,
        "unit": "%",
        "quality": "good",
        "device": "cnc",
        "ts": "2026-11-22T08:00:00.000Z",
        "ts_ms": 1_795_000_000_000i64 + i as i64,
    });
    Publish {
        topic: "green-machining/bench/line/vmc-bench/signals/spindle.load".into(),
        retain: false,
        body: body.as_object().unwrap().clone(),
        cursor: None,
    }
}

struct Run {
    tx: mpsc::Sender<Publish>,
    stats: Arc<FleetStats>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(port: u16, outbox: &std::path::Path) -> Run {
    let stats = Arc::new(FleetStats::default());
    let (tx, rx) = mpsc::channel(1024);
    let (link, opened) =
        outbox_thread::start(outbox.to_path_buf(), 1 << 30, stats.clone(), rx).unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(session::run(
        settings(port),
        link,
        opened,
        stats.clone(),
        stop_rx,
    ));
    Run {
        tx,
        stats,
        stop,
        task,
    }
}

async fn drained(stats: &FleetStats, n: u64) {
    while stats.delivered.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A task that sleeps `PROBE` in a loop on the runtime, as a poll timer does, and records how
/// late each wake-up is.
struct Probe {
    late: Arc<std::sync::Mutex<Vec<Duration>>>,
    task: tokio::task::JoinHandle<()>,
}

const PROBE: Duration = Duration::from_millis(10);

impl Probe {
    fn start() -> Probe {
        let late = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l = late.clone();
        let task = tokio::spawn(async move {
            loop {
                let t = Instant::now();
                tokio::time::sleep(PROBE).await;
                let d = t.elapsed().saturating_sub(PROBE);
                l.lock().unwrap().push(d);
            }
        });
        Probe { late, task }
    }

    /// "p50 / p99 / max" of the lateness so far, in ms.
    fn stop(self) -> String {
        self.task.abort();
        let mut v = self.late.lock().unwrap().clone();
        v.sort();
        let q = |f: f64| v.get(((v.len() as f64 - 1.0) * f) as usize).copied();
        let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
        format!(
            "timer lateness p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} wake-ups)",
            ms(q(0.5)),
            ms(q(0.99)),
            ms(v.last().copied()),
            v.len()
        )
    }
}

/// Holds an exclusive lock on the SQLite file at `path` for `hold` (a stalled card, as far as
/// every other connection can tell), from a thread of its own.
fn stall(path: std::path::PathBuf, hold: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("BEGIN EXCLUSIVE").unwrap();
        std::thread::sleep(hold);
        c.execute_batch("COMMIT").unwrap();
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.messages;
    let dir = e2e::temp_dir("publish-bench");

    // Live.
    let broker = Mosquitto::start(&dir).await;
    let port = broker.port();
    let run = start(port, &dir.join("live.outbox.db"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = Probe::start();
    let t = Instant::now();
    for i in 0..n {
        run.tx.send(message(i)).await?;
    }
    drained(&run.stats, n).await;
    let live = t.elapsed();
    let _ = run.stop.send(true);
    let _ = run.task.await;
    println!(
        "live:   {n} messages acknowledged in {:.2} s: {:.0} messages/s; {}",
        live.as_secs_f64(),
        n as f64 / live.as_secs_f64(),
        probe.stop()
    );

    // Replay: produced while the broker is away, drained when it returns.
    let broker = broker.stop();
    let path = dir.join("replay.outbox.db");
    let run = start(port, &path);
    for i in 0..n {
        run.tx.send(message(i)).await?;
    }
    while run.stats.queued_on_disk.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bytes = run.stats.disk_bytes.load(Ordering::Relaxed);
    let file = std::fs::metadata(&path).map_or(0, |m| m.len())
        + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    let broker = broker.start().await;
    let probe = Probe::start();
    let t = Instant::now();
    drained(&run.stats, n).await;
    let replay = t.elapsed();
    let _ = run.stop.send(true);
    let _ = run.task.await;
    println!(
        "replay: {n} messages from the outbox file ({:.1} MiB counted, file and WAL {:.1} MiB) in {:.2} s \
         after the broker came back (includes the reconnect backoff): {:.0} messages/s; {}",
        bytes as f64 / 1048576.0,
        file as f64 / 1048576.0,
        replay.as_secs_f64(),
        n as f64 / replay.as_secs_f64(),
        probe.stop()
    );

    // Stall: the broker is away, messages keep coming (2,000/s) and go to the file, which is
    // held locked for a while.
    let _broker = broker.stop();
    let path = dir.join("stall.outbox.db");
    let run = start(port, &path);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = Probe::start();
    let hold = Duration::from_secs_f64(args.stall_s);
    let producing = hold + Duration::from_secs(3);
    let t = Instant::now();
    let mut blocker = None;
    let mut i = 0u64;
    while t.elapsed() < producing {
        for _ in 0..20 {
            run.tx.send(message(i)).await?;
            i += 1;
        }
        if blocker.is_none() && t.elapsed() >= Duration::from_secs(1) {
            blocker = Some(stall(path.clone(), hold));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let produced_in = t.elapsed();
    let _ = blocker.map(|b| b.join());
    let _ = run.stop.send(true);
    let _ = run.task.await;
    println!(
        "stall:  the outbox file locked for {:.1} s while {i} messages were produced in {:.1} s \
         (broker away): {}",
        hold.as_secs_f64(),
        produced_in.as_secs_f64(),
        probe.stop()
    );
    Ok(())
}
