//! Every scenario file parses, and each does what its comment says (run on the physics alone,
//! without servers, so it is quick).

use std::path::PathBuf;

use simulator::physics::{Action, Machine, Observation};
use simulator::ScenarioConfig;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/scenarios")
}

fn load(name: &str) -> ScenarioConfig {
    ScenarioConfig::from_file(dir().join(name)).unwrap()
}

/// Run to `until_s`, calling `f` after each step.
fn run(cfg: &ScenarioConfig, until_s: f64, mut f: impl FnMut(&mut Machine, &Observation)) {
    let mut m = Machine::new(cfg);
    while m.t_s < until_s {
        m.step(cfg.step_s);
        let o = m.observe();
        f(&mut m, &o);
    }
}

#[test]
fn every_scenario_file_parses() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = ScenarioConfig::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert_eq!(
                Some(cfg.name.as_str()),
                path.file_stem().and_then(|s| s.to_str()),
                "name = file name"
            );
            names.push(cfg.name);
        }
    }
    for required in [
        "normal-near-dry",
        "dry-cutting",
        "dry-diamond-on-steel",
        "mql-starvation",
        "air-pressure-drop",
        "aerosol-left-on-idle",
        "tool-breakage",
        "device-offline",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} missing");
    }
}

#[test]
fn normal_file_is_the_default() {
    assert_eq!(load("normal-near-dry.toml"), ScenarioConfig::default());
}

#[test]
fn mql_starvation_raises_low_flow() {
    let cfg = load("mql-starvation.toml");
    let mut before: f64 = 0.0;
    let mut after = None;
    run(&cfg, 1500.0, |_, o| {
        if o.mql_aerosol_on && o.sim_time_s < 1200.0 {
            before = before.max(o.mql_flow_measured_ml_h);
        }
        if o.sim_time_s > 1260.0 && o.mql_aerosol_on {
            after = Some((o.mql_flow_measured_ml_h, o.mql_fault_code, o.mql_flow_ok));
        }
    });
    assert!(before > 25.0, "{before}");
    let (flow, fault, ok) = after.unwrap();
    assert!(flow < 2.0, "{flow}");
    assert_eq!(fault, 1);
    assert!(!ok);
}

#[test]
fn air_pressure_drop_is_seen_and_recovers() {
    let cfg = load("air-pressure-drop.toml");
    let (mut low, mut fault2, mut recovered) = (false, false, false);
    run(&cfg, 2300.0, |_, o| {
        if (1000.0..2000.0).contains(&o.sim_time_s) {
            low |= o.mql_pressure_kpa < 340.0 && !o.mql_pressure_ok;
            fault2 |= o.mql_fault_code == 2;
        }
        if o.sim_time_s > 2250.0 {
            recovered = o.mql_pressure_ok && o.mql_pressure_kpa > 500.0;
        }
    });
    assert!(low && fault2 && recovered);
}

#[test]
fn aerosol_left_on_idle_wastes_oil() {
    let cfg = load("aerosol-left-on-idle.toml");
    let mut at_stop = None;
    let mut end = None;
    run(&cfg, 1790.0, |_, o| {
        if o.sim_time_s >= 910.0 && at_stop.is_none() {
            at_stop = Some(o.clone());
        }
        if o.sim_time_s >= 1000.0 {
            assert!(o.mql_aerosol_on && o.door_open && !o.spindle_rotating);
            assert_eq!(o.channel_state, 2);
            assert_eq!(o.operation, "");
        }
        end = Some(o.clone());
    });
    let (a, b) = (at_stop.unwrap(), end.unwrap());
    assert_eq!(a.parts, b.parts, "no part made while stopped");
    // ~15 min at 30 ml/h = 7.5 ml sprayed into the air.
    let used = b.mql_oil_used_ml - a.mql_oil_used_ml;
    assert!((6.5..7.6).contains(&used), "{used}");
    // Spraying into the air with the door open: 30 ml/h · 900 mg/ml · 5 % / (1000/2) m³/h
    // = 2.7 mg/m³, ten times the level while cutting.
    assert!(b.mql_mist_mg_m3 > 2.5, "{}", b.mql_mist_mg_m3);
}

#[test]
fn tool_breakage_happens_twice() {
    let cfg = load("tool-breakage.toml");
    let mut last = None;
    run(&cfg, 1900.0, |_, o| last = Some(o.clone()));
    let o = last.unwrap();
    assert!(o.breakages >= 2, "{}", o.breakages);
    assert!(o.tool_changes >= 2);
}

#[test]
fn diamond_on_steel_destroys_tools() {
    let cfg = load("dry-diamond-on-steel.toml");
    let mut last = None;
    let mut seen_pcd = false;
    run(&cfg, 900.0, |_, o| {
        seen_pcd |= o.tool_material == "pcd" && o.workpiece_group == "P";
        last = Some(o.clone());
    });
    let o = last.unwrap();
    assert!(seen_pcd);
    assert!(o.breakages + o.tool_changes >= 3, "{o:?}");
}

#[test]
fn dry_cutting_uses_no_oil_and_wears_faster() {
    let dry = load("dry-cutting.toml");
    let mut normal = load("normal-near-dry.toml");
    normal.seed = dry.seed;
    let mut wear_dry = 0.0;
    let mut wear_mql = 0.0;
    run(&dry, 1200.0, |m, o| {
        assert!(!o.mql_aerosol_on);
        wear_dry = m.tools[0].wear.consumed;
    });
    run(&normal, 1200.0, |m, _| wear_mql = m.tools[0].wear.consumed);
    assert!(wear_dry > 1.3 * wear_mql, "{wear_dry} vs {wear_mql}");
}

#[test]
fn device_offline_schedules_server_actions() {
    let cfg = load("device-offline.toml");
    let mut actions = Vec::new();
    run(&cfg, 1600.0, |m, o| {
        for a in m.take_actions() {
            actions.push((o.sim_time_s.round(), a));
        }
    });
    assert_eq!(
        actions,
        vec![
            (600.0, Action::StopModbus),
            (900.0, Action::StartModbus),
            (1200.0, Action::StopOpcUa),
            (1500.0, Action::StartOpcUa),
        ]
    );
}

#[test]
fn bearing_wear_degrades_within_hours() {
    let cfg = load("bearing-wear.toml");
    let mut first_defined = None;
    let mut last = None;
    // 3 simulated hours.
    run(&cfg, 3.0 * 3600.0, |_, o| {
        if o.bearing_remaining_fraction.is_some() && first_defined.is_none() {
            first_defined = Some(o.bearing_running_h);
        }
        last = Some(o.clone());
    });
    let onset = first_defined.expect("degradation started");
    assert!((0.5..=1.0).contains(&onset), "{onset}");
    let o = last.unwrap();
    assert!(o.bearing_remaining_fraction.unwrap() < 0.9);
    assert!(o.vibration_rms_mm_s > 1.0, "{}", o.vibration_rms_mm_s);
}
