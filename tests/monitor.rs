//! Process monitoring end to end: the simulator over real sockets (OPC UA), the agent
//! in-process with `[monitor]` on. The monitor learns a short operation from its first cycles;
//! normal cutting with part-to-part scatter and load noise raises nothing; a breakage (a load
//! spike, then the broken tool running on in air) raises the monitor's breakage alarm with its
//! evidence, and the finding is stored on the operation.

use std::time::Duration;

use agent::config::monitor::MonitorSettings;
use agent::config::DelayOverride;
use agent::Agent;
use e2e::{get_json, temp_dir, wait_until};
use serde_json::Value as Json;
use simulator::scenario::{Event, OperationConfig, OperationKind};
use simulator::Simulator;

/// Simulated seconds per wall second: a 100 ms poll is a second of machine time, so the
/// breakage's 30 s run-on spans some 30 polls.
const TIME_SCALE: f64 = 10.0;
const OP: &str = "OP10 pocket";
const KEY: &str = "monitor:O1001:OP10 pocket:breakage";

async fn monitor_alarms(http: &str) -> Option<Vec<Json>> {
    let a = get_json(http, "/api/alarms").await.ok()?;
    Some(
        a["alarms"]
            .as_array()?
            .iter()
            .filter(|x| x["key"].as_str().is_some_and(|k| k.starts_with("monitor:")))
            .cloned()
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakage_raises_the_monitors_alarm_with_its_evidence_and_normal_cutting_none() {
    let mut sc = e2e::scenario("process-monitoring.toml", TIME_SCALE);
    // One short operation per part: a cycle is some 20 s of machine time, 2 s of the test's.
    sc.program.part_change_s = 2.0;
    sc.program.air_move_s = 1.0;
    sc.program.breakage_downtime_s = 20.0;
    sc.program.operations = vec![OperationConfig {
        name: OP.into(),
        kind: OperationKind::Pocket,
        tool: 2,
        vc: 220.0,
        fz: 0.06,
        ap: 6.0,
        ae: 3.0,
        cut_length_mm: None,
        cut_time_s: Some(15.0),
        holes: None,
        hole_depth_mm: None,
    }];
    // No breakage but the one forced here, on the 10th part (after 3 learned and 6 judged).
    sc.wear.breakage_base_per_min = 0.0;
    sc.wear.breakage_wear_per_min = 0.0;
    sc.events.push(Event::ToolBreakage { at_s: 9.0 * 19.0 });
    let sim = Simulator::start(sc).await.unwrap();

    let store = temp_dir("monitor").join("agent.db");
    let mut cfg = agent::demo::simulator_config();
    cfg.store.flush_interval = Duration::from_millis(500);
    cfg.store.path = store;
    cfg.agent.listen = "127.0.0.1:0".into();
    cfg.monitor = MonitorSettings {
        enabled: true,
        ..MonitorSettings::default()
    };
    // A finding is the judgement: the alarm follows it at once.
    cfg.alarms.delays.push(DelayOverride {
        prefix: "monitor:".into(),
        on_delay: Duration::ZERO,
        off_delay: Duration::ZERO,
    });
    agent::demo::point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    let agent = Agent::start(cfg).await.unwrap();
    let http = agent.http_addr.to_string();

    // Learned from its first cycles.
    let learned = wait_until(Duration::from_secs(40), "the operation learned", || async {
        agent
            .monitor
            .get()
            .into_iter()
            .find(|s| s.operation == OP && s.learned_cycles.is_some())
    })
    .await
    .unwrap();
    assert_eq!(learned.learned_cycles, Some(3));
    assert_eq!(learned.signal.as_deref(), Some("spindle.load"));

    // Normal cutting after that, with its scatter and noise: judged, and nothing raised. The
    // machine is paused before the breakage's part to look.
    wait_until(Duration::from_secs(40), "7 parts", || async {
        (sim.snapshot().cnc.parts_counter >= 7).then_some(())
    })
    .await
    .unwrap();
    sim.pause();
    let alarms = monitor_alarms(&http).await.unwrap();
    assert!(
        alarms.iter().all(|a| a["state"] == "normal"),
        "normal cutting raised: {alarms:?}"
    );
    agent.store.sync();
    let now = agent::value::now_ms();
    let findings = agent
        .store
        .read(|r| r.monitor_findings(0, now, 10))
        .unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    sim.resume();

    // The breakage: the monitor's alarm, with the evidence in its message.
    let alarm = wait_until(Duration::from_secs(40), "the breakage alarm", || async {
        monitor_alarms(&http)
            .await?
            .into_iter()
            .find(|a| a["key"] == KEY && a["state"] != "normal")
    })
    .await
    .unwrap();
    assert_eq!(alarm["severity"], "critical", "{alarm}");
    let msg = alarm["message"].as_str().unwrap();
    assert!(msg.contains("tool breakage"), "{msg}");
    assert!(msg.contains("s into the operation"), "{msg}");
    assert!(msg.contains("spindle.load"), "{msg}");
    assert!(msg.contains("expected"), "{msg}");
    // Only the breakage: the air cut after it is no missing tool, nor an overload.
    let others: Vec<Json> = monitor_alarms(&http)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a["key"] != KEY && a["state"] != "normal")
        .collect();
    assert!(others.is_empty(), "{others:?}");

    // Recorded on the operation, with its evidence.
    let finding = wait_until(Duration::from_secs(20), "the finding stored", || async {
        agent.store.sync();
        let now = agent::value::now_ms();
        agent
            .store
            .read(|r| r.monitor_findings(0, now, 10))
            .ok()?
            .into_iter()
            .next()
    })
    .await
    .unwrap();
    assert_eq!(finding.kind.as_str(), "breakage");
    assert_eq!(finding.key.operation, OP);
    assert!(finding.measured < finding.lower, "{finding:?}");
    assert!(finding.expected > finding.measured * 1.5, "{finding:?}");
    assert!(finding.time_into_s > 0.0 && finding.position > 0.0 && finding.position <= 1.1);
    assert!(finding.operation_start_ms <= finding.ts_ms);
    agent.shutdown().await;
}
