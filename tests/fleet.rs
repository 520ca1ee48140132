//! Publishing to a fleet broker, end to end: the simulator over real sockets, the agent (in
//! process, or as a child process where it must die), a real Mosquitto and an MQTT subscriber.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use agent::Agent;
use e2e::devices::{clock_device, clock_passes, clock_toml};
use e2e::mosquitto::{first, subscriber, Mosquitto, Received};
use e2e::{dead_addr, get, temp_dir, wait_until, AgentProcess};
use serde_json::Value as Json;
use simulator::Simulator;

async fn simulator(time_scale: f64) -> Simulator {
    let sc = e2e::scenario("normal-near-dry.toml", time_scale);
    Simulator::start(sc).await.unwrap()
}

/// The demo configuration pointed at `sim`, publishing to `port` as `machine_id`.
fn config(
    dir: &Path,
    sim: &Simulator,
    port: u16,
    extra: &str,
) -> anyhow::Result<agent::config::Config> {
    let mqtt = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nsite = \"plant-a\"\nline = \"line-1\"\n{extra}"
    );
    let parsed = agent::config::parse(Path::new("fleet-test.toml"), &mqtt_config(&mqtt))?;
    let mut cfg = agent::demo::simulator_config();
    // The example commits samples every 15 s (the SD card's sake); the test reads them back.
    cfg.store.flush_interval = Duration::from_secs(1);
    cfg.agent.machine_id = parsed.agent.machine_id;
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.mqtt = parsed.mqtt;
    cfg.store.path = dir.join("agent.db");
    cfg.http.token = Some(TOKEN.into());
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    Ok(cfg)
}

/// A minimal configuration file around an `[mqtt]` section: one Modbus device that nobody
/// serves (the signals are published as unavailable), the HTTP server on a free port.
fn mqtt_config(mqtt: &str) -> String {
    mqtt_config_for("vmc-07", dead_addr(), mqtt)
}

fn mqtt_config_for(machine_id: &str, dead: SocketAddr, mqtt: &str) -> String {
    format!(
        r#"
[agent]
machine_id = "{machine_id}"
listen = "127.0.0.1:0"
[store]
flush_interval_ms = 200
[[device]]
name = "plc"
protocol = "modbus-tcp"
address = "{dead}"
timeout_ms = 300
  [[device.tag]]
  name = "hours"
  table = "holding"
  address = 0
{mqtt}
"#
    )
}

const BASE: &str = "green-machining/plant-a/line-1/vmc-07";
const TOKEN: &str = "fleet-test-token-0123456789";
/// Messages the agent, restarted during an outage, adds to its outbox before the broker returns
/// (about three seconds of the simulator's signals at ten times real time).
const NEW_WHILE_DOWN: f64 = 200.0;

fn topic(t: &str) -> String {
    format!("{BASE}/{t}")
}

