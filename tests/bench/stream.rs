//! What the pages cost the agent: its CPU with no page open, with one tablet polling the way the
//! page polls when the live stream is down (six endpoints every second, `/api/life` every
//! fifth), and with ten tablets on the live stream (`GET /api/stream`), each phase the same
//! length, against the simulator at real time.
//!
//! `cargo run --release -p e2e --bin stream-bench [-- --seconds 60]`
//!
//! The agent runs as a child process (this binary with `--as-agent`) with the example
//! configuration, so its CPU (utime + stime from /proc) is its own.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Args {
    /// Be the agent (child mode): `agent run --config FILE --listen 127.0.0.1:0`.
    #[arg(long)]
    as_agent: Option<String>,
    /// Wall seconds of each phase.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Tablets on the live stream in the last phase.
    #[arg(long, default_value_t = 10)]
    tablets: usize,
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
        .block_on(bench(args))
}

/// The page's polling, as `page.html` does it while the stream is down.
async fn poll_like_the_page(http: String, stop: Instant) -> Result<u64> {
    let mut n = 0u64;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < stop {
        every.tick().await;
        for path in [
            "/api/signals",
            "/api/devices",
            "/healthz",
            "/api/alarms",
            "/api/compliance",
            "/api/session",
        ] {
            e2e::get(&http, path).await?;
        }
        if n.is_multiple_of(5) {
            e2e::get(&http, "/api/life").await?;
        }
        n += 1;
    }
    Ok(n)
}

/// One tablet on the live stream until `stop`: the events it received.
async fn listen_like_the_page(http: String, stop: Instant) -> Result<u64> {
    let mut s = tokio::net::TcpStream::connect(&http).await?;
    s.write_all(
        format!("GET /api/stream HTTP/1.1\r\nHost: {http}\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let (mut events, mut buf) = (0u64, vec![0u8; 64 * 1024]);
    loop {
        match tokio::time::timeout_at(stop.into(), s.read(&mut buf)).await {
            Err(_) => return Ok(events),
            Ok(r) => {
                let n = r?;
                if n == 0 {
                    anyhow::bail!("the stream ended");
                }
                events += buf[..n].windows(7).filter(|w| w == b"event: ").count() as u64;
            }
        }
    }
}

async fn bench(args: Args) -> Result<()> {
    let dir = e2e::temp_dir("stream-bench");
    let sim = simulator::Simulator::start(e2e::scenario("normal-near-dry.toml", 1.0)).await?;
    let file = e2e::example_config(&sim, &dir, "")?;
    let agent = e2e::bench_agent(&file, 3).await?;
    let pid = agent.child.id();
    let http = agent.http.clone();
    let phase = Duration::from_secs(args.seconds);
    let cpu = || -> Result<f64> { Ok(e2e::process_usage(pid)?.0) };
    // Settled once the store has committed (models loaded, the store open and writing).
    e2e::wait_until(
        Duration::from_secs(60),
        "the agent's first store commit",
        || async {
            let h = e2e::get_json(&http, "/healthz").await.ok()?;
            h["store"]["last_commit_ms"].as_i64()
        },
    )
    .await?;

    let c0 = cpu()?;
    tokio::time::sleep(phase).await;
    let idle = cpu()? - c0;

    let c0 = cpu()?;
    let rounds = poll_like_the_page(http.clone(), Instant::now() + phase).await?;
    let polling = cpu()? - c0;

    let c0 = cpu()?;
    let stop = Instant::now() + phase;
    let tablets: Vec<_> = (0..args.tablets)
        .map(|_| tokio::spawn(listen_like_the_page(http.clone(), stop)))
        .collect();
    let mut events = Vec::new();
    for t in tablets {
        events.push(t.await.context("a tablet")??);
    }
    let streaming = cpu()? - c0;

    let s = phase.as_secs_f64();
    println!(
        "agent CPU over {:.0} s each (share of one core), example configuration on the simulator:",
        s
    );
    println!("| clients | CPU s | share | above idle |");
    println!("|---|---|---|---|");
    println!("| none | {idle:.2} | {:.2} % | — |", idle / s * 100.0);
    println!(
        "| 1 tablet polling ({rounds} rounds of 6–7 requests) | {polling:.2} | {:.2} % | {:.2} % |",
        polling / s * 100.0,
        (polling - idle) / s * 100.0
    );
    println!(
        "| {} tablets on the stream ({}–{} events each) | {streaming:.2} | {:.2} % | {:.2} % |",
        args.tablets,
        events.iter().min().unwrap_or(&0),
        events.iter().max().unwrap_or(&0),
        streaming / s * 100.0,
        (streaming - idle) / s * 100.0
    );
    if events.iter().any(|&e| e < args.seconds) {
        anyhow::bail!("a tablet received fewer events than one a second: {events:?}");
    }
    Ok(())
}
