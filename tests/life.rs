//! Tool usage and remaining life end to end: the simulator over real sockets, the agent
//! in-process with the NASA milling wear model from configs/agent.toml, read over HTTP.

use std::collections::BTreeMap;
use std::time::Duration;

use agent::Agent;
use anyhow::Result;
use e2e::devices::{clock_config, clock_device, clock_passes, CLOCK};
use e2e::{get_json, temp_dir, wait_until};
use serde_json::Value as Json;
use simulator::Simulator;

const TOKEN: &str = "life-test-token-0123456789";

fn config(store: &std::path::Path) -> agent::config::Config {
    let mut cfg = agent::demo::simulator_config();
    // The example commits samples every 15 s (the SD card's sake); the test reads them back.
    cfg.store.flush_interval = Duration::from_secs(1);
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.store.path = store.to_path_buf();
    cfg.http.token = Some(TOKEN.into());
    cfg
}

/// `POST path` with a JSON body and optional headers; status and body.
async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Result<(u16, Json)> {
    let mut with = vec![("Content-Type", "application/json")];
    with.extend_from_slice(headers);
    let r = e2e::request(addr, "POST", path, &with, body).await?;
    Ok((r.code, r.json()))
}

fn counters(life: &Json) -> BTreeMap<String, Json> {
    life["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tool_id"].as_str().unwrap().to_string(),
                t["counters"].clone(),
            )
        })
        .collect()
}