async fn metric(http: &str, name: &str) -> Option<f64> {
    let (_, body) = get(http, "/metrics").await.ok()?;
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_on_the_documented_topics_with_units_and_timestamps() {
    let dir = temp_dir("fleet-topics");
    let broker = Mosquitto::start(&dir).await;
    let port = broker.port();
    let got = subscriber(port, &format!("{BASE}/#"), None).await;
    let sim = simulator(20.0).await;
    let agent = Agent::start(config(&dir, &sim, port, "").unwrap())
        .await
        .unwrap();

    let online = first(&got, Duration::from_secs(10), &topic("status"), |v| {
        v["state"] == "online"
    })
    .await
    .expect("no online status");
    assert_eq!(online["machine_id"], "vmc-07");

    let speed = first(
        &got,
        Duration::from_secs(15),
        &topic("signals/spindle.speed"),
        |v| v["quality"] == "good",
    )
    .await
    .expect("no good spindle speed on signals/spindle.speed");
    assert_eq!(speed["unit"], "rpm");
    assert_eq!(speed["signal"], "spindle.speed");
    assert!(speed["value"].is_number(), "{speed}");
    assert!(speed["seq"].as_u64().is_some(), "{speed}");
    let ts = speed["ts"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "RFC 3339 in UTC: {ts}");
    let age = agent::value::now_ms() - speed["ts_ms"].as_i64().unwrap();
    assert!(
        (0..60_000).contains(&age),
        "timestamp is the sample's: {age} ms"
    );

    let op = first(&got, Duration::from_secs(60), &topic("operations"), |v| {
        v["record"]["verdict"].is_string()
    })
    .await
    .expect("no finished operation on operations");
    let rec = &op["record"];
    assert!(rec["energy_kwh"].as_f64().unwrap() > 0.0, "{op}");
    assert!(rec["end_ms"].as_i64() > rec["start_ms"].as_i64(), "{op}");
    assert!(op["id"].as_i64().unwrap() > 0);

    let tools = first(&got, Duration::from_secs(40), &topic("life/tools"), |v| {
        v["tools"].as_array().is_some_and(|t| !t.is_empty())
    })
    .await
    .expect("no life/tools");
    assert!(tools["model"]["file"].is_string(), "{tools}");

    // A tool change entered at the machine goes out as a labelled event.
    let tool = tools["tools"][0]["tool_id"].as_str().unwrap().to_string();
    let r = e2e::request(
        &agent.http_addr.to_string(),
        "POST",
        &format!("/api/tools/{tool}/change"),
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("X-Agent-User", "li"),
            ("Content-Type", "application/json"),
        ],
        r#"{"reason": "preventive"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    let change = first(
        &got,
        Duration::from_secs(10),
        &topic("life/tool-changes"),
        |v| v["record"]["tool_id"] == tool.as_str(),
    )
    .await
    .expect("no tool change on life/tool-changes");
    assert_eq!(change["record"]["reason"], "preventive");
    assert_eq!(change["record"]["censored"], true, "{change}");
    assert_eq!(change["record"]["by"], "li");

    // Nothing outside the machine's subtree, every event numbered, and every message of the
    // run (retained states and status included) of one sequence epoch: the de-duplication
    // key is (machine_id, epoch, seq).
    let all = got.lock().unwrap().clone();
    assert!(all.iter().all(|(t, _, _)| t.starts_with(BASE)));
    assert!(all
        .iter()
        .filter(|(t, _, _)| t.contains("/signals/") || t.ends_with("/operations"))
        .all(|(_, _, v)| v["seq"].is_u64()));
    let epoch = speed["epoch"].as_str().expect("an epoch").to_string();
    assert!(
        epoch.len() == 16 && epoch.chars().all(|c| c.is_ascii_hexdigit()),
        "{epoch}"
    );
    let others: Vec<_> = all
        .iter()
        .filter(|(_, _, v)| v["epoch"] != epoch.as_str())
        .collect();
    assert!(others.is_empty(), "messages of another epoch: {others:?}");
    agent.shutdown().await;
    let bye = first(&got, Duration::from_secs(5), &topic("status"), |v| {
        v["state"] == "offline"
    })
    .await
    .expect("no offline status after a clean stop");
    assert_eq!(bye["reason"], "stopped");
}

/// The numbered (event) messages as first received: (seq, topic).
fn events(got: &Received) -> Vec<(u64, String)> {
    let mut seen = HashSet::new();
    got.lock()
        .unwrap()
        .iter()
        .filter_map(|(t, _, v)| Some((v["seq"].as_u64()?, t.clone())))
        .filter(|(s, _)| seen.insert(*s))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_and_an_agent_restart_lose_nothing_and_keep_the_order() {
    let dir = temp_dir("fleet-outage");
    let broker = Mosquitto::start_persistent(&dir).await;
    let port = broker.port();
    // A persistent session: the broker keeps for it what arrives while it reconnects.
    let got = subscriber(port, &format!("{BASE}/#"), Some("fleet-outage-historian")).await;
    let sim = simulator(10.0).await;
    let extra = "signal_min_interval_ms = 200\nsignal_heartbeat_s = 2\n";
    let agent = Agent::start(config(&dir, &sim, port, extra).unwrap())
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    wait_until(
        Duration::from_secs(15),
        "more than 50 messages before the outage",
        || async { (events(&got).len() > 50).then_some(()) },
    )
    .await
    .unwrap();

    // The broker goes away for a while; messages pile up and go to the outbox file.
    let broker = broker.stop();
    let before = events(&got).last().unwrap().0;
    let on_disk = wait_until(
        Duration::from_secs(15),
        "more than 20 messages in the outbox file while the broker is down",
        || async {
            metric(&http, "agent_mqtt_queued_on_disk")
                .await
                .filter(|n| *n > 20.0)
        },
    )
    .await
    .unwrap();
    assert_eq!(metric(&http, "agent_mqtt_connected").await, Some(0.0));

    // The agent itself restarts meanwhile: what it kept on disk survives.
    agent.shutdown().await;
    let agent = Agent::start(config(&dir, &sim, port, extra).unwrap())
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    // The restarted agent goes on producing while the broker is still down: what it kept on
    // disk and what it adds wait together.
    let restored = metric(&http, "agent_mqtt_queued").await.unwrap();
    let produced = wait_until(
        Duration::from_secs(30),
        format!("{NEW_WHILE_DOWN} new messages in the restarted agent's outbox"),
        || async {
            metric(&http, "agent_mqtt_queued")
                .await
                .filter(|n| *n >= restored + NEW_WHILE_DOWN)
        },
    )
    .await
    .unwrap();

    let _broker = broker.start().await;
    wait_until(
        Duration::from_secs(60),
        "the outbox to drain after the broker came back",
        || async {
            metric(&http, "agent_mqtt_queued")
                .await
                .filter(|n| *n < 5.0)
        },
    )
    .await
    .unwrap();
    // Everything that waited reaches the historian (if not, the assertions below say what is
    // missing or out of order).
    let _ = wait_until(
        Duration::from_secs(20),
        format!("the historian to receive the {produced} messages that waited"),
        || async {
            let after = events(&got).iter().filter(|(s, _)| *s > before).count();
            (after as f64 >= produced).then_some(())
        },
    )
    .await;

    let ev = events(&got);
    let seqs: Vec<u64> = ev.iter().map(|(s, _)| *s).collect();
    // One sequence epoch across the restart: the outbox file was read back, not replaced.
    let epochs: HashSet<String> = got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(_, _, v)| Some(v["epoch"].as_str()?.to_string()))
        .collect();
    assert_eq!(epochs.len(), 1, "{epochs:?}");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "out of order: {:?}",
        seqs.windows(2).find(|w| w[0] >= w[1])
    );
    let missing: Vec<u64> = (seqs[0]..=*seqs.last().unwrap())
        .filter(|s| !seqs.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "lost {} messages: {missing:?}",
        missing.len()
    );
    let after = seqs.iter().filter(|s| **s > before).count();
    eprintln!(
        "{} messages in order without a gap; {after} after the broker stopped, {produced} waiting \
         for it after the agent's restart ({on_disk} had been on disk before)",
        seqs.len()
    );
    assert!(
        after as f64 >= produced,
        "{after} messages after the outage began, {produced} were waiting ({on_disk} on disk)"
    );
    assert_eq!(metric(&http, "agent_mqtt_dropped_total").await, Some(0.0));
    agent.shutdown().await;
}

