//! End-to-end tests of the spine over real sockets: simulator and test devices serve, the agent
//! acquires, the API and a real SQLite file are checked.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::devices::{self, Answer, Clock};
use e2e::{get_json, polls, polls_for, temp_dir, wait_until, AgentProcess};
use serde_json::Value as Json;

/// The agent as a child process, killed when dropped.
async fn agent_process(config: &Path) -> AgentProcess {
    AgentProcess::run(env!("CARGO_BIN_EXE_agent-e2e"), config).await
}

fn signal<'a>(signals: &'a Json, name: &str) -> &'a Json {
    signals
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signal"] == name)
        .unwrap_or_else(|| panic!("no signal {name}"))
}

async fn signals(http: &str) -> Json {
    get_json(http, "/api/signals").await.unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_reports_every_problem_with_file_line_and_column() {
    let dir = temp_dir("check-config");
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_agent-e2e"))
        .args(["check-config", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let base = "[[device]]\nname = \"mql\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n\
                \n  [[device.tag]]\n  name = \"flow\"\n  table = \"input\"\n  address = 0\n  signal = \"mql.oil_flow\"\n";
    let cases: &[(&str, String, &[&str])] = &[
        ("unknown-field.toml", base.replace("address = 0", "adress = 0"), &["unknown-field.toml:9:3:", "unknown field `adress`"]),
        ("wrong-type.toml", base.replace("address = 0", "address = \"zero\""), &["wrong-type.toml:9:13:", "expected u16"]),
        (
            "duplicate-signal.toml",
            format!("{base}\n  [[device.tag]]\n  name = \"flow2\"\n  table = \"input\"\n  address = 1\n  signal = \"mql.oil_flow\"\n"),
            &["duplicate-signal.toml:13:10:", "duplicate signal `mql.oil_flow`", "line 7"],
        ),
        (
            "unknown-group-and-signal.toml",
            base.replace("name = \"mql\"", "name = \"mql\"\ngroup = \"fastest\"").replace("mql.oil_flow", "mql.oilflow"),
            &["unknown-group-and-signal.toml:3:9: unknown poll group `fastest`", "unknown-group-and-signal.toml:11:", "did you mean `mql.oil_flow`"],
        ),
    ];
    for (name, text, expected) in cases {
        let path = write(&dir, name, text);
        let out = Command::new(env!("CARGO_BIN_EXE_agent-e2e"))
            .args(["check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{name} passed:\n{stdout}");
        for e in *expected {
            assert!(stdout.contains(e), "{name}: expected `{e}` in:\n{stdout}");
        }
    }
    // `run` refuses a bad file the same way, before touching anything.
    let bad = dir.join("unknown-field.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_agent-e2e"))
        .args(["run", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-field.toml:9:3:"));
}

fn faulty_answers(address: u16) -> Answer {
    match address {
        10 => Answer::Short,
        _ => Answer::Correct,
    }
}

fn garbage_answers(_: u16) -> Answer {
    Answer::Garbage
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_and_malformed_answers_are_errors_of_their_tags_not_crashes() {
    let faulty = devices::faulty(faulty_answers).await;
    let garbage = devices::faulty(garbage_answers).await;
    let clock = Arc::new(Clock {
        start: Instant::now(),
        change: Duration::from_millis(200),
    });
    let healthy = devices::counter(clock, 4).await;
    let dir = temp_dir("faulty");
    let cfg = write(
        &dir,
        "agent.toml",
        &format!(
            r#"
[store]
path = "{dir}/agent.db"
[poll_groups]
fast = {{ interval_ms = 100 }}
[[device]]
name = "faulty"
protocol = "modbus-tcp"
address = "{faulty}"
group = "fast"
  [[device.tag]]
  name = "ok"
  table = "holding"
  address = 0
  [[device.tag]]
  name = "short"
  table = "holding"
  address = 10
  type = "u32"
  [[device.tag]]
  name = "after"
  table = "holding"
  address = 20
[[device]]
name = "garbage"
protocol = "modbus-tcp"
address = "{garbage}"
group = "fast"
  [[device.tag]]
  name = "x"
  table = "holding"
  address = 0
[[device]]
name = "healthy"
protocol = "modbus-tcp"
address = "{healthy}"
group = "fast"
  [[device.tag]]
  name = "c"
  table = "holding"
  address = 0
"#,
            dir = dir.display()
        ),
    );
    let agent = agent_process(&cfg).await;
    let http = agent.http.clone();
    let ready = wait_until(
        Duration::from_secs(15),
        "good values of faulty.ok and healthy.c",
        || async {
            let s = get_json(&http, "/api/signals").await.ok()?;
            (signal(&s, "faulty.ok")["quality"] == "good"
                && signal(&s, "healthy.c")["quality"] == "good")
                .then_some(s)
        },
    )
    .await
    .unwrap();
    assert_eq!(signal(&ready, "faulty.ok")["value"], 1000.0);

    // Watch for two seconds of the agent's polling (the healthy device's 100 ms cycles): the
    // short answer fails its tag only, the garbage device is unavailable, and everything else
    // stays good throughout.
    let polled = polls(&http, "healthy").await.unwrap()
        + polls_for(Duration::from_millis(100), Duration::from_secs(2));
    wait_until(
        Duration::from_secs(30),
        "two seconds of polls of the healthy device",
        || async {
            let s = signals(&http).await;
            let short = signal(&s, "faulty.short");
            assert_eq!(short["quality"], "unavailable");
            assert!(
                short["error"].as_str().unwrap().contains("too short"),
                "{short}"
            );
            assert_eq!(signal(&s, "faulty.after")["quality"], "good", "{s}");
            assert_eq!(signal(&s, "faulty.after")["value"], 1020.0);
            assert_eq!(signal(&s, "healthy.c")["quality"], "good");
            assert_eq!(signal(&s, "garbage.x")["quality"], "unavailable");
            polls(&http, "healthy").await.filter(|p| *p >= polled)
        },
    )
    .await
    .unwrap();
    let devices = get_json(&http, "/api/devices").await.unwrap();
    let garbage_dev = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "garbage")
        .unwrap();
    assert_eq!(garbage_dev["connected"], false, "{garbage_dev}");
    assert!(garbage_dev["last_error"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_keeps_what_was_committed() {
    let clock = Arc::new(Clock {
        start: Instant::now(),
        change: Duration::from_millis(20),
    });
    let dev = devices::counter(clock, 20).await;
    let dir = temp_dir("kill9");
    let db = dir.join("agent.db");
    let mut text = format!(
        "[store]\npath = \"{}\"\nflush_interval_ms = 100\n[poll_groups]\nfast = {{ interval_ms = 20 }}\n\
         [[device]]\nname = \"counter\"\nprotocol = \"modbus-tcp\"\naddress = \"{dev}\"\ngroup = \"fast\"\n",
        db.display()
    );
    for t in 0..20 {
        text += &format!(
            "  [[device.tag]]\n  name = \"t{t}\"\n  table = \"holding\"\n  address = {t}\n"
        );
    }
    let cfg = write(&dir, "agent.toml", &text);
    let count = |db: &Path| -> i64 {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
            .unwrap()
    };

    let mut agent = agent_process(&cfg).await;
    // Let it write for a while, then kill it mid-stream, without warning.
    wait_until(
        Duration::from_secs(20),
        "more than 2000 samples in the store before the kill",
        || async { (db.exists() && count(&db) > 2000).then_some(()) },
    )
    .await
    .unwrap();
    agent.child.kill().unwrap(); // SIGKILL
    agent.child.wait().unwrap();

    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let before: i64 = conn
        .query_row("SELECT count(*) FROM sample", [], |r| r.get(0))
        .unwrap();
    let last: i64 = conn
        .query_row("SELECT max(ts_ms) FROM sample", [], |r| r.get(0))
        .unwrap();
    drop(conn);

    // A new agent on the same file keeps every committed row and goes on writing.
    let agent = agent_process(&cfg).await;
    wait_until(
        Duration::from_secs(20),
        "500 more samples from the restarted agent",
        || async { (count(&db) > before + 500).then_some(()) },
    )
    .await
    .unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM sample WHERE ts_ms <= ?1",
            [last],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, before, "rows committed before the kill were lost");
    let history = get_json(
        &agent.http,
        &format!("/api/history?signal=counter.t0&{}", e2e::from_a_day_ago()),
    )
    .await
    .unwrap();
    assert!(history["samples"].as_array().unwrap().len() > 10);
    let (code, body) = e2e::get(
        &agent.http,
        "/api/history?signal=counter.t0&from_ms=yesterday",
    )
    .await
    .unwrap();
    assert_eq!(code, 400);
    assert!(body.contains("\"field\":\"from_ms\""), "{body}");
    // A window beyond what one request may read is refused, naming the field.
    let (code, body) = e2e::get(&agent.http, "/api/history?signal=counter.t0&from_ms=0")
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("\"field\":\"from_ms\"") && body.contains("at most 31 days"),
        "{body}"
    );
}
