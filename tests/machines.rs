//! From the simulator to a real machine (issue 11), against servers this project did not
//! write: a CNC as a python asyncua OPC UA server shaped like a real control (vendor nodes with
//! numeric ids, string ids for PLC signals, an Int32 program number, no cooling-mode node, the
//! coolant M-code, and an OPC 40501-style MachineTool object) and an MQL unit as a python
//! pymodbus server (oil flow and air pressure as float32 in CDAB word order). The agent runs
//! in-process with a real SQLite file, or as its own binary for the command-line tools.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use agent::Agent;
use e2e::asyncua::OpcUaServer;
use e2e::mosquitto::{first, subscriber, Mosquitto};
use e2e::pymodbus::ModbusServer;
use e2e::{get_json, request, temp_dir, wait_until};
use serde_json::Value as Json;

fn agent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_agent-e2e")
}

/// The control's address space: what a 3-axis mill's controller publishes (speed, power, feed,
/// program number, positions under numeric ids; the coolant M-code and the door as PLC signals
/// under string ids) and an OPC 40501-1-style MachineTool object (browse names from OPC 40501-1
/// §8.3.6, §8.3.7, §8.4.5). No cooling mode, no tool or workpiece material.
const CONTROL: &[(&str, &str)] = &[
    ("Controller/Spindle/ActSpeed#1001", "0"),
    ("Controller/Spindle/ActPower#1002", "0"),
    ("Controller/Path/ActFeedrate#1003", "0"),
    ("Controller/Program/Number#1004", "i32:1001"),
    ("Controller/Axes/X#1005", "120.5"),
    ("Controller/Axes/Y#1006", "80.25"),
    ("Controller/Axes/Z#1007", "-12"),
    ("PLC/M_Coolant", "i32:9"),
    ("MachineTool/Monitoring/Spindle/IsRotating", "false"),
    ("MachineTool/Monitoring/Spindle/Override", "100"),
    ("MachineTool/Monitoring/Channel1/ChannelState", "i32:2"),
    ("MachineTool/Monitoring/Channel1/ChannelMode", "i32:0"),
    ("MachineTool/Production/ActiveProgram/Name", "\"O1001\""),
];

/// The MQL unit's map, as its manual would give it: zero-based input registers, float32 CDAB.
const OIL_FLOW: u16 = 7;
const AIR_PRESSURE: u16 = 9;