/// The agent as a child process (to be killed), publishing as `machine_id`, with the clock
/// device at `clock` beside the device nobody serves.
async fn agent_process(
    dir: &Path,
    machine_id: &str,
    broker: u16,
    clock: SocketAddr,
) -> AgentProcess {
    let file = dir.join(format!("{machine_id}.toml"));
    let mqtt = format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {broker}\nsite = \"plant-a\"\nline = \"line-1\"\nkeep_alive_s = 5\n"
    );
    let src = mqtt_config_for(machine_id, dead_addr(), &mqtt).replace(
        "[store]\n",
        &format!("[store]\npath = \"{}/{machine_id}.db\"\n", dir.display()),
    ) + &clock_toml(clock);
    std::fs::write(&file, src).unwrap();
    AgentProcess::run(env!("CARGO_BIN_EXE_agent-e2e"), &file).await
}

fn status_of(got: &Received, machine: &str) -> Vec<Json> {
    let t = format!("green-machining/plant-a/line-1/{machine}/status");
    got.lock()
        .unwrap()
        .iter()
        .filter(|(topic, _, _)| *topic == t)
        .map(|(_, _, v)| v.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_broker_and_the_last_will_marks_a_killed_one_offline() {
    let dir = temp_dir("fleet-two");
    let broker = Mosquitto::start(&dir).await;
    let port = broker.port();
    let got = subscriber(port, "green-machining/plant-a/line-1/+/#", None).await;
    let clock = clock_device().await;
    let mut a = agent_process(&dir, "vmc-a", port, clock).await;
    let b = agent_process(&dir, "vmc-b", port, clock).await;

    for m in ["vmc-a", "vmc-b"] {
        wait_until(
            Duration::from_secs(20),
            format!("{m} to come online"),
            || async {
                status_of(&got, m)
                    .iter()
                    .any(|v| v["state"] == "online")
                    .then_some(())
            },
        )
        .await
        .unwrap();
    }
    // Side by side for a while (4 s on each agent's own poll loop): each under its own machine,
    // neither pushing the other off the broker (same client id would make them take turns,
    // each time with a last will).
    let (ran_a, ran_b) = tokio::join!(
        clock_passes(&a.http, Duration::from_secs(4)),
        clock_passes(&b.http, Duration::from_secs(4))
    );
    ran_a.unwrap();
    ran_b.unwrap();
    for m in ["vmc-a", "vmc-b"] {
        let s = status_of(&got, m);
        assert!(
            s.iter().all(|v| v["state"] == "online"),
            "{m} went offline while both ran: {s:?}"
        );
        let topic = format!("green-machining/plant-a/line-1/{m}/signals/plc.hours");
        let sig = got
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _, _)| *t == topic)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| panic!("no signal from {m}"));
        assert_eq!(sig["machine_id"], m);
        assert_eq!(sig["quality"], "unavailable", "nobody serves the device");
    }

    // kill -9: no goodbye, the broker publishes the last will.
    a.kill();
    let will = wait_until(
        Duration::from_secs(15),
        "the last will of the killed agent",
        || async {
            status_of(&got, "vmc-a")
                .into_iter()
                .find(|v| v["state"] == "offline")
        },
    )
    .await
    .unwrap();
    assert_eq!(will["reason"], "connection lost");
    assert_eq!(will["machine_id"], "vmc-a");
    assert!(
        status_of(&got, "vmc-b")
            .iter()
            .all(|v| v["state"] == "online"),
        "the other agent was affected"
    );
}
