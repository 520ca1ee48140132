//! End-to-end tests of alarms and who may change them, over real sockets: the agent in-process
//! with a real SQLite file, a local webhook receiver that fails before it succeeds, a real
//! Mosquitto broker, and a real headless Chromium driven over the DevTools protocol against the
//! agent running on the simulator.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::Agent;
use e2e::devices::{clock_device, clock_passes, clock_toml};
use e2e::mosquitto::{subscriber, Mosquitto};
use e2e::{chromium, dead_addr, get_json, request, temp_dir, wait_until};
use serde_json::{json, Value as Json};

const TOKEN: &str = "test-token-0123456789";
const DEAD_KEY: &str = "device:dead:unavailable";

// --- helpers -----------------------------------------------------------------------------------

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// An agent configuration: a Modbus device nobody answers for (so `device:dead:unavailable`
/// is raised at once), optionally a live counter device, and `extra` sections.
fn config(dir: &Path, live: Option<std::net::SocketAddr>, extra: &str) -> agent::config::Config {
    let live = live.map_or(String::new(), |a| {
        format!(
            r#"
[[device]]
name = "plc"
protocol = "modbus-tcp"
address = "{a}"
timeout_ms = 500
  [[device.tag]]
  name = "hours"
  table = "holding"
  address = 0
"#
        )
    });
    let src = format!(
        r#"
[agent]
machine_id = "vmc-test"
listen = "127.0.0.1:0"
[store]
path = "{}/agent.db"
flush_interval_ms = 100
[alarms]
tick_ms = 50
on_delay_ms = 200
off_delay_ms = 200
[http]
token = "{TOKEN}"
[[device]]
name = "dead"
protocol = "modbus-tcp"
address = "{}"
timeout_ms = 200
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
{live}
{extra}
"#,
        dir.display(),
        dead_addr()
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, &src).unwrap();
    // It holds the token: only its owner may read it, or the agent refuses it.
    e2e::private(&path);
    agent::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn alarm(http: &str, key: &str) -> Option<Json> {
    let a = get_json(http, "/api/alarms").await.ok()?;
    a["alarms"]
        .as_array()?
        .iter()
        .find(|x| x["key"] == key)
        .cloned()
}

async fn wait_alarm(http: &str, key: &str, state: &str, timeout: Duration) -> Json {
    wait_until(timeout, format!("alarm {key} to be {state}"), || async {
        alarm(http, key).await.filter(|a| a["state"] == state)
    })
    .await
    .unwrap()
}

/// A number from the agent's `/metrics`: the line that starts with `series` (name and labels).
async fn metric(http: &str, series: &str) -> Option<f64> {
    let (_, body) = e2e::get(http, "/metrics").await.ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

// --- webhook -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_retried_with_backoff_until_the_receiver_takes_it() {
    // The receiver answers 503 twice, then 200; it records every attempt.
    #[derive(Clone, Default)]
    struct Rx(Arc<Mutex<Vec<(Instant, String)>>>);
    let rx = Rx::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(rx): axum::extract::State<Rx>, body: String| async move {
                    let mut v = rx.0.lock().unwrap();
                    v.push((Instant::now(), body));
                    if v.len() <= 2 {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = temp_dir("alarm-webhook");
    let clock = clock_device().await;
    let cfg = config(
        &dir,
        None,
        &format!(
            r#"
{}
[[notify.webhook]]
name = "chat"
url = "http://{hook}/hook"
timeout_ms = 1000
retry_initial_ms = 200
retry_max_ms = 1000
template = '{{"text": "{{{{severity}}}} on {{{{machine_id}}}}: {{{{message}}}} ({{{{state}}}})", "key": "{{{{key}}}}", "zh": "{{{{message_zh}}}}"}}'
"#,
            clock_toml(clock)
        ),
    );
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    wait_alarm(&http, DEAD_KEY, "active_unacked", Duration::from_secs(10)).await;
    let got = wait_until(
        Duration::from_secs(10),
        "the receiver to be called three times (retried until it succeeded)",
        || async {
            let v = rx.0.lock().unwrap().clone();
            (v.len() >= 3).then_some(v)
        },
    )
    .await
    .unwrap();
    // The same event, three times, with growing gaps (backoff), then nothing more.
    for (_, body) in &got {
        let j: Json = serde_json::from_str(body).expect("the template gives JSON");
        assert_eq!(j["key"], DEAD_KEY, "{body}");
        let text = j["text"].as_str().unwrap();
        assert!(
            text.starts_with("warning on vmc-test: device dead unavailable")
                && text.ends_with("(active_unacked)"),
            "{text}"
        );
        // The Chinese text beside it, from the same condition.
        let zh = j["zh"].as_str().unwrap();
        assert!(zh.starts_with("设备 dead 不可用："), "{zh}");
    }
    let gap1 = got[1].0 - got[0].0;
    let gap2 = got[2].0 - got[1].0;
    assert!(gap1 >= Duration::from_millis(150), "{gap1:?}");
    assert!(gap2 > gap1, "backoff grows: {gap1:?} then {gap2:?}");
    // Longer than the longest retry delay (1 s) passes in the agent: nothing comes again.
    clock_passes(&http, Duration::from_millis(1500))
        .await
        .unwrap();
    assert_eq!(rx.0.lock().unwrap().len(), 3, "delivered once, not again");
    let (code, metrics) = e2e::get(&http, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("agent_notify_delivered_total{channel=\"webhook:chat\"} 1")
            && metrics.contains("agent_notify_failures_total{channel=\"webhook:chat\"} 2"),
        "{metrics}"
    );
    agent.shutdown().await;
}

// --- MQTT ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_delivers_events_and_state_to_mosquitto_and_catches_up_after_an_outage() {
    let dir = temp_dir("alarm-mqtt");
    // A persistent broker and subscriber session, as a plant runs them: what the agent
    // replays before the subscriber is back is kept for it, not lost to a race in the test.
    let broker = Mosquitto::start_persistent(&dir).await;
    let port = broker.port();
    let got = subscriber(
        port,
        "green-machining/plant/l1/vmc-test/#",
        Some("alarm-mqtt-test"),
    )
    .await;

    let cfg = config(
        &dir,
        None,
        &format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nsite = \"plant\"\nline = \"l1\"\nsignals = false\n"),
    );
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    let has = |topic: &'static str, pred: fn(&Json) -> bool| {
        let got = got.clone();
        move || {
            let got = got.clone();
            async move {
                got.lock()
                    .unwrap()
                    .iter()
                    .find(|(t, _, v)| t == topic && pred(v))
                    .cloned()
            }
        }
    };
    let ev = wait_until(
        Duration::from_secs(10),
        "the alarm's event on alarms/events",
        has("green-machining/plant/l1/vmc-test/alarms/events", |v| {
            v["key"] == DEAD_KEY && v["state"] == "active_unacked"
        }),
    )
    .await
    .unwrap();
    assert_eq!(ev.2["machine_id"], "vmc-test");
    assert_eq!(ev.2["previous"], "normal");
    assert!(
        ev.2["message"]
            .as_str()
            .unwrap()
            .starts_with("device dead unavailable")
            && ev.2["message_zh"]
                .as_str()
                .unwrap()
                .starts_with("设备 dead 不可用"),
        "{}",
        ev.2
    );
    wait_until(
        Duration::from_secs(10),
        "the alarm in the state on alarms/state",
        has("green-machining/plant/l1/vmc-test/alarms/state", |v| {
            v["alarms"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["key"] == DEAD_KEY))
        }),
    )
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "the online status",
        has("green-machining/plant/l1/vmc-test/status", |v| {
            v["state"] == "online"
        }),
    )
    .await
    .unwrap();

    // The broker goes away; an acknowledgement meanwhile is kept and delivered when it is back.
    let broker = broker.stop();
    wait_until(
        Duration::from_secs(10),
        "the agent to see the broker gone",
        || async {
            metric(&http, "agent_mqtt_connected")
                .await
                .filter(|c| *c == 0.0)
        },
    )
    .await
    .unwrap();
    let handed = "agent_notify_delivered_total{channel=\"mqtt\"}";
    let handed_before = metric(&http, handed).await.unwrap();
    let queued_before = metric(&http, "agent_mqtt_queued").await.unwrap();
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/ack"),
        &[("Authorization", &bearer()), ("X-Agent-User", "mia")],
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    // The acknowledgement's event and the new alarm state wait in the outbox.
    wait_until(
        Duration::from_secs(10),
        "the acknowledgement and the alarm state in the outbox",
        || async {
            let handed_on = metric(&http, handed).await? > handed_before;
            let queued = metric(&http, "agent_mqtt_queued").await? >= queued_before + 2.0;
            (handed_on && queued).then_some(())
        },
    )
    .await
    .unwrap();
    let _broker = broker.start().await;
    let ack = wait_until(
        Duration::from_secs(40),
        "the acknowledgement made while the broker was down",
        has("green-machining/plant/l1/vmc-test/alarms/events", |v| {
            v["key"] == DEAD_KEY && v["state"] == "active_acked"
        }),
    )
    .await
    .unwrap();
    assert_eq!(ack.2["by"], "mia");
    // The retained state is refreshed after the reconnect.
    wait_until(
        Duration::from_secs(10),
        "the acknowledged state republished after the reconnect",
        has("green-machining/plant/l1/vmc-test/alarms/state", |v| {
            v["alarms"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["key"] == DEAD_KEY && x["state"] == "active_acked")
            })
        }),
    )
    .await
    .unwrap();
    agent.shutdown().await;
}

