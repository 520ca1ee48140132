//! Publish rate to a local Mosquitto, through the agent's own outbox and session (QoS 1, every
//! message acknowledged before it leaves the outbox), in two situations:
//!
//! - live: the broker is up, messages go out as they are produced;
//! - replay: the broker was down while the messages were produced (they went to the outbox
//!   file), then comes back and the backlog drains.
//!
//! Prints messages per second and the outbox file's size for the backlog. Run in release:
//! `cargo run --release -p e2e --bin publish-bench -- --messages 100000`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::config::MqttSettings;
use agent::fleet::outbox::{Outbox, Publish};
use agent::fleet::{session, FleetStats};
use clap::Parser;
use e2e::mosquitto::Mosquitto;
use serde_json::json;
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
struct Args {
    /// Messages per run.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
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
    let ob = Outbox::open(outbox, 1 << 30, stats.clone());
    let (tx, rx) = mpsc::channel(1024);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(session::run(settings(port), ob, rx, stats.clone(), stop_rx));
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.messages;
    let dir = e2e::temp_dir("publish-bench");

    // Live.
    let broker = Mosquitto::start(&dir).await;
    let port = broker.port();
    let run = start(port, &dir.join("live.outbox.db"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    for i in 0..n {
        run.tx.send(message(i)).await?;
    }
    drained(&run.stats, n).await;
    let live = t.elapsed();
    let _ = run.stop.send(true);
    let _ = run.task.await;
    println!(
        "live:   {n} messages acknowledged in {:.2} s: {:.0} messages/s",
        live.as_secs_f64(),
        n as f64 / live.as_secs_f64()
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
    let _broker = broker.start().await;
    let t = Instant::now();
    drained(&run.stats, n).await;
    let replay = t.elapsed();
    let _ = run.stop.send(true);
    let _ = run.task.await;
    println!(
        "replay: {n} messages from the outbox file ({:.1} MiB counted, file and WAL {:.1} MiB) in {:.2} s \
         after the broker came back (includes the reconnect backoff): {:.0} messages/s",
        bytes as f64 / 1048576.0,
        file as f64 / 1048576.0,
        replay.as_secs_f64(),
        n as f64 / replay.as_secs_f64()
    );
    Ok(())
}
