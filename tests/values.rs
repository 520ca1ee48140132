//! Bad values and glitches from devices, over real sockets: a third-party OPC UA server
//! (python asyncua) that publishes NaN, infinity and a Bad status and counts the sessions it
//! holds, and a Modbus device whose counter the test glitches and resets. The agent runs
//! in-process with a real SQLite file.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent::Agent;
use e2e::asyncua::OpcUaServer;
use e2e::{get_json, temp_dir, wait_until};
use serde_json::Value as Json;

/// The agent with `devices` and `extra` sections: fast alarms, a store flushed every 100 ms.
fn config(dir: &Path, devices: &str, extra: &str) -> agent::config::Config {
    let src = format!(
        r#"
[agent]
machine_id = "vmc-values"
listen = "127.0.0.1:0"
[store]
path = "{}/agent.db"
flush_interval_ms = 100
[alarms]
tick_ms = 50
on_delay_ms = 200
off_delay_ms = 200
[operations]
start_delay_ms = 100
end_delay_ms = 300
[poll_groups.fast]
interval_ms = 100
{devices}
{extra}
"#,
        dir.display()
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, &src).unwrap();
    agent::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// An OPC UA device `cnc` at `server`, tags (node name, signal) under `ns=`.
fn cnc(server: &OpcUaServer, timeout_ms: u64, tags: &[(&str, &str)]) -> String {
    let mut s = format!(
        r#"
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "{}"
group = "fast"
timeout_ms = {timeout_ms}
stale_after_ms = 3000
"#,
        server.endpoint
    );
    for (node, signal) in tags {
        s.push_str(&format!(
            "  [[device.tag]]\n  name = \"{}\"\n  node = \"ns={};s={node}\"\n  signal = \"{signal}\"\n",
            node.replace('.', "_"),
            server.ns
        ));
    }
    s
}

async fn signal(http: &str, name: &str) -> Option<Json> {
    let s = get_json(http, "/api/signals").await.ok()?;
    s.as_array()?.iter().find(|x| x["signal"] == name).cloned()
}

async fn alarm(http: &str, key: &str) -> Option<Json> {
    let a = get_json(http, "/api/alarms").await.ok()?;
    a["alarms"]
        .as_array()?
        .iter()
        .find(|x| x["key"] == key)
        .cloned()
}

/// The server's answer, asked off the runtime's worker (it is a blocking pipe).
fn sessions(server: &OpcUaServer) -> (u64, u64, u64) {
    tokio::task::block_in_place(|| server.sessions())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nan_infinity_and_a_bad_status_are_unavailable_never_integrated_and_raise_the_tag_alarm() {
    // A cut under way (turning, feeding, loaded) while the power meter says NaN, the X axis
    // +Inf and the bearing sensor is Bad; Axis.Y.Position does not exist on this server.
    let server = OpcUaServer::start(&[
        ("Spindle.ActSpeed", "5000"),
        ("Spindle.Load", "20"),
        ("Channel.Feedrate", "1000"),
        ("Spindle.Power", "nan"),
        ("Axis.X.Position", "inf"),
        ("Spindle.BearingTemp", "bad:BadSensorFailure"),
        ("Tool.Id", "\"T1\""),
    ]);
    let dir = temp_dir("values-opcua");
    let devices = cnc(
        &server,
        1000,
        &[
            ("Spindle.ActSpeed", "spindle.speed"),
            ("Spindle.Load", "spindle.load"),
            ("Channel.Feedrate", "channel.feedrate"),
            ("Spindle.Power", "spindle.power"),
            ("Axis.X.Position", "axis.x.position"),
            ("Axis.Y.Position", "axis.y.position"),
            ("Spindle.BearingTemp", "spindle.bearing_temp"),
            ("Tool.Id", "tool.id"),
        ],
    );
    let agent = Agent::start(config(&dir, &devices, "")).await.unwrap();
    let http = agent.http_addr.to_string();

    for (name, error) in [
        ("spindle.power", "not finite"),
        ("axis.x.position", "not finite"),
        ("spindle.bearing_temp", "BadSensorFailure"),
        ("axis.y.position", "BadNodeIdUnknown"),
    ] {
        let s = wait_until(
            Duration::from_secs(30),
            format!("{name} unavailable with `{error}`"),
            || async {
                signal(&http, name)
                    .await
                    .filter(|s| s["quality"] == "unavailable" && s["error"] == error)
            },
        )
        .await
        .unwrap();
        assert!(s["value"].is_null(), "never shown: {s}");
    }
    let speed = signal(&http, "spindle.speed").await.unwrap();
    assert_eq!(speed["quality"], "good", "{speed}");
    assert_eq!(speed["value"], 5000.0);

    // One alarm names every failing tag and why.
    let a = wait_until(
        Duration::from_secs(10),
        "device:cnc:tag-failed raised",
        || async { alarm(&http, "device:cnc:tag-failed").await },
    )
    .await
    .unwrap();
    assert_eq!(a["state"], "active_unacked", "{a}");
    let msg = a["message"].as_str().unwrap();
    assert!(msg.starts_with("device cnc: 4 tags failed: "), "{msg}");
    for part in [
        "spindle.power (not finite)",
        "axis.x.position (not finite)",
        "axis.y.position (BadNodeIdUnknown)",
        "spindle.bearing_temp (BadSensorFailure)",
    ] {
        assert!(msg.contains(part), "{part} in {msg}");
    }
    let devices = get_json(&http, "/api/devices").await.unwrap();
    assert_eq!(devices[0]["failed_tags"].as_array().unwrap().len(), 4);

    // The cut is an operation; it ends when the feed stops. Its energy is what was measured:
    // nothing, never a NaN or an infinity (which would make it unreadable).
    wait_until(Duration::from_secs(10), "the cut to open", || async {
        let c = get_json(&http, "/api/compliance").await.ok()?;
        c["operation"].is_object().then_some(())
    })
    .await
    .unwrap();
    tokio::task::block_in_place(|| server.set("Channel.Feedrate", "0"));
    let ops = wait_until(Duration::from_secs(10), "the operation stored", || async {
        let o = get_json(&http, "/api/operations").await.ok()?;
        (o.as_array()?.len() == 1).then_some(o)
    })
    .await
    .unwrap();
    let op = &ops[0];
    assert!(op["cutting_s"].as_f64().unwrap() > 0.0, "{op}");
    assert_eq!(op["energy_kwh"].as_f64(), Some(0.0), "{op}");
    assert!(op["spindle_power_mean_kw"].is_null(), "{op}");
    assert!(op["spindle_power_max_kw"].is_null(), "{op}");
    // The axis travel of the service history took nothing from the infinite position.
    let life = get_json(&http, "/api/life").await.unwrap();
    let x = life["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ball-screw-x")
        .cloned()
        .unwrap();
    assert_eq!(x["service"]["travel_mm"], 0.0, "{x}");

    // The sensor comes back: the value is good, and once every tag is, the alarm clears.
    tokio::task::block_in_place(|| {
        server.set("Spindle.Power", "3.5");
        server.set("Axis.X.Position", "120.5");
        server.set("Spindle.BearingTemp", "41.0");
    });
    wait_until(Duration::from_secs(10), "spindle.power good", || async {
        signal(&http, "spindle.power")
            .await
            .filter(|s| s["quality"] == "good" && s["value"] == 3.5)
    })
    .await
    .unwrap();
    wait_until(
        Duration::from_secs(10),
        "only the missing node to be failing",
        || async {
            let d = get_json(&http, "/api/devices").await.ok()?;
            let failed = d[0]["failed_tags"].as_array()?.clone();
            (failed.len() == 1 && failed[0]["signal"] == "axis.y.position").then_some(())
        },
    )
    .await
    .unwrap();
    let a = alarm(&http, "device:cnc:tag-failed").await.unwrap();
    assert_eq!(a["condition"], true, "still failing: {a}");
    agent.shutdown().await;
    // The store never holds a non-finite sample: SQLite would keep NaN as NULL and infinity
    // as a REAL; only the gaps (NULL) and good values are there.
    let conn = rusqlite::Connection::open(dir.join("agent.db")).unwrap();
    let infinite: i64 = conn
        .query_row(
            "SELECT count(*) FROM sample WHERE num > 1e308 OR num < -1e308",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(infinite, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcua_sessions_are_closed_on_the_server_at_a_stop_and_after_every_failure() {
    // Axis.Y.Position is missing: the agent reads it periodically instead of subscribing, so
    // a stalled read of it fails the session while its connection is still up.
    let server = OpcUaServer::start(&[("Spindle.ActSpeed", "5000")]);
    let tags = [
        ("Spindle.ActSpeed", "spindle.speed"),
        ("Axis.Y.Position", "axis.y.position"),
    ];

    // A clean stop closes the session: asyncua would otherwise keep it (it has
    // subscriptions) until its timeout.
    let dir = temp_dir("values-sessions-stop");
    let agent = Agent::start(config(&dir, &cnc(&server, 1000, &tags), ""))
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    wait_until(Duration::from_secs(30), "spindle.speed good", || async {
        signal(&http, "spindle.speed")
            .await
            .filter(|s| s["quality"] == "good")
    })
    .await
    .unwrap();
    assert_eq!(sessions(&server).0, 1);
    agent.shutdown().await;
    let (open, seen, _) = sessions(&server);
    assert_eq!(
        (open, seen),
        (0, 1),
        "closed by the time the agent has stopped"
    );

    // A failing session: a read of the CNC's nodes now takes 1.5 s, longer than the agent's
    // 1 s timeout, so each session fails on its periodic read and the agent reconnects. Each failed session
    // is closed before the next one opens: the server never holds more than one.
    tokio::task::block_in_place(|| server.stall_reads(1.5));
    let dir = temp_dir("values-sessions-flap");
    let agent = Agent::start(config(&dir, &cnc(&server, 1000, &tags), ""))
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    let (_, seen, most) = wait_until(
        Duration::from_secs(90),
        "four more sessions, each failed on a stalled read",
        || async {
            let s = sessions(&server);
            (s.1 >= 5).then_some(s)
        },
    )
    .await
    .unwrap();
    let d = get_json(&http, "/api/devices").await.unwrap();
    assert!(
        d[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "the sessions failed on the stalled read: {d}"
    );
    assert_eq!(most, 1, "{seen} sessions, at most {most} open at once");
    agent.shutdown().await;
    wait_until(Duration::from_secs(10), "no session left", || async {
        (sessions(&server).0 == 0).then_some(())
    })
    .await
    .unwrap();
}

/// A Modbus MQL unit whose pump stroke counter (a u32 in holding registers 0-1) the test
/// sets: a glitch and a reset at the device.
async fn pump_device() -> (SocketAddr, e2e::devices::Registers) {
    e2e::devices::registers(2).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_glitch_and_a_reset_at_the_device_keep_usage_sane_and_are_recorded() {
    let (addr, regs) = pump_device().await;
    regs.set_u32(0, 1000);
    let dir = temp_dir("values-counter");
    let devices = format!(
        r#"
[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "{addr}"
group = "fast"
timeout_ms = 500
  [[device.tag]]
  name = "strokes"
  table = "holding"
  address = 0
  type = "u32"
  signal = "mql.pump_strokes"
"#
    );
    let extra = r#"
[[alarms.component]]
name = "mql-pump"
signal = "mql.pump_strokes"
warning = 1005
limit = 1000000
"#;
    let agent = Agent::start(config(&dir, &devices, extra)).await.unwrap();
    let http = agent.http_addr.to_string();
    let http = Arc::new(http);
    let used = || {
        let http = http.clone();
        async move {
            let c = get_json(&http, "/api/components").await.ok()?;
            c["components"][0]["used"].as_f64()
        }
    };
    // The service history's strokes, once it has judged the counter's value `v`.
    let strokes = |v: u32| {
        let http = http.clone();
        async move {
            let l = get_json(&http, "/api/life").await.ok()?;
            let pump = l["components"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == "mql-pump")?["service"]
                .clone();
            (pump["strokes_counter"].as_f64()? == f64::from(v)).then_some(())?;
            pump["strokes"].as_f64()
        }
    };
    let events = || {
        let http = http.clone();
        async move {
            let e = get_json(&http, "/api/counter-events").await.ok()?;
            Some(e["events"].as_array()?.len())
        }
    };
    let read = || {
        let http = http.clone();
        async move { signal(&http, "mql.pump_strokes").await?["value"].as_f64() }
    };
    // Each value is read, counted and its events stored before the next is set.
    let step = |v: u32, want_used: f64, want_strokes: f64, want_events: usize| {
        regs.set_u32(0, v);
        async move {
            let seen = std::sync::Mutex::new(None);
            let got = wait_until(
                Duration::from_secs(10),
                format!(
                    "counter {v}: used {want_used}, service strokes {want_strokes}, \
                     {want_events} counter events"
                ),
                || async {
                    let now = (read().await, used().await, strokes(v).await, events().await);
                    *seen.lock().unwrap() = Some(now);
                    (now == (
                        Some(f64::from(v)),
                        Some(want_used),
                        Some(want_strokes),
                        Some(want_events),
                    ))
                        .then_some(())
                },
            )
            .await;
            if let Err(e) = got {
                panic!(
                    "{e}; last seen (value, used, strokes, events): {:?}",
                    seen.lock().unwrap()
                );
            }
        }
    };
    step(1000, 1000.0, 0.0, 0).await;
    step(1010, 1010.0, 10.0, 0).await;
    // A torn register: 4 000 000 000 strokes in a tenth of a second. Not counted.
    step(4_000_000_000, 1010.0, 10.0, 2).await;
    step(4_000_000_005, 1015.0, 15.0, 2).await;
    // A new controller: the counter starts from 3. Usage counts on, never negative.
    step(3, 1015.0, 15.0, 4).await;
    step(8, 1020.0, 20.0, 4).await;

    // The warning raised at 1010 strokes stayed on through the reset.
    let a = alarm(&http, "component:mql-pump:life-warning")
        .await
        .unwrap();
    assert_eq!(a["state"], "active_unacked", "{a}");
    assert_eq!(a["condition"], true, "{a}");
    let h = get_json(&http, "/api/alarms/history?key=component:mql-pump")
        .await
        .unwrap();
    assert_eq!(
        h["events"].as_array().unwrap().len(),
        1,
        "never cleared: {h}"
    );

    // The audit trail: each user of the signal recorded the jump and the reset.
    let events = get_json(&http, "/api/counter-events").await.unwrap();
    let mut got: Vec<(String, String, f64, f64)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["signal"], "mql.pump_strokes");
            (
                e["counter"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
                e["from_value"].as_f64().unwrap(),
                e["to_value"].as_f64().unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        vec![
            (
                s("component:mql-pump"),
                s("backwards"),
                4_000_000_005.0,
                3.0
            ),
            (s("component:mql-pump"), s("jump"), 1010.0, 4_000_000_000.0),
            (s("service-history"), s("backwards"), 4_000_000_005.0, 3.0),
            (s("service-history"), s("jump"), 1010.0, 4_000_000_000.0),
        ]
    );
    let (_, m) = e2e::get(&http, "/metrics").await.unwrap();
    for line in [
        r#"agent_counter_events_total{counter="component:mql-pump",signal="mql.pump_strokes",kind="jump"} 1"#,
        r#"agent_counter_events_total{counter="service-history",signal="mql.pump_strokes",kind="backwards"} 1"#,
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in /metrics");
    }

    // After a restart the component's life goes on from where it was.
    agent.shutdown().await;
    let agent = Agent::start(config(&dir, &devices, extra)).await.unwrap();
    let http = agent.http_addr.to_string();
    regs.set_u32(0, 12);
    wait_until(
        Duration::from_secs(10),
        "usage 1024 after the restart",
        || async {
            let c = get_json(&http, "/api/components").await.ok()?;
            (c["components"][0]["used"].as_f64()? == 1024.0).then_some(())
        },
    )
    .await
    .unwrap();
    agent.shutdown().await;
}
