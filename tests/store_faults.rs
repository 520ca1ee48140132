//! The store degrades, it never stops the agent: the agent as a child process, Modbus devices
//! over real sockets, a real SQLite file that fills up, is damaged, or comes from a newer
//! agent.
//!
//! The full disk is the kernel's file size limit (`RLIMIT_FSIZE`, lowered on the running agent
//! with `prlimit(2)` and raised again, as space freed on a card): every write to the store
//! fails with `EFBIG` while it is low, as it would with `ENOSPC`, and mounting a small tmpfs
//! needs privileges a test must not assume.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::devices::{counter, faulty, Answer, Clock};
use e2e::{get, get_json, temp_dir, wait_until, AgentProcess};
use serde_json::Value as Json;

/// The store's `queue` in these tests: small, so that an outage overflows it at once.
const QUEUE: u64 = 100;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn health(http: &str) -> Option<Json> {
    let (_, body) = get(http, "/healthz").await.ok()?;
    serde_json::from_str(&body).ok()
}

async fn alarm(http: &str, key: &str) -> Option<Json> {
    let a = get_json(http, "/api/alarms").await.ok()?;
    a["alarms"]
        .as_array()?
        .iter()
        .find(|x| x["key"] == key)
        .cloned()
}

async fn polls(http: &str) -> Option<u64> {
    e2e::polls(http, "counter").await
}