// --- who may change what ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_needs_the_token_and_without_it_nothing_changes() {
    let clock = Arc::new(e2e::devices::Clock {
        start: Instant::now(),
        change: Duration::from_millis(100),
    });
    let plc = e2e::devices::counter(clock, 4).await;
    let dir = temp_dir("alarm-auth");
    let cfg = config(
        &dir,
        Some(plc),
        r#"
[[alarms.component]]
name = "spindle-bearing"
signal = "plc.hours"
warning = 60000
limit = 65000
"#,
    );
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    wait_alarm(&http, DEAD_KEY, "active_unacked", Duration::from_secs(10)).await;
    wait_until(
        Duration::from_secs(10),
        "the component's counter to be read",
        || async {
            let c = get_json(&http, "/api/components").await.ok()?;
            c["components"][0]["used"].as_f64()
        },
    )
    .await
    .unwrap();

    let changes: Vec<(String, &str)> = vec![
        (format!("/api/alarms/{DEAD_KEY}/ack"), ""),
        (
            format!("/api/alarms/{DEAD_KEY}/shelve"),
            r#"{"minutes": 5}"#,
        ),
        (format!("/api/alarms/{DEAD_KEY}/unshelve"), ""),
        (format!("/api/alarms/{DEAD_KEY}/out-of-service"), ""),
        (format!("/api/alarms/{DEAD_KEY}/return-to-service"), ""),
        ("/api/components/spindle-bearing/reset".into(), ""),
    ];
    let wrong = format!("Bearer {TOKEN}x");
    let forged = "agent_session=0123456789abcdef".to_string();
    let mut wrong_credentials = 0;
    for (path, body) in &changes {
        for headers in [
            vec![],
            vec![("Authorization", wrong.as_str())],
            vec![("Authorization", "Basic dXNlcjpwYXNz")],
            vec![("Cookie", forged.as_str())],
        ] {
            let mut h = headers.clone();
            h.push(("Content-Type", "application/json"));
            let r = request(&http, "POST", path, &h, body).await.unwrap();
            let credential = headers.iter().any(|(k, _)| *k == "Authorization");
            if credential {
                wrong_credentials += 1;
            }
            // After six wrong credentials in a row this address backs off: 429, the token not
            // even compared (tests/security.rs checks the back-off itself). Either way nothing
            // changes.
            if credential && wrong_credentials > 6 {
                assert_eq!(r.code, 429, "POST {path} with {headers:?}: {}", r.body);
                assert!(r.head.contains("retry-after:"), "{}", r.head);
            } else {
                assert_eq!(r.code, 401, "POST {path} with {headers:?}: {}", r.body);
                assert!(r.head.contains("www-authenticate: bearer"), "{}", r.head);
            }
            assert!(r.json()["error"].as_str().unwrap().contains("token"));
        }
    }
    // Nothing changed: the alarm is as the engine raised it, the trail has only that, the
    // component was never reset.
    let a = alarm(&http, DEAD_KEY).await.unwrap();
    assert_eq!(a["state"], "active_unacked");
    // The raise reaches the trail through the store's writer thread, which a loaded machine
    // may run a little later.
    let h = wait_until(
        Duration::from_secs(10),
        "the raise in the trail",
        || async {
            let h = get_json(&http, "/api/alarms/history").await.ok()?;
            (!h["events"].as_array()?.is_empty()).then_some(h)
        },
    )
    .await
    .unwrap();
    let events = h["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{h}");
    assert_eq!(events[0]["by"], "system");
    let c = get_json(&http, "/api/components").await.unwrap();
    assert!(c["components"][0]["last_reset_ms"].is_null());

    // Reading needs nothing by default.
    for path in [
        "/",
        "/maintenance",
        "/api/alarms",
        "/api/alarms/history",
        "/metrics",
    ] {
        assert_eq!(e2e::get(&http, path).await.unwrap().0, 200, "{path}");
    }

    // With the token: bad input is a 400 naming the field; good input changes state.
    let auth = bearer();
    let with = [("Authorization", auth.as_str()), ("X-Agent-User", "li")];
    // Once this address's back-off from the wrong credentials above has passed, the right
    // token is taken again.
    wait_until(Duration::from_secs(30), "the back-off to pass", || async {
        let r = request(&http, "GET", "/api/access-events", &with, "")
            .await
            .ok()?;
        (r.code == 200).then_some(())
    })
    .await
    .unwrap();
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/shelve"),
        &with,
        r#"{"minutes": 0}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.code, r.json()["field"].clone()),
        (400, json!("minutes")),
        "{}",
        r.body
    );
    for (q, field) in [
        ("state=loud", "state"),
        ("severity=huge", "severity"),
        ("from_ms=yesterday", "from_ms"),
    ] {
        let (code, body) = e2e::get(&http, &format!("/api/alarms/history?{q}"))
            .await
            .unwrap();
        let j: Json = serde_json::from_str(&body).unwrap();
        assert_eq!((code, j["field"].as_str()), (400, Some(field)), "{body}");
    }
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/ack"),
        &with,
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["alarm"]["state"], "active_acked");
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/ack"),
        &with,
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 409, "nothing left to acknowledge: {}", r.body);
    let r = request(&http, "POST", "/api/alarms/no-such/ack", &with, "")
        .await
        .unwrap();
    assert_eq!(r.code, 404);
    let r = request(
        &http,
        "POST",
        "/api/components/spindle-bearing/reset",
        &with,
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["component"]["last_reset_by"], "li");
    let h = get_json(&http, "/api/alarms/history?key=device:&state=active_acked")
        .await
        .unwrap();
    assert_eq!(h["events"][0]["by"], "li", "{h}");

    // The login form gives a session cookie that works like the token.
    let r = request(
        &http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "name=ana&token=wrong",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 401);
    let r = request(
        &http,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("name=ana&token={TOKEN}"),
    )
    .await
    .unwrap();
    assert_eq!(r.code, 303, "{}", r.body);
    let cookie = r
        .head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    assert!(r.head.contains("httponly") && r.head.contains("samesite=strict"));
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/shelve"),
        &[("Cookie", &cookie)],
        r#"{"minutes": 30}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.json()["alarm"]["state"], "shelved");

    let (_, metrics) = e2e::get(&http, "/metrics").await.unwrap();
    for m in [
        "agent_device_polls_total{device=\"plc\"}",
        "agent_device_errors_total{device=\"dead\"}",
        "agent_device_latency_seconds{device=\"plc\"}",
        "agent_alarms{state=\"shelved\",severity=\"warning\"} 1",
        "agent_store_bytes",
    ] {
        assert!(metrics.contains(m), "{m} missing:\n{metrics}");
    }
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_can_require_the_token_too() {
    let dir = temp_dir("alarm-read-auth");
    let mut cfg = config(&dir, None, "");
    cfg.http.read_requires_auth = true;
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    for path in ["/api/alarms", "/api/signals", "/metrics"] {
        assert_eq!(e2e::get(&http, path).await.unwrap().0, 401, "{path}");
        let r = request(&http, "GET", path, &[("Authorization", &bearer())], "")
            .await
            .unwrap();
        assert_eq!(r.code, 200, "{path}");
    }
    // A browser is sent to the login form, which itself stays reachable.
    let r = request(&http, "GET", "/", &[("Accept", "text/html")], "")
        .await
        .unwrap();
    assert_eq!(r.code, 303);
    assert!(r.head.contains("location: /login"));
    assert_eq!(e2e::get(&http, "/login").await.unwrap().0, 200);
    // So does the API's description: it holds no data.
    assert_eq!(e2e::get(&http, "/api/openapi.json").await.unwrap().0, 200);
    agent.shutdown().await;
}

