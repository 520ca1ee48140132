//! End-to-end tests against the simulated machine tool: the agent in-process, the simulator's
//! OPC UA and Modbus servers on real loopback sockets.

use std::collections::HashMap;
use std::time::Duration;

use agent::Agent;
use e2e::{get_json, temp_dir, wait_until};
use serde_json::Value as Json;
use simulator::scenario::ScenarioConfig;
use simulator::snapshot::Snapshot;
use simulator::Simulator;

fn scenario() -> ScenarioConfig {
    let mut s = ScenarioConfig::default();
    s.opcua.listen = "127.0.0.1:0".parse().unwrap();
    s.modbus.listen = "127.0.0.1:0".parse().unwrap();
    s
}

async fn start_agent(
    sim: &Simulator,
    tag: &str,
    edit: impl FnOnce(&mut agent::config::Config),
) -> Agent {
    let mut cfg = agent::demo::simulator_config();
    // The example commits samples every 15 s (the SD card's sake); the test reads them back.
    cfg.store.flush_interval = Duration::from_secs(1);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.store.path = temp_dir(tag).join("agent.db");
    edit(&mut cfg);
    Agent::start(cfg).await.unwrap()
}

fn by_name(signals: &Json) -> HashMap<String, Json> {
    signals
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["signal"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

async fn all_good(http: &str, timeout: Duration) -> anyhow::Result<Json> {
    wait_until(timeout, "every signal to be good", || async {
        let s = get_json(http, "/api/signals").await.ok()?;
        s.as_array()
            .unwrap()
            .iter()
            .all(|x| x["quality"] == "good")
            .then_some(s)
    })
    .await
}

/// Waits until the agent shows what `wrong` finds nothing wrong with (the machine is paused,
/// so once every poll group and subscription has caught up it stays so); then what it shows.
async fn caught_up(
    http: &str,
    wrong: impl Fn(&HashMap<String, Json>) -> Vec<String>,
) -> HashMap<String, Json> {
    // On a timeout the caller's assertion lists what still differs.
    let _ = wait_until(
        Duration::from_secs(20),
        "the agent to show the paused machine",
        || async {
            let shown = by_name(&get_json(http, "/api/signals").await.ok()?);
            wrong(&shown).is_empty().then_some(())
        },
    )
    .await;
    by_name(&get_json(http, "/api/signals").await.unwrap())
}

/// What the agent must show for each canonical signal, from the simulator's own account of what
/// it serves (after the register map's scaling).
fn expected(s: &Snapshot) -> Vec<(&'static str, Json)> {
    let c = &s.cnc;
    let m = &s.mql;
    let state = ["active", "interrupted", "reset"][c.channel_state as usize];
    vec![
        ("spindle.speed", c.spindle_act_speed_rpm.into()),
        ("spindle.speed_cmd", c.spindle_cmd_speed_rpm.into()),
        ("spindle.load", c.spindle_load_pct.into()),
        ("spindle.power", c.spindle_power_kw.into()),
        ("spindle.torque", c.spindle_torque_nm.into()),
        ("spindle.rotating", c.spindle_is_rotating.into()),
        ("spindle.override", c.spindle_override_pct.into()),
        ("channel.feedrate", c.feedrate_mm_min.into()),
        ("channel.program", c.program_name.clone().into()),
        ("channel.state", state.into()),
        ("channel.operation", c.operation.clone().into()),
        ("tool.id", c.tool_identifier.clone().into()),
        ("tool.material", c.tool_material.clone().into()),
        ("tool.coating", c.tool_coating.clone().into()),
        ("tool.diameter", c.tool_diameter_mm.into()),
        ("tool.edges", f64::from(c.tool_edges).into()),
        ("tool.life_value", c.tool_life_min.into()),
        ("tool.life_warning", c.tool_life_warning_min.into()),
        ("tool.life_limit", c.tool_life_limit_min.into()),
        ("workpiece.material", c.workpiece_material.clone().into()),
        ("workpiece.material_group", c.workpiece_group.clone().into()),
        ("workpiece.hardness", c.workpiece_hardness_hrc.into()),
        ("cooling.mode", c.cooling_mode.clone().into()),
        ("machine.parts_count", f64::from(c.parts_counter).into()),
        ("machine.operation_mode", c.operation_mode.clone().into()),
        ("machine.door_open", c.door_open.into()),
        ("axis.x.load", c.axis_load_pct[0].into()),
        ("axis.z.position", c.axis_position_mm[2].into()),
        // Modbus: every register type and order of the map.
        ("mql.oil_flow", m.oil_flow_ml_h.into()), // u16 · 0.1
        ("mql.air_pressure", (m.air_pressure_kpa * 0.001).into()), // u16 kPa → MPa
        ("mql.reservoir_level", m.reservoir_level_pct.into()), // u16 · 0.1
        ("mql.pump_strokes", f64::from(m.pump_strokes).into()), // u32 ABCD
        ("mql.aerosol_on", m.aerosol_on.into()),  // bit 0 of a word
        ("mql.flow_ok", m.flow_ok.into()),
        ("mql.pressure_ok", m.pressure_ok.into()),
        ("mql.fault", m.fault.into()),
        ("mql.fault_code", f64::from(m.fault_code).into()),
        ("mql.mist_concentration", f64::from(m.mist_mg_m3).into()), // f32 CDAB
        ("mql.aerosol_temp", m.aerosol_temp_c.into()),              // i16 · 0.1
        ("mql.oil_dispensed", m.oil_dispensed_ml.into()),           // f64 ABCD
        (
            "mql.pump_operating_time",
            (m.pump_operating_time_s as f64 / 3600.0).into(),
        ), // u64
        ("mql.flow_deviation", m.flow_deviation_ml_h.into()),       // i32 · 0.1
        ("mql.oil_flow_setpoint", m.flow_setpoint_ml_h.into()),     // holding register
        (
            "mql.air_pressure_setpoint",
            (m.air_pressure_setpoint_kpa * 0.001).into(),
        ),
        ("mql.aerosol_on_di", m.aerosol_on.into()), // discrete input
        ("mql.fault_di", m.fault.into()),
        ("spindle.vibration_rms", s.sensor.vibration_rms_mm_s.into()), // unit 2
        ("spindle.bearing_temp", s.sensor.bearing_temp_c.into()),
        (
            "spindle.vibration_peak",
            f64::from(s.sensor.vibration_peak_mm_s).into(),
        ), // f32 BADC
    ]
}

fn same(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-3),
        _ => a == b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_shows_exactly_what_the_simulator_serves_for_every_tag_type() {
    let sim = Simulator::start(scenario()).await.unwrap();
    let agent = start_agent(&sim, "values", |_| {}).await;
    let http = agent.http_addr.to_string();
    all_good(&http, Duration::from_secs(20))
        .await
        .expect("not every signal became good");
    // Freeze the machine, let every poll group and the subscription catch up, then compare.
    sim.pause();
    let snap = sim.snapshot();
    let mismatches = |shown: &HashMap<String, Json>| {
        let mut wrong = Vec::new();
        for (name, want) in expected(&snap) {
            let got = &shown[name];
            if got["quality"] != "good" || !same(&got["value"], &want) {
                wrong.push(format!(
                    "{name}: agent {} ({}), simulator {want}",
                    got["value"], got["quality"]
                ));
            }
        }
        wrong
    };
    let shown = caught_up(&http, mismatches).await;
    let wrong = mismatches(&shown);
    assert!(wrong.is_empty(), "mismatches:\n{}", wrong.join("\n"));
    agent.shutdown().await;
    sim.shutdown().await;
}

fn qualities(signals: &Json, device: &str) -> Vec<String> {
    signals
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["device"] == device)
        .map(|s| s["quality"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_modbus_server_turns_its_signals_unavailable_and_they_recover() {
    let sim = Simulator::start(scenario()).await.unwrap();
    let agent = start_agent(&sim, "modbus-outage", |_| {}).await;
    let http = agent.http_addr.to_string();
    all_good(&http, Duration::from_secs(20)).await.unwrap();

    sim.stop_modbus().await;
    // Within the device's stale_after (3 s) plus a timeout, MQL signals are unavailable while
    // the CNC's stay good.
    let down = wait_until(
        Duration::from_secs(5),
        "every MQL signal to be unavailable",
        || async {
            let s = get_json(&http, "/api/signals").await.ok()?;
            qualities(&s, "mql")
                .iter()
                .all(|q| q == "unavailable")
                .then_some(s)
        },
    )
    .await
    .unwrap();
    assert!(
        qualities(&down, "cnc").iter().all(|q| q == "good"),
        "CNC affected: {down}"
    );
    assert!(qualities(&down, "spindle-sensor")
        .iter()
        .all(|q| q != "good"));
    let mql = by_name(&down)["mql.oil_flow"].clone();
    assert!(mql["error"].as_str().is_some(), "{mql}");

    sim.start_modbus().await.unwrap();
    all_good(&http, Duration::from_secs(15))
        .await
        .expect("MQL did not recover without a restart");
    agent.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opcua_server_restart_ends_with_subscriptions_recreated() {
    let sim = Simulator::start(scenario()).await.unwrap();
    let agent = start_agent(&sim, "opcua-restart", |_| {}).await;
    let http = agent.http_addr.to_string();
    all_good(&http, Duration::from_secs(20)).await.unwrap();

    sim.stop_opcua().await;
    let down = wait_until(
        Duration::from_secs(10),
        "no CNC signal to be good after the server stopped",
        || async {
            let s = get_json(&http, "/api/signals").await.ok()?;
            qualities(&s, "cnc")
                .iter()
                .all(|q| q != "good")
                .then_some(s)
        },
    )
    .await
    .unwrap();
    assert!(
        qualities(&down, "mql").iter().all(|q| q == "good"),
        "MQL affected: {down}"
    );

    sim.start_opcua().await.unwrap();
    let before = by_name(&get_json(&http, "/api/signals").await.unwrap())["axis.x.position"]
        ["ts_ms"]
        .clone();
    all_good(&http, Duration::from_secs(20))
        .await
        .expect("CNC did not recover without a restart");
    // Values flow again (not just one read): the position keeps changing.
    wait_until(
        Duration::from_secs(10),
        "a new position of the X axis",
        || async {
            let s = by_name(&get_json(&http, "/api/signals").await.ok()?);
            (s["axis.x.position"]["ts_ms"] != before && s["spindle.speed"]["quality"] == "good")
                .then_some(())
        },
    )
    .await
    .unwrap();
    agent.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_rtu_over_a_pty_pair() {
    let mut sc = scenario();
    sc.modbus.rtu_pty = true;
    let sim = Simulator::start(sc).await.unwrap();
    let port = sim
        .rtu_agent_path()
        .expect("pty pair")
        .display()
        .to_string();
    let rtu = format!(
        r#"
[[device]]
name = "mql-rtu"
protocol = "modbus-rtu"
port = "{port}"
baud = 19200
parity = "none"
unit_id = 1
timeout_ms = 500
  [[device.tag]]
  name = "oil_flow"
  table = "input"
  address = 0
  scale = 0.1
  [[device.tag]]
  name = "strokes"
  table = "input"
  address = 3
  type = "u32"
  [[device.tag]]
  name = "mist"
  table = "input"
  address = 7
  type = "f32"
  word_order = "little"
[[device]]
name = "sensor-rtu"
protocol = "modbus-rtu"
port = "{port}"
parity = "none"
unit_id = 2
  [[device.tag]]
  name = "temp"
  table = "input"
  address = 1
  type = "i16"
  scale = 0.1
"#
    );
    let dir = temp_dir("rtu");
    let path = dir.join("rtu.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}/a.db\"\n{rtu}",
            dir.display()
        ),
    )
    .unwrap();
    let cfg = agent::config::load(&path).unwrap();
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    all_good(&http, Duration::from_secs(20))
        .await
        .expect("RTU values never became good");
    sim.pause();
    let snap = sim.snapshot();
    let want: [(&str, Json); 4] = [
        ("mql-rtu.oil_flow", snap.mql.oil_flow_ml_h.into()),
        ("mql-rtu.strokes", f64::from(snap.mql.pump_strokes).into()),
        ("mql-rtu.mist", f64::from(snap.mql.mist_mg_m3).into()),
        ("sensor-rtu.temp", snap.sensor.bearing_temp_c.into()),
    ];
    let mismatches = |shown: &HashMap<String, Json>| {
        want.iter()
            .filter(|(name, v)| !same(&shown[*name]["value"], v))
            .map(|(name, v)| format!("{name}: agent {}, simulator {v}", shown[*name]["value"]))
            .collect::<Vec<_>>()
    };
    let shown = caught_up(&http, mismatches).await;
    let wrong = mismatches(&shown);
    assert!(wrong.is_empty(), "mismatches:\n{}", wrong.join("\n"));
    agent.shutdown().await;
    sim.shutdown().await;
}
