//! A part of the agent that panics never stops the rest: the agent as a child process (built
//! with the test-only fault hooks), a Modbus device over a real socket, its real SQLite file.
//! The test makes the compliance evaluator panic at every tick through the fault file
//! (`AGENT_TEST_FAULTS`), and checks that the loop goes on, the alarms keep working,
//! `/healthz` answers 503 naming the stuck evaluator, `/metrics` counts its panics, systemd's
//! watchdog gets no keep-alive while the evaluator is stuck, and all is well again once the
//! fault is gone.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use e2e::devices::{faulty, Answer};
use e2e::{get, get_json, temp_dir, wait_until, AgentProcess};
use serde_json::Value as Json;

/// The device answers garbage while this is set (a device that fails while the evaluator
/// panics: its alarm must still be raised).
static BROKEN: AtomicBool = AtomicBool::new(false);

fn answer(_: u16) -> Answer {
    if BROKEN.load(Ordering::Relaxed) {
        Answer::Garbage
    } else {
        Answer::Correct
    }
}

/// Waits for a watchdog keep-alive on the notify socket.
async fn keep_alive(notified: &mut tokio::sync::mpsc::UnboundedReceiver<String>) {
    let m = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match notified.recv().await {
                Some(m) if m.lines().any(|l| l == "WATCHDOG=1") => return m,
                Some(_) => {}
                None => panic!("the notify socket closed"),
            }
        }
    })
    .await
    .expect("a watchdog keep-alive within 30 s");
    assert!(m.contains("WATCHDOG=1"));
}

/// `/healthz`: its status code and body (200 or 503, both JSON).
async fn health(http: &str) -> Option<(u16, Json)> {
    let (code, body) = get(http, "/healthz").await.ok()?;
    Some((code, serde_json::from_str(&body).ok()?))
}

async fn alarm(http: &str, key: &str) -> Option<Json> {
    let a = get_json(http, "/api/alarms").await.ok()?;
    a["alarms"]
        .as_array()?
        .iter()
        .find(|x| x["key"] == key)
        .cloned()
}