/// The one file a user edits for a machine like this: the CNC's tags by node id, the MQL unit's
/// registers, and the machine context the controller does not publish (the cooling mode from
/// the coolant M-code, the load from power against the spindle's rating, the program table).
fn machine_toml(
    dir: &Path,
    cnc: &OpcUaServer,
    mql: &ModbusServer,
    context: bool,
    extra: &str,
) -> String {
    let ns = |id: &str| format!("ns={};{id}", cnc.ns);
    let machine = if context {
        std::fs::write(
            dir.join("programs.toml"),
            "[[program]]\nname = \"1001\"\nmaterial_group = \"P\"\nworkpiece_material = \"C45\"\n",
        )
        .unwrap();
        r#"
[machine]
program_table = "programs.toml"

[[machine.derived]]
signal = "cooling.mode"
kind = "codes"
input = "cnc.coolant_code"
codes = { "7" = "mql", "8" = "flood", "9" = "dry" }

[[machine.derived]]
signal = "spindle.load"
kind = "percent_of_rated"
input = "spindle.power"
rated = 15.0
"#
    } else {
        // Without the context: the load still comes from power, but no cooling mode.
        r#"
[[machine.derived]]
signal = "spindle.load"
kind = "percent_of_rated"
input = "spindle.power"
rated = 15.0
"#
    };
    format!(
        r#"
[agent]
machine_id = "mill-01"
listen = "127.0.0.1:0"

[store]
path = "{store}"
flush_interval_ms = 100

[alarms]
tick_ms = 50
on_delay_ms = 200
off_delay_ms = 200

[operations]
tick_ms = 50
start_delay_ms = 200
end_delay_ms = 400

[compliance]
profiles = ["{standards}/gbt31210-near-dry.toml", "{standards}/gbt28614-dry.toml"]

[http]
token = "machines-test-token-0123456789"

[poll_groups]
fast = {{ interval_ms = 100 }}
{machine}
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "{endpoint}"
group = "fast"
stale_after_ms = 3000

  [[device.tag]]
  name = "speed"
  node = "{speed}"
  signal = "spindle.speed"
  [[device.tag]]
  name = "power"
  node = "{power}"
  signal = "spindle.power"
  [[device.tag]]
  name = "feed"
  node = "{feed}"
  signal = "channel.feedrate"
  [[device.tag]]
  name = "program"
  node = "{program}"
  signal = "channel.program"
  [[device.tag]]
  name = "x"
  node = "{x}"
  signal = "axis.x.position"
  [[device.tag]]
  name = "coolant_code"
  node = "{coolant}"

[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "{mql}"
unit_id = 1
group = "fast"
stale_after_ms = 3000

  [[device.tag]]
  name = "oil_flow"
  table = "input"
  address = {OIL_FLOW}
  type = "f32"
  word_order = "little"
  signal = "mql.oil_flow"
  [[device.tag]]
  name = "air_pressure"
  table = "input"
  address = {AIR_PRESSURE}
  type = "f32"
  word_order = "little"
  signal = "mql.air_pressure"
{extra}
"#,
        store = dir.join("agent.db").display(),
        standards = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../configs/standards")
            .display(),
        endpoint = cnc.endpoint,
        speed = ns("i=1001"),
        power = ns("i=1002"),
        feed = ns("i=1003"),
        program = ns("i=1004"),
        x = ns("i=1005"),
        coolant = ns("s=PLC.M_Coolant"),
        mql = mql.address,
    )
}

fn load(dir: &Path, text: &str) -> agent::config::Config {
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    // It holds the token: only its owner may read it, or the agent refuses it.
    e2e::private(&path);
    agent::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Sets nodes of the control; blocking pipe, so off the runtime's worker.
fn set(cnc: &OpcUaServer, values: &[(&str, &str)]) {
    tokio::task::block_in_place(|| {
        for (n, v) in values {
            cnc.set(n, v);
        }
    });
}

fn set_mql(mql: &ModbusServer, oil_ml_h: f64, air_mpa: f64) {
    tokio::task::block_in_place(|| {
        mql.set("input", OIL_FLOW, "f32cdab", oil_ml_h);
        mql.set("input", AIR_PRESSURE, "f32cdab", air_mpa);
    });
}

/// The machine cuts: spindle at 8000 rpm, 4 kW, feed 1200 mm/min, the coolant M-code `code`.
fn cut(cnc: &OpcUaServer, code: &str) {
    set(
        cnc,
        &[
            ("Controller/Spindle/ActSpeed", "8000"),
            ("Controller/Spindle/ActPower", "4"),
            ("Controller/Path/ActFeedrate", "1200"),
            ("PLC/M_Coolant", code),
        ],
    );
}

fn stop(cnc: &OpcUaServer) {
    set(
        cnc,
        &[
            ("Controller/Spindle/ActSpeed", "0"),
            ("Controller/Spindle/ActPower", "0"),
            ("Controller/Path/ActFeedrate", "0"),
        ],
    );
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

async fn operations(http: &str) -> Vec<Json> {
    get_json(http, &format!("/api/operations?{}", e2e::from_a_day_ago()))
        .await
        .ok()
        .and_then(|o| o.as_array().cloned())
        .unwrap_or_default()
}

/// Waits until every signal the devices feed reads good (and what they derive from them);
/// returns all signals.
async fn all_good(http: &str) -> Json {
    let last = std::sync::Mutex::new(Json::Null);
    let r = wait_until(
        Duration::from_secs(30),
        "every device signal good",
        || async {
            let s = get_json(http, "/api/signals").await.ok()?;
            *last.lock().unwrap() = s.clone();
            s.as_array()?
                .iter()
                .filter(|x| x["source"] == "device" || x["source"] == "derived")
                .all(|x| x["quality"] == "good")
                .then_some(s)
        },
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}: {}", last.lock().unwrap()))
}

const STARVATION: &str = "rule:gbt31210-near-dry.mql-oil-flow-while-cutting";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_that_publishes_only_speed_power_feed_program_and_positions_gets_live_verdicts_and_a_starvation_alarm(
) {
    let cnc = OpcUaServer::start(CONTROL);
    let mql = ModbusServer::start();
    set_mql(&mql, 20.0, 0.5);
    let dir = temp_dir("machines-done");
    let cfg = load(&dir, &machine_toml(&dir, &cnc, &mql, true, ""));
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    let signals = all_good(&http).await;
    let find = |name: &str| {
        signals
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["signal"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {signals}"))
    };
    // The Int32 program number is the text "1001"; the float in CDAB order decodes right; the
    // cooling mode and load are derived, the material comes from the program table.
    assert_eq!(find("channel.program")["value"], "1001");
    assert_eq!(find("mql.oil_flow")["value"], 20.0);
    assert_eq!(find("cooling.mode")["value"], "dry", "M09 before the cut");
    assert_eq!(find("cooling.mode")["source"], "derived");
    // The program table looks the Int32 program number up by its text.
    let group = wait_until(
        Duration::from_secs(10),
        "the program table's material",
        || async {
            signal(&http, "workpiece.material_group")
                .await
                .filter(|s| s["value"] == "P")
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", find("workpiece.material_group")));
    assert_eq!(group["source"], "table");

    // The first operation: cut with M07 (mist: MQL) and a healthy unit.
    cut(&cnc, "i32:7");
    let live = wait_until(
        Duration::from_secs(20),
        "a live verdict while cutting",
        || async {
            let c = get_json(&http, "/api/compliance").await.ok()?;
            (c["cutting"] == true && c["verdict"] == "compliant").then_some(c)
        },
    )
    .await
    .unwrap();
    assert_eq!(live["cooling_mode"], "mql");
    // Let the first operation end and look at its record.
    wait_until(Duration::from_secs(20), "some judged cutting", || async {
        let c = get_json(&http, "/api/compliance").await.ok()?;
        c["operation"]["judged_s"].as_f64().filter(|s| *s > 0.3)
    })
    .await
    .unwrap();
    stop(&cnc);
    let op = wait_until(
        Duration::from_secs(20),
        "the first operation stored",
        || async { operations(&http).await.into_iter().next() },
    )
    .await
    .unwrap();
    assert_eq!(op["verdict"], "compliant", "{op}");
    assert_eq!(op["program"], "1001", "{op}");
    assert_eq!(op["cooling_mode"], "mql", "{op}");
    assert!(op["judged_s"].as_f64().unwrap() > 0.0, "{op}");
    assert_eq!(op["compliant_share"], 1.0, "{op}");

    // Starvation: the oil stops while the machine cuts. The alarm waits for the rule's grace,
    // then rises.
    cut(&cnc, "i32:7");
    wait_until(Duration::from_secs(20), "cutting again", || async {
        let c = get_json(&http, "/api/compliance").await.ok()?;
        (c["cutting"] == true).then_some(())
    })
    .await
    .unwrap();
    let grace = Duration::from_secs(5); // the rule's grace_s in gbt31210-near-dry.toml
    let stopped_at = Instant::now();
    set_mql(&mql, 0.0, 0.5);
    let a = wait_until(
        grace + Duration::from_secs(15),
        "the starvation alarm",
        || async {
            alarm(&http, STARVATION)
                .await
                .filter(|a| a["state"] == "active_unacked")
        },
    )
    .await
    .unwrap();
    let after = stopped_at.elapsed();
    println!("starvation alarm {after:?} after the oil stopped (grace {grace:?}): {a}");
    assert!(after >= grace, "raised before the grace ran out: {after:?}");
    assert_eq!(a["severity"], "critical", "{a}");
    assert!(
        a["message"].as_str().unwrap().contains("mql.oil_flow"),
        "{a}"
    );
    let c = get_json(&http, "/api/compliance").await.unwrap();
    assert_eq!(c["verdict"], "violation", "{c}");
    assert_eq!(c["cooling_mode"], "mql", "{c}");
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_with_unknown_cooling_mode_is_not_compliant_in_the_api_summary_mqtt_or_export()
{
    let cnc = OpcUaServer::start(CONTROL);
    let mql = ModbusServer::start();
    set_mql(&mql, 20.0, 0.5);
    let dir = temp_dir("machines-unknown-cooling");
    let broker = Mosquitto::start(&dir).await;
    let port = broker.port();
    let got = subscriber(port, "green-machining/#", None).await;
    let mqtt =
        format!("[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nsite = \"plant\"\nline = \"l1\"\n");
    let cfg = load(&dir, &machine_toml(&dir, &cnc, &mql, false, &mqtt));
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    all_good(&http).await;
    assert!(
        signal(&http, "cooling.mode").await.is_none(),
        "nothing feeds it"
    );

    // A cut with everything a near-dry check needs, except the cooling mode.
    cut(&cnc, "i32:7");
    wait_until(
        Duration::from_secs(20),
        "an operation under way",
        || async {
            let c = get_json(&http, "/api/compliance").await.ok()?;
            c["operation"]["cutting_s"].as_f64().filter(|s| *s > 0.5)
        },
    )
    .await
    .unwrap();
    let live = get_json(&http, "/api/compliance").await.unwrap();
    assert_ne!(live["verdict"], "compliant", "{live}");
    stop(&cnc);
    let op = wait_until(Duration::from_secs(20), "the operation stored", || async {
        operations(&http).await.into_iter().next()
    })
    .await
    .unwrap();
    assert_eq!(op["verdict"], "no_data", "{op}");
    assert_eq!(op["judged_s"], 0.0, "{op}");
    assert!(op["cooling_mode"].is_null(), "{op}");
    assert!(op["cutting_s"].as_f64().unwrap() > 0.0, "{op}");
    assert_ne!(op["compliant_share"], 1.0, "{op}");

    let sum = get_json(&http, &format!("/api/summary?{}", e2e::from_a_day_ago()))
        .await
        .unwrap();
    assert_eq!(sum["judged_s"], 0.0, "{sum}");
    assert!(sum["not_judged_s"].as_f64().unwrap() > 0.0, "{sum}");
    assert!(
        sum["compliant_share"].is_null(),
        "nothing judged, no share: {sum}"
    );

    let published = first(
        &got,
        Duration::from_secs(20),
        "green-machining/plant/l1/mill-01/operations",
        |_| true,
    )
    .await
    .unwrap();
    assert_eq!(published["record"]["verdict"], "no_data", "{published}");
    assert_eq!(published["record"]["judged_s"], 0.0, "{published}");

    let now = agent::value::now_ms();
    let r = request(
        &http,
        "GET",
        &format!(
            "/api/export?what=operations&format=csv&from_ms=0&to_ms={}",
            now + 1000
        ),
        &[("Authorization", "Bearer machines-test-token-0123456789")],
        "",
    )
    .await
    .unwrap();
    assert_eq!(r.code, 200, "{}", r.body);
    let body = r.body.clone();
    let mut lines = body.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let row: Vec<&str> = lines.next().expect("one operation").split(',').collect();
    assert_eq!(row[column("verdict")], "no_data", "{body}");
    assert_eq!(
        row[column("judged_s")].parse::<f64>().unwrap(),
        0.0,
        "{body}"
    );
    agent.shutdown().await;
    drop(broker);
}

/// Runs the agent's binary with `args`; (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(agent_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_writes_a_draft_that_check_config_accepts_and_whose_tags_all_read_good() {
    let cnc = OpcUaServer::start(CONTROL);
    let dir = temp_dir("machines-browse");
    let draft = dir.join("draft.toml");
    let (ok, out, err) = tokio::task::block_in_place(|| {
        run(&["browse", &cnc.endpoint, "--out", draft.to_str().unwrap()])
    });
    assert!(ok, "{out}\n{err}");
    let uri = "urn:green-machining:test-cnc";
    // Node ids in the nsu= form, numeric and string; data types, access levels and values.
    assert!(
        out.contains(&format!("nsu={uri};i=1004  Variable  Int32  read  1001")),
        "{out}"
    );
    assert!(
        out.contains(&format!("nsu={uri};s=PLC.M_Coolant  Variable  Int32")),
        "{out}"
    );
    assert!(
        out.contains("Objects/MachineTool/Monitoring/Spindle/IsRotating"),
        "{out}"
    );
    assert!(
        !err.contains("ERROR"),
        "no certificate errors with security None: {err}"
    );

    let (ok, out, err) = run(&["check-config", draft.to_str().unwrap()]);
    assert!(
        ok,
        "{out}\n{err}\n{}",
        std::fs::read_to_string(&draft).unwrap()
    );
    let text = std::fs::read_to_string(&draft).unwrap();
    assert!(
        text.contains("OPC 40501-1 §8.3.6"),
        "each tag says where it comes from: {text}"
    );

    // The draft as the agent runs it: every one of its tags reads good.
    let mut cfg = agent::config::load(&draft).unwrap();
    let signals: Vec<String> = cfg.devices[0]
        .tags
        .iter()
        .map(|t| t.signal.clone())
        .collect();
    for s in [
        "spindle.rotating",
        "spindle.override",
        "channel.state",
        "machine.operation_mode",
        "channel.program",
    ] {
        assert!(signals.iter().any(|x| x == s), "{s} mapped: {text}");
    }
    assert!(cfg.devices[0].tags.iter().all(|t| !t.verified));
    cfg.store.path = dir.join("agent.db");
    cfg.agent.listen = "127.0.0.1:0".into();
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    let all = all_good(&http).await;
    let value = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|x| x["signal"] == name)
            .map(|x| (x["value"].clone(), x["verified"].clone()))
            .unwrap()
    };
    assert_eq!(
        value("channel.state"),
        (Json::from("reset"), Json::from(false))
    );
    assert_eq!(value("machine.operation_mode").0, "automatic");
    assert_eq!(value("channel.program").0, "O1001");
    assert_eq!(value("spindle.rotating").0, false);
    agent.shutdown().await;

    // A walk cut short says so.
    let (ok, out, _) =
        tokio::task::block_in_place(|| run(&["browse", &cnc.endpoint, "--max-nodes", "5"]));
    assert!(ok);
    assert!(out.contains("stopped at the node limit (5)"), "{out}");
}

#[test]
fn probe_modbus_prints_a_cdab_float_where_the_manual_says() {
    let mql = ModbusServer::start();
    mql.set("input", OIL_FLOW, "f32cdab", 23.75);
    mql.set("holding", 3, "u16", 65535.0);
    let (ok, out, err) = run(&[
        "probe",
        "modbus",
        "--address",
        &mql.address,
        "--unit",
        "1",
        "--table",
        "input",
        "--range",
        "7..9",
    ]);
    assert!(ok, "{out}\n{err}");
    let cdab = out.lines().find(|l| l.contains("CDAB")).unwrap();
    assert!(
        cdab.contains(" 23.75 ") && cdab.contains("word_order = \"little\""),
        "{out}"
    );
    let abcd = out.lines().find(|l| l.contains("ABCD")).unwrap();
    assert!(!abcd.contains("23.75"), "{out}");
    let (ok, out, _) = run(&[
        "probe",
        "modbus",
        "--address",
        &mql.address,
        "--table",
        "holding",
        "--range",
        "3..=3",
    ]);
    assert!(ok);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("3 "))
        .unwrap();
    assert!(
        line.contains("0xFFFF") && line.contains("65535") && line.contains("-1"),
        "{out}"
    );
}

/// An agent configuration for the secured control at `endpoint`, its PKI in `pki`.
fn secure_toml(dir: &Path, endpoint: &str, ns: u16, pki: &Path) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[agent]
machine_id = "mill-secure"
listen = "127.0.0.1:0"
[store]
path = "{}"
[poll_groups]
fast = {{ interval_ms = 100 }}
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "{}"
security_policy = "Basic256Sha256"
security_mode = "SignAndEncrypt"
pki_dir = "{}"
group = "fast"
timeout_ms = 2000
stale_after_ms = 3000
  [[device.tag]]
  name = "speed"
  node = "ns={};i=1001"
  signal = "spindle.speed"
"#,
            dir.join("agent.db").display(),
            endpoint,
            pki.display(),
            ns
        ),
    )
    .unwrap();
    path
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic256sha256_sign_and_encrypt_with_trust_lists_on_both_sides() {
    let dir = temp_dir("machines-secure");
    let (server_pki, agent_pki) = (dir.join("server-pki"), dir.join("agent-pki"));
    std::fs::create_dir_all(server_pki.join("trusted")).unwrap();
    // The agent's certificate, made by the agent, and trusted by the server.
    let config = secure_toml(&dir, "opc.tcp://127.0.0.1:4840/", 2, &agent_pki);
    let (ok, out, err) = run(&["opcua-cert", "--config", config.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("thumbprint"), "{out}");
    let own = agent_pki.join("own/cert.der");
    std::fs::copy(&own, server_pki.join("trusted/agent.der")).unwrap();

    let cnc = OpcUaServer::start_secure(&server_pki, CONTROL);
    set(&cnc, &[("Controller/Spindle/ActSpeed", "4321")]);
    let config = secure_toml(&dir, &cnc.endpoint, cnc.ns, &agent_pki);

    // First contact: the agent does not know the server's certificate and refuses it.
    let agent = Agent::start(agent::config::load(&config).unwrap())
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    let d = wait_until(
        Duration::from_secs(30),
        "the untrusted server refused",
        || async {
            let d = get_json(&http, "/api/devices").await.ok()?;
            let cnc = d.as_array()?.iter().find(|x| x["name"] == "cnc")?.clone();
            let e = cnc["last_error"].as_str()?;
            e.contains("the server's certificate is not trusted")
                .then_some(cnc)
        },
    )
    .await
    .unwrap();
    assert_eq!(d["connected"], false, "{d}");
    let speed = signal(&http, "spindle.speed").await.unwrap();
    assert_eq!(speed["quality"], "unavailable", "{speed}");
    let rejected = files(&agent_pki.join("rejected"));
    assert_eq!(
        rejected.len(),
        1,
        "the server's certificate kept for checking: {rejected:?}"
    );
    assert_eq!(
        std::fs::read(&rejected[0]).unwrap(),
        std::fs::read(OpcUaServer::server_certificate(&server_pki)).unwrap()
    );
    agent.shutdown().await;

    // opcua-cert lists it; a person checks the thumbprint and moves it into trusted.
    let (ok, out, _) = run(&["opcua-cert", "--config", config.to_str().unwrap()]);
    assert!(ok && out.contains(rejected[0].to_str().unwrap()), "{out}");
    std::fs::create_dir_all(agent_pki.join("trusted")).unwrap();
    std::fs::rename(&rejected[0], agent_pki.join("trusted/cnc.der")).unwrap();

    // Trust on both sides: values flow over Basic256Sha256 / SignAndEncrypt.
    let agent = Agent::start(agent::config::load(&config).unwrap())
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    let s = wait_until(
        Duration::from_secs(30),
        "the speed over the secure channel",
        || async {
            signal(&http, "spindle.speed")
                .await
                .filter(|s| s["quality"] == "good")
        },
    )
    .await
    .unwrap();
    assert_eq!(s["value"], 4321.0);
    agent.shutdown().await;

    // The server's side of the trust list: an agent whose certificate it does not trust
    // is refused, however much the agent trusts the server.
    std::fs::remove_file(server_pki.join("trusted/agent.der")).unwrap();
    drop(cnc);
    let cnc = OpcUaServer::start_secure(&server_pki, CONTROL);
    let config = secure_toml(&dir, &cnc.endpoint, cnc.ns, &agent_pki);
    let agent = Agent::start(agent::config::load(&config).unwrap())
        .await
        .unwrap();
    let http = agent.http_addr.to_string();
    let d = wait_until(
        Duration::from_secs(30),
        "the agent refused by the server",
        || async {
            let d = get_json(&http, "/api/devices").await.ok()?;
            let cnc = d.as_array()?.iter().find(|x| x["name"] == "cnc")?.clone();
            (cnc["connected"] == false && cnc["last_error"].is_string()).then_some(cnc)
        },
    )
    .await
    .unwrap();
    let e = d["last_error"].as_str().unwrap();
    assert!(
        e.contains("the CNC does not trust the agent's certificate"),
        "{e}"
    );
    let speed = signal(&http, "spindle.speed").await.unwrap();
    assert_eq!(speed["quality"], "unavailable", "{speed}");
    agent.shutdown().await;
}

#[test]
fn the_starting_points_for_real_controllers_pass_check_config_and_are_unverified() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/machines");
    let mut files: Vec<PathBuf> = files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let args: Vec<&str> = std::iter::once("check-config")
        .chain(files.iter().map(|f| f.to_str().unwrap()))
        .collect();
    let (ok, out, err) = run(&args);
    assert!(ok, "{out}\n{err}");
    for f in &files {
        let cfg = agent::config::load(f).unwrap();
        for d in &cfg.devices {
            for t in &d.tags {
                assert!(
                    !t.verified,
                    "{}: {}.{} says verified",
                    f.display(),
                    d.name,
                    t.name
                );
            }
        }
    }
}

/// A profile of the user's own without its Chinese texts is accepted (the page shows the
/// English), and `check-config` warns with the file and line of each text.
#[test]
fn check_config_warns_of_a_profile_text_without_its_chinese() {
    let dir = temp_dir("machines-profile-zh");
    let profile = dir.join("own.toml");
    std::fs::write(
        &profile,
        "[profile]\nid = \"own\"\nstandard = \"house rule 1\"\ntitle = \"Our MQL rules\"\n\
         title_zh = \"本厂微量润滑规则\"\ncooling = [\"mql\"]\n\n[[rule]]\nid = \"flow\"\n\
         topic = \"oil flow\"\nkind = \"present_while_cutting\"\nsignal = \"mql.oil_flow\"\n\
         min = 5.0\nseverity = \"warning\"\nsource = \"house rule 1\"\nverified = false\n",
    )
    .unwrap();
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nlanguage = \"zh-CN\"\n[compliance]\nprofiles = [\"{}\"]\n\
             [[device]]\nname = \"mql\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:5020\"\n\
             [[device.tag]]\nname = \"flow\"\ntable = \"input\"\naddress = 0\n\
             signal = \"mql.oil_flow\"\n",
            profile.display()
        ),
    )
    .unwrap();
    let (ok, out, err) = run(&["check-config", cfg.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "warning: {}:10:9: no `topic_zh`: the page shows `oil flow` in English",
            profile.display()
        )),
        "{out}"
    );
    assert!(!out.contains("title_zh"), "{out}");
}