// --- the audit trail survives a restart ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_and_the_trail_survive_a_restart() {
    let dir = temp_dir("alarm-restart");
    let clock = clock_toml(clock_device().await);
    let agent = Agent::start(config(&dir, None, &clock)).await.unwrap();
    let http = agent.http_addr.to_string();
    wait_alarm(&http, DEAD_KEY, "active_unacked", Duration::from_secs(10)).await;
    let r = request(
        &http,
        "POST",
        &format!("/api/alarms/{DEAD_KEY}/ack"),
        &[
            ("Authorization", &bearer()),
            ("X-Agent-User", "night shift"),
        ],
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200);
    agent.shutdown().await;

    // A new agent on the same store: the alarm is still acknowledged (not raised afresh), and
    // the history has both transitions with who did them.
    let agent = Agent::start(config(&dir, None, &clock)).await.unwrap();
    let http = agent.http_addr.to_string();
    let a = alarm(&http, DEAD_KEY).await.expect("restored");
    assert_eq!(a["state"], "active_acked");
    // Three on-delays pass in the agent: the condition, still active, raises nothing afresh.
    clock_passes(&http, Duration::from_millis(600))
        .await
        .unwrap();
    assert_eq!(
        alarm(&http, DEAD_KEY).await.unwrap()["state"],
        "active_acked"
    );
    let h = get_json(&http, "/api/alarms/history").await.unwrap();
    let e: Vec<(String, String)> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["state"].as_str().unwrap().into(),
                e["by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        e,
        vec![
            ("active_acked".into(), "night shift".into()),
            ("active_unacked".into(), "system".into())
        ]
    );
    // Both texts, in the trail and on the restored alarm.
    for ev in h["events"].as_array().unwrap() {
        assert!(
            ev["message_zh"]
                .as_str()
                .unwrap()
                .starts_with("设备 dead 不可用"),
            "{ev}"
        );
    }
    assert!(a["message_zh"]
        .as_str()
        .unwrap()
        .starts_with("设备 dead 不可用"));
    // The pages' language: English where the configuration names none.
    let health = get_json(&http, "/healthz").await.unwrap();
    assert_eq!(health["language"], "en", "{health}");
    agent.shutdown().await;
}