/// A series of `/metrics`: the number on the line that starts with `series`.
async fn metric(http: &str, series: &str) -> Option<f64> {
    let (_, body) = get(http, "/metrics").await.ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn config(dir: &Path, device: std::net::SocketAddr) -> std::path::PathBuf {
    let text = format!(
        r#"
[agent]
machine_id = "vmc-supervision"
[store]
path = "{}/agent.db"
flush_interval_ms = 100
[operations]
tick_ms = 100
[alarms]
tick_ms = 50
on_delay_ms = 300
off_delay_ms = 300
[[device]]
name = "plc"
protocol = "modbus-tcp"
address = "{device}"
timeout_ms = 300
stale_after_ms = 2000
  [[device.tag]]
  name = "r"
  table = "holding"
  address = 0
"#,
        dir.display()
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_evaluator_is_restarted_and_alarms_keep_working() {
    let dir = temp_dir("supervision");
    let faults = dir.join("faults");
    let device = faulty(answer).await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-e2e"));
    cmd.arg("run")
        .arg("--config")
        .arg(config(&dir, device))
        .args(["--listen", "127.0.0.1:0"])
        .env("AGENT_TEST_FAULTS", &faults)
        // A socket standing in for systemd's, with a watchdog of 300 ms: a keep-alive every
        // 100 ms while every loop ticks.
        .env("NOTIFY_SOCKET", dir.join("notify"))
        .env("WATCHDOG_USEC", "300000")
        .env("RUST_LOG", "warn");
    let mut notified = e2e::notify_socket(&dir.join("notify"));
    let agent = AgentProcess::spawn(cmd).await;
    let http = agent.http.clone();
    let long = Duration::from_secs(30);

    wait_until(long, "the agent healthy and connected", || async {
        let (code, h) = health(&http).await?;
        (code == 200 && h["status"] == "ok" && h["devices_connected"] == 1).then_some(())
    })
    .await
    .unwrap();
    keep_alive(&mut notified).await;

    // The compliance evaluator panics at every tick from now on.
    std::fs::write(&faults, "evaluator:compliance\n").unwrap();
    let failed = "agent:evaluator:compliance:failed";
    let a = wait_until(long, "the failing evaluator's own alarm", || {
        alarm(&http, failed)
    })
    .await
    .unwrap();
    assert_eq!(a["state"], "active_unacked", "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("test fault hook"),
        "{a}"
    );

    // The other evaluators and the alarm engine go on: a device that fails now is alarmed.
    BROKEN.store(true, Ordering::Relaxed);
    let d = wait_until(long, "the failing device's alarm", || {
        alarm(&http, "device:plc:unavailable")
    })
    .await
    .unwrap();
    assert_eq!(d["state"], "active_unacked", "{d}");

    // Once the evaluator has made no good step for a few ticks, /healthz says so with 503.
    let (code, h) = wait_until(long, "/healthz to answer 503", || async {
        health(&http).await.filter(|(c, _)| *c == 503)
    })
    .await
    .unwrap();
    assert_eq!(h["status"], "failing", "{h}");
    let problems = h["problems"].to_string();
    assert!(
        problems.contains("evaluator:compliance") && problems.contains("test fault hook"),
        "{h}"
    );
    let l = &h["loops"]["evaluator:compliance"];
    assert_eq!(l["stuck"], true, "{h}");
    assert!(l["panics"].as_u64().unwrap() > 10, "{h}");
    for other in [
        "evaluators",
        "evaluator:health",
        "evaluator:life",
        "alarms",
        "store-writer",
    ] {
        assert_eq!(h["loops"][other]["stuck"], false, "{other}: {h}");
        assert_eq!(h["loops"][other]["panics"], 0, "{other}: {h}");
    }
    assert_eq!(code, 503);
    let panics = metric(
        &http,
        "agent_loop_panics_total{loop=\"evaluator:compliance\"}",
    )
    .await
    .unwrap();
    assert!(panics > 10.0, "{panics}");
    assert_eq!(
        metric(&http, "agent_loop_stuck{loop=\"evaluator:compliance\"}").await,
        Some(1.0)
    );
    // The watchdog is starved while the loop is stuck: over ten more ticks of the stuck
    // evaluator (ten keep-alives' worth), after a first ten that let any keep-alive sent
    // before the loop counted as stuck arrive, none comes.
    let ticks = |n: f64| {
        let http = http.clone();
        async move {
            let from = metric(
                &http,
                "agent_loop_panics_total{loop=\"evaluator:compliance\"}",
            )
            .await
            .unwrap();
            wait_until(long, "ten more ticks of the stuck evaluator", || async {
                let now = metric(
                    &http,
                    "agent_loop_panics_total{loop=\"evaluator:compliance\"}",
                )
                .await?;
                (now >= from + n).then_some(())
            })
            .await
            .unwrap();
        }
    };
    ticks(10.0).await;
    while notified.try_recv().is_ok() {}
    ticks(10.0).await;
    let mut during = Vec::new();
    while let Ok(m) = notified.try_recv() {
        during.push(m);
    }
    assert!(
        !during.iter().any(|m| m.contains("WATCHDOG=1")),
        "keep-alives while a loop is stuck: {during:?}"
    );
    assert_eq!(health(&http).await.unwrap().0, 503);
    // The live status the evaluator shares with the HTTP server is still readable.
    assert!(get_json(&http, "/api/compliance").await.is_ok());

    // The fault is gone: the evaluator runs again, its alarm clears, /healthz is ok again.
    std::fs::remove_file(&faults).unwrap();
    BROKEN.store(false, Ordering::Relaxed);
    wait_until(long, "/healthz ok again", || async {
        let (code, h) = health(&http).await?;
        (code == 200 && h["status"] == "ok").then_some(())
    })
    .await
    .unwrap();
    // ... and the watchdog is fed again.
    keep_alive(&mut notified).await;
    let a = wait_until(long, "the evaluator's alarm to clear", || async {
        alarm(&http, failed)
            .await
            .filter(|a| a["state"] == "cleared_unacked")
    })
    .await
    .unwrap();
    assert_eq!(a["condition"], false, "{a}");
    // The panics stay counted.
    let after = metric(
        &http,
        "agent_loop_panics_total{loop=\"evaluator:compliance\"}",
    )
    .await
    .unwrap();
    assert!(after >= panics, "{after} < {panics}");
    // The evaluator's alarm is in the audit trail, raised and cleared.
    wait_until(
        long,
        "the raise and the clearing in the audit trail",
        || async {
            let t = get_json(&http, &format!("/api/alarms/history?key={failed}"))
                .await
                .ok()?;
            let states: Vec<&str> = t["events"]
                .as_array()?
                .iter()
                .filter_map(|e| e["state"].as_str())
                .collect();
            (states.contains(&"active_unacked") && states.contains(&"cleared_unacked"))
                .then_some(())
        },
    )
    .await
    .unwrap();
}