/// The machinist keeps the program table on the status page: logged in, they change a
/// program's material group and save; the file is rewritten, the agent reads it again and the
/// signal follows. A group that is not an ISO 513 group is refused on the page, naming the
/// problem, and the file keeps what it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_table_is_edited_on_the_page_and_the_agent_uses_it() {
    use e2e::chromium;
    let cnc = OpcUaServer::start(CONTROL);
    let mql = ModbusServer::start();
    set_mql(&mql, 20.0, 0.5);
    let dir = temp_dir("machines-table-page");
    let cfg = load(&dir, &machine_toml(&dir, &cnc, &mql, true, ""));
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    wait_until(
        Duration::from_secs(20),
        "the table's material group",
        || async {
            signal(&http, "workpiece.material_group")
                .await
                .filter(|s| s["value"] == "P")
        },
    )
    .await
    .unwrap();

    let (_browser, cdp) = chromium::open().await;
    cdp.log_in(
        &format!("http://{http}"),
        "machinist",
        "machines-test-token-0123456789",
    )
    .await
    .unwrap();
    // The table appears once logged in, with the file's row.
    let group = "document.querySelector('#table-programs [data-col=\"material_group\"]')";
    cdp.wait_eval(
        &format!("{group} !== null && {group}.value === 'P'"),
        Duration::from_secs(20),
    )
    .await
    .expect("the program table on the page");

    // A group that is not one: refused, said on the page, the file unchanged.
    let save = "document.querySelector('#table-programs .save').click(); true";
    cdp.eval(&format!("{group}.value = 'Q'; {save}"))
        .await
        .unwrap();
    let status = "document.querySelector('#table-programs .status').textContent";
    let refused = cdp
        .wait_eval(
            &format!("(s => s.startsWith('not saved') ? s : '')({status})"),
            Duration::from_secs(10),
        )
        .await
        .expect("the refusal on the page");
    assert!(refused.as_str().unwrap().contains("ISO 513"), "{refused}");
    let file = std::fs::read_to_string(dir.join("programs.toml")).unwrap();
    assert!(file.contains("material_group = \"P\""), "{file}");

    // A real group: saved, written, and the agent's signal follows.
    cdp.eval(&format!("{group}.value = 'M'; {save}"))
        .await
        .unwrap();
    cdp.wait_eval(&format!("{status} === 'saved'"), Duration::from_secs(10))
        .await
        .expect("saved on the page");
    let file = std::fs::read_to_string(dir.join("programs.toml")).unwrap();
    assert!(file.contains("material_group = \"M\""), "{file}");
    let s = wait_until(
        Duration::from_secs(10),
        "the signal from the edited table",
        || async {
            signal(&http, "workpiece.material_group")
                .await
                .filter(|s| s["value"] == "M")
        },
    )
    .await
    .unwrap();
    assert_eq!(s["source"], "table", "{s}");
    agent.shutdown().await;
}