// --- the page in a real browser ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_chromium_shows_live_values_and_an_alarm_that_can_be_acknowledged() {
    use simulator::scenario::ScenarioConfig;
    use simulator::Simulator;

    // The simulator's fault scenario: the Modbus devices (MQL unit, spindle sensor) go offline
    // 10 s (wall) after the start for 5 s.
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios");
    let mut sc = ScenarioConfig::from_file(scenarios.join("device-offline.toml")).unwrap();
    sc.opcua.listen = "127.0.0.1:0".parse().unwrap();
    sc.modbus.listen = "127.0.0.1:0".parse().unwrap();
    sc.time_scale = 60.0;
    let sim = Simulator::start(sc).await.unwrap();
    let mut cfg = agent::demo::simulator_config();
    // The example commits samples every 15 s (the SD card's sake); the test reads them back.
    cfg.store.flush_interval = Duration::from_secs(1);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    cfg.agent.listen = "127.0.0.1:0".into();
    let dir = temp_dir("alarm-browser");
    cfg.store.path = dir.join("agent.db");
    cfg.http.token = Some(TOKEN.into());
    cfg.alarms.on_delay = Duration::from_millis(500);
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();

    let (_browser, cdp) = chromium::open().await;
    // Log in through the form, as a machinist would.
    cdp.log_in(&format!("http://{http}"), "tester", TOKEN)
        .await
        .expect("login did not land on the status page");

    // Live values appear and change without a reload.
    let values =
        "[...document.querySelectorAll('[data-signal] .val')].map(e => e.textContent).join('|')";
    cdp.wait_eval(
        "/[0-9]/.test(document.querySelector('[data-signal=\"spindle.speed\"] .val').textContent)",
        Duration::from_secs(20),
    )
    .await
    .expect("no live spindle speed on the page");
    let first = cdp.eval(values).await.unwrap();
    cdp.eval("window.__marker = 1; true").await.unwrap();
    let changed = cdp
        .wait_eval(&format!("({values}) !== {first}"), Duration::from_secs(15))
        .await;
    assert!(changed.is_ok(), "values did not change: {first}");
    assert_eq!(
        cdp.eval("window.__marker").await.unwrap(),
        1,
        "the page reloaded"
    );

    // The fault scenario's alarm appears with an acknowledge button.
    let key = "device:mql:unavailable";
    let sel =
        format!("document.querySelector('[data-alarm=\"{key}\"] button.ack:not([disabled])')");
    cdp.wait_eval(&format!("{sel} !== null"), Duration::from_secs(40))
        .await
        .expect("the device-offline alarm never appeared on the page");
    let text = cdp
        .eval(&format!(
            "document.querySelector('[data-alarm=\"{key}\"]').textContent"
        ))
        .await
        .unwrap();
    assert!(
        text.as_str().unwrap().contains("device mql unavailable"),
        "{text}"
    );
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alarms-page.png");
    cdp.screenshot(&shot).await.unwrap();
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    eprintln!("screenshot: {}", shot.display());

    // Acknowledging it from the page works: the agent records it, by the logged-in name, and
    // the button goes away.
    cdp.eval(&format!("{sel}.click(); true")).await.unwrap();
    let acked = wait_until(
        Duration::from_secs(10),
        "the acknowledgement from the page in the agent's history",
        || async {
            let h = get_json(&http, &format!("/api/alarms/history?key={key}"))
                .await
                .ok()?;
            h["events"]
                .as_array()?
                .iter()
                .find(|e| e["cause"] == "acknowledged")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(acked["by"], "tester");
    cdp.wait_eval(&format!("{sel} === null"), Duration::from_secs(10))
        .await
        .expect("the acknowledge button is still shown");
    cdp.screenshot(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alarms-page-acked.png"))
        .await
        .unwrap();

    // The maintenance page shows the history with who acknowledged, filtered by severity.
    cdp.call(
        "Page.navigate",
        json!({ "url": format!("http://{http}/maintenance") }),
    )
    .await
    .unwrap();
    cdp.wait_eval(
        "[...document.querySelectorAll('#history tr')].some(r => r.textContent.includes('acknowledged') && r.textContent.includes('tester'))",
        Duration::from_secs(10),
    )
    .await
    .expect("the maintenance page does not show the acknowledgement");
    cdp.eval(
        "document.querySelector('select[name=severity]').value = 'critical'; \
         document.querySelector('#filters button').click(); true",
    )
    .await
    .unwrap();
    cdp.wait_eval(
        "![...document.querySelectorAll('#history tr')].some(r => r.textContent.includes('device mql unavailable'))",
        Duration::from_secs(10),
    )
    .await
    .expect("the severity filter did not filter the history");
    cdp.screenshot(&PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("maintenance-page.png"))
        .await
        .unwrap();
    agent.shutdown().await;
    sim.shutdown().await;
}