/// An agent configuration: a counter device whose 20 registers change every 20 ms (about 200
/// samples a second to store), and a device `plc` that answers garbage while `broken` says so.
fn config(dir: &Path, counter: std::net::SocketAddr, plc: std::net::SocketAddr) -> PathBuf {
    let text = format!(
        r#"
[agent]
machine_id = "vmc-store-faults"
[store]
path = "{}/agent.db"
flush_interval_ms = 200
queue = {QUEUE}
[alarms]
tick_ms = 50
on_delay_ms = 300
off_delay_ms = 300
[poll_groups]
fast = {{ interval_ms = 100 }}
[[device]]
name = "counter"
protocol = "modbus-tcp"
address = "{counter}"
group = "fast"
{tags}
[[device]]
name = "plc"
protocol = "modbus-tcp"
address = "{plc}"
timeout_ms = 300
  [[device.tag]]
  name = "r"
  table = "holding"
  address = 0
"#,
        dir.display(),
        tags = (0..20)
            .map(|i| format!(
                "  [[device.tag]]\n  name = \"t{i}\"\n  table = \"holding\"\n  address = {i}\n"
            ))
            .collect::<String>()
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn counter_device() -> std::net::SocketAddr {
    counter(
        Arc::new(Clock {
            start: Instant::now(),
            change: Duration::from_millis(20),
        }),
        20,
    )
    .await
}

/// The agent with `config`; writes beyond the file size limit fail (`EFBIG`) instead of
/// killing it (`SIGXFSZ`, ignored here, stays ignored across exec). Its log goes to `agent.log`
/// beside the configuration, a file on the "full disk" too: a log line that cannot be written
/// must cost nothing but that line.
async fn agent(config: &Path) -> AgentProcess {
    let log = std::fs::File::create(config.with_file_name("agent.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-e2e"));
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(log)
        .env("RUST_LOG", "warn");
    // SAFETY: between fork and exec only `signal`, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    AgentProcess::spawn(cmd).await
}

/// Sets the file size limit of the running process `pid` (`None`: unlimited).
fn file_size_limit(pid: u32, bytes: Option<u64>) {
    let lim = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a plain system call on a process this test started.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &lim,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// Samples of `counter.t0` stored since `from_ms`.
async fn stored_since(http: &str, from_ms: i64) -> Option<usize> {
    let h = get_json(
        http,
        &format!("/api/history?signal=counter.t0&from_ms={from_ms}"),
    )
    .await
    .ok()?;
    Some(h["samples"].as_array()?.len())
}

static PLC_FULL_DISK: AtomicBool = AtomicBool::new(false);

fn plc_full_disk(_: u16) -> Answer {
    if PLC_FULL_DISK.load(Ordering::Relaxed) {
        Answer::Garbage
    } else {
        Answer::Correct
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_stops_polling_or_alarms_and_rows_resume_when_space_returns() {
    let dir = temp_dir("disk-full");
    let plc = faulty(plc_full_disk).await;
    let agent = agent(&config(&dir, counter_device().await, plc)).await;
    let http = agent.http.clone();
    let pid = agent.child.id();
    let long = Duration::from_secs(40);

    wait_until(long, "rows stored", || async {
        let h = health(&http).await?;
        (h["devices_connected"] == 2 && h["store"]["last_commit_ms"].is_i64()).then_some(())
    })
    .await
    .unwrap();
    wait_until(long, "samples in the history", || async {
        stored_since(&http, now_ms() - 60_000)
            .await
            .filter(|n| *n > 0)
    })
    .await
    .unwrap();

    // The disk is full: every write of the store fails from now on.
    file_size_limit(pid, Some(0));
    let last = std::sync::Mutex::new(None);
    let h = wait_until(long, "the store to say its writes fail", || async {
        let h = health(&http).await;
        *last.lock().unwrap() = h.clone();
        h.filter(|h| h["store"]["state"] == "failing")
    })
    .await;
    let mut agent = agent;
    let h = h.unwrap_or_else(|e| {
        panic!(
            "{e:#}; the agent: {:?}; its last /healthz: {}; its log: {}",
            agent.child.try_wait(),
            last.lock().unwrap().take().unwrap_or_default(),
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        )
    });
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["problems"].to_string().contains("store writes fail"),
        "{h}"
    );
    let full_since = h["store"]["failing_since_ms"].as_i64().unwrap();

    // Acquisition goes on, and so do the alarms: a device that fails now is alarmed.
    let p0 = polls(&http).await.unwrap();
    PLC_FULL_DISK.store(true, Ordering::Relaxed);
    let a = wait_until(long, "the failing device's alarm", || {
        alarm(&http, "device:plc:unavailable")
    })
    .await
    .unwrap();
    assert_eq!(a["state"], "active_unacked", "{a}");
    // What the writer holds stays within its bounds while the oldest samples are dropped.
    let dropped0 = health(&http).await.unwrap()["store_dropped_samples"]
        .as_u64()
        .unwrap();
    let h = wait_until(long, "samples dropped beyond the bound", || async {
        let h = health(&http).await?;
        let s = &h["store"];
        assert!(
            s["backlog_samples"].as_u64()? <= QUEUE,
            "the writer holds more than its queue: {h}"
        );
        assert!(s["backlog_records"].as_u64()? < 100, "{h}");
        (h["store_dropped_samples"].as_u64()? > dropped0 + 10 * QUEUE).then_some(h)
    })
    .await
    .unwrap();
    assert_eq!(h["store"]["state"], "failing", "{h}");
    assert!(h["store"]["write_failures"].as_u64().unwrap() > 1, "{h}");
    assert!(polls(&http).await.unwrap() > p0 + 20, "polling went on");
    let v = get_json(&http, "/api/signals").await.unwrap();
    let t0 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signal"] == "counter.t0")
        .unwrap();
    assert_eq!(t0["quality"], "good", "{t0}");
    // Reads of what was stored before still answer.
    assert!(stored_since(&http, full_since - 60_000).await.unwrap() > 0);

    // Space returns: the writer retries within its backoff and rows resume.
    let back = now_ms();
    file_size_limit(pid, None);
    let h = wait_until(long, "the store writing again", || async {
        health(&http).await.filter(|h| h["store"]["state"] == "ok")
    })
    .await
    .unwrap();
    assert_eq!(h["status"], "ok", "{h}");
    assert!(
        h["store"]["last_commit_ms"].as_i64().unwrap() >= back,
        "{h}"
    );
    wait_until(long, "new samples stored", || async {
        stored_since(&http, back).await.filter(|n| *n > 5)
    })
    .await
    .unwrap();
    // The alarm raised while the disk was full reached the audit trail once it could.
    let trail = wait_until(long, "the alarm in the audit trail", || async {
        let t = get_json(&http, "/api/alarms/history?key=device:plc:")
            .await
            .ok()?;
        (!t["events"].as_array()?.is_empty()).then_some(t)
    })
    .await
    .unwrap();
    let raised = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "active_unacked")
        .unwrap_or_else(|| panic!("{trail}"));
    assert!(raised["ts_ms"].as_i64().unwrap() < back, "{raised}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_file_is_moved_aside_and_the_agent_starts() {
    let dir = temp_dir("damaged-store");
    let garbage = "this file was overwritten by something that is not SQLite\n".repeat(500);
    std::fs::write(dir.join("agent.db"), &garbage).unwrap();
    let plc = faulty(|_| Answer::Correct).await;
    let agent = agent(&config(&dir, counter_device().await, plc)).await;
    let http = agent.http.clone();
    let h = wait_until(Duration::from_secs(30), "the agent healthy", || async {
        health(&http)
            .await
            .filter(|h| h["status"] == "ok" && h["devices_connected"] == 2)
    })
    .await
    .unwrap();
    // The old file is kept aside, untouched, and /healthz says where.
    let aside = PathBuf::from(h["store"]["moved_aside"].as_str().unwrap());
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("agent.db.corrupt-"),
        "{h}"
    );
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), garbage);
    // The fresh store takes rows.
    let start = now_ms() - 60_000;
    wait_until(Duration::from_secs(30), "samples stored", || async {
        stored_since(&http, start).await.filter(|n| *n > 0)
    })
    .await
    .unwrap();
}

static PLC_NEWER: AtomicBool = AtomicBool::new(false);

fn plc_newer(_: u16) -> Answer {
    if PLC_NEWER.load(Ordering::Relaxed) {
        Answer::Garbage
    } else {
        Answer::Correct
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_a_newer_agent_is_left_alone_and_the_agent_runs_on_live_data() {
    let dir = temp_dir("newer-store");
    let db = dir.join("agent.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('schema_version', '99');
             CREATE TABLE from_the_future (x);",
        )
        .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let plc = faulty(plc_newer).await;
    let agent = agent(&config(&dir, counter_device().await, plc)).await;
    let http = agent.http.clone();
    let long = Duration::from_secs(30);
    let h = wait_until(long, "the agent connected", || async {
        health(&http).await.filter(|h| h["devices_connected"] == 2)
    })
    .await
    .unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["store"]["state"], "unavailable", "{h}");
    let reason = h["store"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("schema version 99") && reason.contains("newer"),
        "{h}"
    );
    assert!(h["loops"].get("store-writer").is_none(), "no writer: {h}");

    // Live data and alarms work.
    let v = get_json(&http, "/api/signals").await.unwrap();
    assert!(
        v.as_array().unwrap().iter().any(|s| s["quality"] == "good"),
        "{v}"
    );
    PLC_NEWER.store(true, Ordering::Relaxed);
    let a = wait_until(long, "the failing device's alarm", || {
        alarm(&http, "device:plc:unavailable")
    })
    .await
    .unwrap();
    assert_eq!(a["state"], "active_unacked", "{a}");
    // Reads of the history say why there is none; the live views answer.
    for path in [
        "/api/operations",
        "/api/summary",
        "/api/alarms/history",
        "/api/history?signal=counter.t0",
    ] {
        let (code, body) = get(&http, path).await.unwrap();
        assert_eq!(code, 503, "{path}: {body}");
        assert!(body.contains("records nothing"), "{path}: {body}");
    }
    let life = get_json(&http, "/api/life").await.unwrap();
    assert!(life["recent_changes_note"].is_string(), "{life}");
    assert!(get_json(&http, "/api/compliance").await.is_ok());
    drop(agent);
    // The file is as the newer agent left it.
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the newer agent's file was changed"
    );
}