fn ordered(q: &Json) -> bool {
    let (a, b, c) = (q["p10"].as_f64(), q["p50"].as_f64(), q["p90"].as_f64());
    matches!((a, b, c), (Some(a), Some(b), Some(c)) if a <= b && b <= c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_while_cutting_predicts_after_cuts_and_survives_a_restart() {
    let sc = e2e::scenario("normal-near-dry.toml", 20.0);
    let sim = Simulator::start(sc).await.unwrap();
    let store = temp_dir("life").join("agent.db");
    let mut cfg = config(&store);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    // A clock to tell that time passed in the agent once the machine is gone.
    cfg.devices.push(clock_config(clock_device().await));
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();

    // After a few cuts every tool that cut has a prediction, quantiles in order.
    let life = wait_until(
        Duration::from_secs(60),
        "predictions for two tools",
        || async {
            let l = get_json(&http, "/api/life").await.ok()?;
            let tools = l["tools"].as_array()?;
            (tools.len() >= 2 && tools.iter().all(|t| t["prediction"].is_object())).then_some(l)
        },
    )
    .await
    .unwrap();
    assert!(
        life["model"]["file"]
            .as_str()
            .unwrap()
            .ends_with("nasa-milling.json"),
        "{life}"
    );
    assert!(life["model"]["method"]
        .as_str()
        .unwrap()
        .contains("nasa-milling"));
    for t in life["tools"].as_array().unwrap() {
        let p = &t["prediction"];
        assert!(ordered(&p["vb"]), "{t}");
        assert!(ordered(&p["remaining_min"]), "{t}");
        assert!(ordered(&p["remaining_cuts"]), "{t}");
        assert_eq!(p["vb_unit"], "mm");
        // The tool's class, as /api/life's classes count lives; the wear model's material
        // class (workpiece group P) is in the method.
        assert!(p["class"].as_str().unwrap().ends_with(" on C45"), "{t}");
        assert!(
            p["method"]
                .as_str()
                .unwrap()
                .contains("material class `steel`"),
            "{t}"
        );
        let c = &t["counters"];
        assert!(c["cutting_min"].as_f64().unwrap() > 0.0, "{t}");
        assert!(c["distance_mm"].as_f64().unwrap() > 0.0, "{t}");
        assert!(c["cuts"].as_u64().unwrap() >= 1, "{t}");
    }

    // Components: the pump's rated life from its stroke counter, the bearing's trend.
    let comps = life["components"].as_array().unwrap();
    let pump = comps.iter().find(|c| c["name"] == "mql-pump").unwrap();
    assert!(pump["used"].as_f64().unwrap() > 0.0, "{pump}");
    assert_eq!(pump["rated"], 50_000_000.0);
    assert!(pump["life_used_fraction"].as_f64().unwrap() > 0.0, "{pump}");
    assert!(pump["method"].as_str().unwrap().contains("MqlPump"));
    let bearing = comps
        .iter()
        .find(|c| c["name"] == "spindle-bearing")
        .unwrap();
    assert!(bearing["method"]
        .as_str()
        .unwrap()
        .contains("BearingMonitor"));
    assert!(
        bearing["used"].as_f64().unwrap() > 0.0,
        "spindle running hours: {bearing}"
    );
    assert!(
        bearing["remaining"].is_null(),
        "no trend after seconds: {bearing}"
    );

    // A tool out of the spindle counted exactly the cutting time of its operations. The life
    // evaluator's counters are live; a finished operation reaches the store (and the API) with
    // the next flush, so the two agree once it has come.
    fn mismatch(ops: &Json, life: &Json) -> Option<String> {
        life["tools"].as_array()?.iter().find_map(|t| {
            if t["in_spindle"] == true {
                return None;
            }
            let id = t["tool_id"].as_str()?;
            let ops_s: f64 = ops
                .as_array()?
                .iter()
                .filter(|o| o["tool_id"] == id)
                .map(|o| o["cutting_s"].as_f64().unwrap())
                .sum();
            let counted_s = t["counters"]["cutting_min"].as_f64()? * 60.0;
            ((counted_s - ops_s).abs() >= 0.01)
                .then(|| format!("tool {id}: counted {counted_s} s, operations {ops_s} s"))
        })
    }
    let ops = wait_until(
        Duration::from_secs(20),
        "the operations of every tool out of the spindle adding up to its counted cutting time",
        || async {
            let ops = get_json(&http, &format!("/api/operations?{}", e2e::from_a_day_ago()))
                .await
                .ok()?;
            let life = get_json(&http, "/api/life").await.ok()?;
            match mismatch(&ops, &life) {
                Some(m) => {
                    eprintln!("not yet: {m}");
                    None
                }
                None => Some(ops),
            }
        },
    )
    .await
    .unwrap();

    // Pre-run check for the program that ran.
    let program = ops[0]["program"].as_str().unwrap().to_string();
    let pre = get_json(&http, &format!("/api/life/prerun?program={program}"))
        .await
        .unwrap();
    assert!(!pre["tools"].as_array().unwrap().is_empty(), "{pre}");
    for t in pre["tools"].as_array().unwrap() {
        assert!(t["needed_min_per_part"].as_f64().unwrap() > 0.0, "{t}");
        if let Some(p10) = t["remaining_p10_min"].as_f64() {
            let need = t["needed_min_per_part"].as_f64().unwrap();
            assert_eq!(t["verdict"] == "enough", p10 >= need, "{t}");
            assert_eq!(
                t["parts_left_p10"].as_u64().unwrap(),
                (p10 / need).floor() as u64
            );
        }
        assert!(["enough", "not_enough", "no_prediction"].contains(&t["verdict"].as_str().unwrap()));
    }
    let (code, body) = e2e::get(&http, "/api/life/prerun").await.unwrap();
    assert_eq!(code, 400);
    assert!(body.contains("\"field\":\"program\""), "{body}");

    // With the machine gone nothing counts: no cutting, no usage.
    sim.shutdown().await;
    wait_until(
        Duration::from_secs(30),
        "the machine's devices to be disconnected and the last operation to end",
        || async {
            let d = get_json(&http, "/api/devices").await.ok()?;
            let gone = d
                .as_array()?
                .iter()
                .filter(|d| d["name"] != CLOCK)
                .all(|d| d["connected"] == false);
            let c = get_json(&http, "/api/compliance").await.ok()?;
            (gone && c["cutting"] == false && c["operation"].is_null()).then_some(())
        },
    )
    .await
    .unwrap();
    let before = counters(&get_json(&http, "/api/life").await.unwrap());
    clock_passes(&http, Duration::from_secs(3)).await.unwrap();
    let after = counters(&get_json(&http, "/api/life").await.unwrap());
    assert_eq!(before, after);

    // A flank wear measured on a tool that stays in: token needed, input checked, stored, and
    // taken into the tool's wear-model state (its level moves to the measurement).
    let life = get_json(&http, "/api/life").await.unwrap();
    let measured = life["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["prediction"]["vb"].is_object())
        .unwrap_or_else(|| panic!("no tool with a predicted wear: {life}"))
        .clone();
    let measured_id = measured["tool_id"].as_str().unwrap().to_string();
    let p = &measured["prediction"];
    let per_mm = match p["vb_unit"].as_str().unwrap() {
        "mm" => 1.0,
        "µm" | "um" => 1000.0,
        other => panic!("wear unit {other}"),
    };
    let vb_mm = 1.5 * p["vb"]["p50"].as_f64().unwrap() / per_mm;
    let wear_url = format!("/api/tools/{measured_id}/wear");
    let body = format!(r#"{{"vb_mm": {vb_mm}}}"#);
    let (code, _) = post(&http, &wear_url, &[], &body).await.unwrap();
    assert_eq!(code, 401, "a measurement without the token");
    let auth = format!("Bearer {TOKEN}");
    let with = [("Authorization", auth.as_str()), ("X-Agent-User", "wang")];
    for bad in [r#"{"vb_mm": "0.2"}"#, r#"{"vb_mm": 9}"#, "{}", "[0.2]"] {
        let (code, v) = post(&http, &wear_url, &with, bad).await.unwrap();
        assert_eq!(
            (code, v["field"].as_str()),
            (400, Some("vb_mm")),
            "{bad}: {v}"
        );
    }
    let (code, v) = post(&http, "/api/tools/NO-SUCH-TOOL/wear", &with, &body)
        .await
        .unwrap();
    assert_eq!(code, 404, "{v}");
    let (code, v) = post(&http, &wear_url, &with, &body).await.unwrap();
    assert_eq!(code, 200, "{v}");
    let m = &v["measurement"];
    assert_eq!(
        (m["tool_id"].as_str(), m["by"].as_str()),
        (Some(measured_id.as_str()), Some("wang"))
    );
    assert!(m["id"].as_i64().unwrap() > 0, "{v}");
    let check = &m["check"];
    assert!(ordered(&check["band"]), "{v}");
    assert_eq!(check["measurements"], 1);
    let in_unit = check["measured"].as_f64().unwrap();
    assert!((in_unit - vb_mm * per_mm).abs() < 1e-9, "{v}");
    assert!(
        (check["predicted_after"].as_f64().unwrap() - in_unit).abs() < 1e-6 * in_unit,
        "the tool's wear goes on from the measurement: {v}"
    );
    assert!(
        (check["wear_scale"].as_f64().unwrap() - 1.5).abs() < 0.01,
        "{v}"
    );
    let tool_view = |l: &Json, id: &str| {
        l["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tool_id"] == id)
            .unwrap()
            .clone()
    };
    let t = tool_view(&get_json(&http, "/api/life").await.unwrap(), &measured_id);
    assert_eq!(t["wear_measurements"], 1, "{t}");
    // No worn-out life of its class yet: the measurement governs the prediction at once.
    let p = &t["prediction"];
    assert_eq!(p["sources"]["tool_measurements"], 1, "{t}");
    assert!(
        (p["vb"]["p50"].as_f64().unwrap() - in_unit).abs() < 1e-6 * in_unit,
        "{t}"
    );
    assert!(ordered(&p["vb"]) && ordered(&p["remaining_min"]), "{t}");

    // A restart on the same store restores every counter and prediction.
    let predictions = get_json(&http, "/api/life").await.unwrap();
    agent.shutdown().await;
    let agent = Agent::start(config(&store)).await.unwrap();
    let http = agent.http_addr.to_string();
    let restored = get_json(&http, "/api/life").await.unwrap();
    assert_eq!(counters(&restored), after);
    let running = |l: &Json| {
        l["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "spindle-bearing")
            .unwrap()["used"]
            .clone()
    };
    assert_eq!(
        running(&restored),
        running(&predictions),
        "spindle running hours kept"
    );
    for t in restored["tools"].as_array().unwrap() {
        let was = predictions["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["tool_id"] == t["tool_id"])
            .unwrap();
        assert_eq!(t["prediction"], was["prediction"]);
    }

    // The measurement is kept over the restart with the tool's state.
    let t = tool_view(&restored, &measured_id);
    assert_eq!(
        (
            t["wear_measurements"].as_u64(),
            t["wear_scale"].as_f64().map(|s| (s * 100.0).round())
        ),
        (Some(1), Some(150.0)),
        "{t}"
    );

    // A tool change is a label from the shop floor: token needed, input checked, stored.
    let tool = restored["tools"][0]["tool_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("/api/tools/{tool}/change");
    let good = r#"{"reason": "worn_out", "measured_vb_mm": 0.31}"#;
    let (code, _) = post(&http, &url, &[], good).await.unwrap();
    assert_eq!(code, 401, "a change without the token");
    let with = [("Authorization", auth.as_str()), ("X-Agent-User", "li")];
    for (body, field) in [
        (r#"{"reason": "tired"}"#, "reason"),
        (r#"{"measured_vb_mm": 0.2}"#, "reason"),
        (
            r#"{"reason": "broken", "measured_vb_mm": "a lot"}"#,
            "measured_vb_mm",
        ),
        (
            r#"{"reason": "broken", "measured_vb_mm": -1}"#,
            "measured_vb_mm",
        ),
        ("not json", "reason"),
    ] {
        let (code, v) = post(&http, &url, &with, body).await.unwrap();
        assert_eq!(
            (code, v["field"].as_str()),
            (400, Some(field)),
            "{body}: {v}"
        );
    }
    assert_eq!(
        counters(&get_json(&http, "/api/life").await.unwrap()),
        after
    );
    let (code, v) = post(&http, &url, &with, good).await.unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["censored"], false);
    assert_eq!(v["counters"], after[&tool]);
    let life = get_json(&http, "/api/life").await.unwrap();
    let ch = &life["recent_changes"][0];
    assert_eq!(ch["tool_id"], tool.as_str());
    assert_eq!(ch["reason"], "worn_out");
    assert_eq!(ch["measured_vb_mm"], 0.31);
    assert_eq!(ch["by"], "li");
    assert!(
        ch["prediction"].is_object(),
        "the last prediction is kept with the label"
    );
    assert!(
        !counters(&life).contains_key(&tool),
        "the changed tool starts afresh"
    );
    let (_, v) = post(&http, &url, &with, r#"{"reason": "preventive"}"#)
        .await
        .unwrap();
    assert_eq!(
        v["censored"], true,
        "a preventive change is a censored lifetime"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_wear_model_the_api_says_counters_only() {
    let mut cfg = config(&temp_dir("life-no-model").join("agent.db"));
    cfg.life = agent::config::LifeSettings::default();
    let agent = Agent::start(cfg).await.unwrap();
    let life = get_json(&agent.http_addr.to_string(), "/api/life")
        .await
        .unwrap();
    assert!(life["model"].is_null(), "{life}");
    assert!(
        life["note"].as_str().unwrap().contains("counters only"),
        "{life}"
    );
    agent.shutdown().await;
}

/// Component life from the service history: the spindle bearing's ISO 281 rated life over the
/// spindle's own speed × load spectrum (the example ratings of configs/agent.toml), growing
/// with the running, ordered quantiles, the ball screws' travel, kept over a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_life_from_the_service_history() {
    let sc = e2e::scenario("normal-near-dry.toml", 20.0);
    let sim = Simulator::start(sc).await.unwrap();
    let store = temp_dir("life-service").join("agent.db");
    let start = |store: &std::path::Path| {
        let mut cfg = config(store);
        agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
        Agent::start(cfg)
    };
    let agent = start(&store).await.unwrap();
    let http = agent.http_addr.to_string();
    let component = |l: &Json, name: &str| -> Option<Json> {
        l["components"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
    };
    let num = |v: &Json| v.as_f64().unwrap_or(f64::NAN);

    // The bearing gets a figure once the spindle has turned under load.
    let first = wait_until(
        Duration::from_secs(60),
        "an ISO 281 figure for the spindle bearing",
        || async {
            let l = get_json(&http, "/api/life").await.ok()?;
            let b = component(&l, "spindle-bearing")?;
            (b["remaining_h"].is_object() && num(&b["service"]["revolutions"]) > 0.0).then_some(b)
        },
    )
    .await
    .unwrap();
    assert!(
        first["method"].as_str().unwrap().contains("ISO 281"),
        "{first}"
    );
    assert_eq!(
        first["remaining_method"], "iso281_miner",
        "no onset in seconds"
    );
    assert_eq!(first["remaining_h_basis"], "spindle_running_h");
    assert_eq!(first["parameters"]["c_kn"], 50.0, "the configured rating");
    assert_eq!(first["service"]["kind"], "spindle");
    assert!(ordered(&first["remaining_h"]), "{first}");
    let q = &first["remaining_h"];
    assert!(
        num(&q["p10"]) > 0.0 && num(&q["p10"]) < num(&q["p90"]),
        "{q}"
    );
    assert!(num(&first["life_used_fraction"]) > 0.0, "{first}");
    let s = &first["service"];
    assert!(num(&s["running_h"]) > 0.0 && num(&s["powered_h"]) >= num(&s["running_h"]));
    let spectrum_h: f64 = s["spectrum"]["time_h"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(num))
        .sum();
    assert!(
        spectrum_h > 0.0 && spectrum_h <= num(&s["running_h"]) + 1e-9,
        "the spectrum holds running time only: {s}"
    );

    // Revolutions, hours and life used grow while the machine runs, and the axes travel.
    let screws = ["ball-screw-x", "ball-screw-y", "ball-screw-z"];
    let later = wait_until(
        Duration::from_secs(60),
        "revolutions, running hours, life used and axis travel to grow",
        || async {
            let l = get_json(&http, "/api/life").await.ok()?;
            let b = component(&l, "spindle-bearing")?;
            let s = &b["service"];
            let travelled = screws
                .iter()
                .any(|n| component(&l, n).is_some_and(|c| num(&c["service"]["travel_mm"]) > 50.0));
            (num(&s["revolutions"]) > 2.0 * num(&first["service"]["revolutions"])
                && num(&s["running_h"]) > num(&first["service"]["running_h"])
                && num(&b["life_used_fraction"]) > num(&first["life_used_fraction"])
                && travelled)
                .then_some(l)
        },
    )
    .await
    .unwrap();
    let b = component(&later, "spindle-bearing").unwrap();
    assert!(ordered(&b["remaining_h"]), "{b}");

    // The ball screws: travel counted from the positions, revolutions = travel / lead.
    let moved: Vec<Json> = screws
        .iter()
        .map(|n| component(&later, n).unwrap())
        .filter(|c| num(&c["service"]["travel_mm"]) > 0.0)
        .collect();
    assert!(!moved.is_empty(), "no axis travelled: {later}");
    for c in &moved {
        let s = &c["service"];
        assert_eq!(s["kind"], "ball-screw");
        assert!(
            (num(&s["revolutions"]) - num(&s["travel_mm"]) / 10.0).abs() < 1e-6,
            "{c}"
        );
        assert!(c["method"].as_str().unwrap().contains("ISO 3408-5"));
        if c["remaining_h"].is_object() {
            assert!(ordered(&c["remaining_h"]), "{c}");
            assert_eq!(c["remaining_method"], "iso3408_5_miner");
        }
    }
    assert!(
        moved.iter().any(|c| c["remaining_h"].is_object()),
        "a loaded axis that travelled has a remaining life: {moved:?}"
    );

    // A clean stop stores the history; a restart goes on from it, not from zero.
    let before = get_json(&http, "/api/life").await.unwrap();
    let revs = num(&component(&before, "spindle-bearing").unwrap()["service"]["revolutions"]);
    agent.shutdown().await;
    let agent = start(&store).await.unwrap();
    let restored = get_json(&agent.http_addr.to_string(), "/api/life")
        .await
        .unwrap();
    let b = component(&restored, "spindle-bearing").unwrap();
    assert!(
        num(&b["service"]["revolutions"]) >= revs,
        "restored {} < {revs} before the restart",
        b["service"]["revolutions"]
    );
    agent.shutdown().await;
    sim.shutdown().await;
}

/// Tool changes reported from the shop floor become the machine's own tool-life data: from the
/// first recorded life of a class, the wear model's remaining life is adapted to them
/// (`models::adapt`, the preventive changes censored), the prediction says how much of it is
/// this machine's, and `agent train` prints and saves the Weibull fit from the store with a
/// leave-one-out check once a class has five worn-out lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_tool_changes_train_the_machines_own_tool_life() {
    let sc = e2e::scenario("normal-near-dry.toml", 60.0);
    let sim = Simulator::start(sc).await.unwrap();
    let dir = temp_dir("lifetimes");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // Where configs/agent.toml puts the store, relative to the directory `agent train` runs in.
    let store = dir.join("data/agent.db");
    let mut cfg = config(&store);
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();
    let auth = format!("Bearer {TOKEN}");
    let with = [("Authorization", auth.as_str()), ("X-Agent-User", "wang")];

    // Every tool that has cut a little is changed: three of four as worn out, the fourth as
    // preventive (a censored life), until a class has five worn-out lives behind a prediction.
    let mut changes = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let store_based = loop {
        // The next thing to act on: a prediction from the store's lifetimes, or tools that
        // have cut a little.
        let next = wait_until(
            deadline,
            format!("a prediction from five worn-out lives after {changes} changes"),
            || async {
                let life = get_json(&http, "/api/life").await.unwrap();
                let tools = life["tools"].as_array().unwrap();
                if let Some(t) = tools.iter().find(|t| {
                    t["prediction"]["sources"]["lives_worn_out"]
                        .as_u64()
                        .is_some_and(|n| n >= 5)
                }) {
                    return Some(Ok(t.clone()));
                }
                let due: Vec<String> = tools
                    .iter()
                    .filter(|t| {
                        let c = &t["counters"];
                        c["cutting_min"].as_f64().unwrap() >= 0.2
                            && c["cuts"].as_u64().unwrap() >= 1
                    })
                    .map(|t| t["tool_id"].as_str().unwrap().to_string())
                    .collect();
                (!due.is_empty()).then_some(Err(due))
            },
        )
        .await
        .unwrap();
        let due = match next {
            Ok(t) => break t,
            Err(due) => due,
        };
        for tool in due {
            let reason = if changes % 4 == 3 {
                "preventive"
            } else {
                "worn_out"
            };
            let url = format!("/api/tools/{tool}/change");
            let body = format!(r#"{{"reason": "{reason}"}}"#);
            let (code, v) = post(&http, &url, &with, &body).await.unwrap();
            assert_eq!(code, 200, "{v}");
            changes += 1;
        }
    };
    let p = &store_based["prediction"];
    let q = &p["remaining_min"];
    let (p10, p50, p90) = (
        q["p10"].as_f64().unwrap(),
        q["p50"].as_f64().unwrap(),
        q["p90"].as_f64().unwrap(),
    );
    assert!(0.0 <= p10 && p10 < p50 && p50 < p90, "{p}");
    let method = p["method"].as_str().unwrap();
    assert!(
        method.contains("recorded tool lives") && method.contains("worn out"),
        "{method}"
    );
    assert!(
        p["vb"].is_object(),
        "flank wear still from the wear model: {p}"
    );
    // Five lives or more against a prior worth a fifth of one: the figure is this machine's.
    let s = &p["sources"];
    let (prior, machine) = (
        s["prior_share"].as_f64().unwrap(),
        s["machine_share"].as_f64().unwrap(),
    );
    assert!(
        machine >= 5.0 / 5.2 - 1e-9 && (prior + machine - 1.0).abs() < 1e-9,
        "{s}"
    );
    assert!(s["life_factor"]["p50"].as_f64().unwrap() > 0.0, "{s}");
    assert!(s["prior_remaining_min"].is_object(), "{s}");
    let life = get_json(&http, "/api/life").await.unwrap();
    let class = life["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == p["class"])
        .unwrap_or_else(|| panic!("the class of {p} in {life}"));
    assert!(class["lives_worn_out"].as_u64().unwrap() >= 5, "{class}");
    agent.shutdown().await;
    sim.shutdown().await;

    // `agent train` on the same store: the same classes, with the check, saved as JSON.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agent-e2e"))
        .current_dir(&dir)
        .args(["train", "--config"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml"))
        .args(["--out", "tool-life.json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Weibull shape"), "{stdout}");
    assert!(
        stdout.contains(store_based["prediction"]["class"].as_str().unwrap()),
        "{stdout}"
    );
    let saved: Json =
        serde_json::from_slice(&std::fs::read(dir.join("tool-life.json")).unwrap()).unwrap();
    let class = saved["model"]["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == store_based["prediction"]["class"])
        .expect("the class predicted from is in the saved model");
    assert!(class["ended"].as_u64().unwrap() >= 3, "{class}");
    assert!(saved["leave_one_out"].is_array(), "{saved}");
    assert_eq!(saved["kind"], "tool-lifetime-model");
}
