//! The simulator over real sockets: Modbus TCP and RTU (pty pair) with tokio-modbus clients,
//! OPC UA with an async-opcua client, values compared with the snapshot while paused.

use std::time::Duration;

use opcua::client::{ClientBuilder, IdentityToken};
use opcua::crypto::SecurityPolicy;
use opcua::types::{
    MessageSecurityMode, NodeId, ReadValueId, TimestampsToReturn, UserTokenPolicy, Variant,
};
use simulator::registers::{decode_f32, decode_f64, decode_u32, decode_u64, WordOrder};
use simulator::{ScenarioConfig, Simulator, Value, NAMESPACE_URI};
use tokio_modbus::prelude::*;

fn test_config(truth: Option<std::path::PathBuf>) -> ScenarioConfig {
    let mut cfg = ScenarioConfig::default();
    cfg.opcua.listen = "127.0.0.1:0".parse().unwrap();
    cfg.modbus.listen = "127.0.0.1:0".parse().unwrap();
    cfg.modbus.rtu_pty = true;
    cfg.time_scale = 60.0;
    cfg.seed = 7;
    cfg.truth.csv = truth;
    cfg
}

/// Polls the async `cond` every 20 ms until it yields `Some`, and returns that; fails naming `what` was
/// waited for once `timeout` has passed.
async fn wait_until<T, F: std::future::Future<Output = Option<T>>>(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait (up to 20 s) until the machine is in a cut with the aerosol on, then pause it.
async fn pause_while_cutting(sim: &Simulator) {
    wait_until(
        Duration::from_secs(20),
        "a cut with the aerosol on",
        || async {
            sim.pause();
            let s = sim.snapshot();
            if s.truth.cutting && s.mql.aerosol_on && s.sim_time_s > 10.0 {
                return Some(());
            }
            sim.resume();
            None
        },
    )
    .await
}

async fn with_timeout<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modbus_tcp_and_rtu_serve_the_snapshot() {
    let dir = std::env::temp_dir().join(format!("sim-it-modbus-{}", std::process::id()));
    let truth = dir.join("truth.csv");
    let sim = Simulator::start(test_config(Some(truth.clone())))
        .await
        .unwrap();
    assert_ne!(sim.modbus_addr().port(), 0);

    let mut ctx = with_timeout(tcp::connect_slave(sim.modbus_addr(), Slave(1)))
        .await
        .unwrap();

    pause_while_cutting(&sim).await;
    let snap = sim.snapshot();
    assert!(
        snap.sim_time_s > 10.0,
        "physics did not run: {}",
        snap.sim_time_s
    );

    // Unit 1, every input register, decoded per the README.
    let ir = with_timeout(ctx.read_input_registers(0, 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ir, snap.registers.mql_input.to_vec());
    assert_eq!(ir[0] as f64 * 0.1, snap.mql.oil_flow_ml_h);
    assert_eq!(ir[1] as f64, snap.mql.air_pressure_kpa);
    assert_eq!(ir[2] as f64 * 0.1, snap.mql.reservoir_level_pct);
    assert_eq!(
        decode_u32(&ir[3..5], WordOrder::Abcd),
        snap.mql.pump_strokes
    );
    assert_eq!(ir[5], snap.mql.status_word);
    assert_eq!(ir[6], snap.mql.fault_code);
    assert_eq!(decode_f32(&ir[7..9], WordOrder::Cdab), snap.mql.mist_mg_m3);
    assert_eq!(ir[9] as i16 as f64 * 0.1, snap.mql.aerosol_temp_c);
    assert_eq!(
        decode_f64(&ir[10..14], WordOrder::Abcd),
        snap.mql.oil_dispensed_ml
    );
    assert_eq!(
        decode_u64(&ir[14..18], WordOrder::Abcd),
        snap.mql.pump_operating_time_s
    );
    // The MQL unit is busy: the first cut is on with the aerosol.
    assert!(snap.mql.aerosol_on && snap.truth.cutting);
    assert!(snap.mql.oil_dispensed_ml > 12_500.0);
    assert!((400.0..600.0).contains(&snap.mql.air_pressure_kpa));

    let hr = with_timeout(ctx.read_holding_registers(100, 2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hr, vec![300, 550]);
    let di = with_timeout(ctx.read_discrete_inputs(0, 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(di, snap.registers.mql_discrete.to_vec());

    // Unit 2 on the same connection.
    ctx.set_slave(Slave(2));
    let s2 = with_timeout(ctx.read_input_registers(0, 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s2[0] as f64 * 0.01, snap.sensor.vibration_rms_mm_s);
    assert_eq!(s2[1] as i16 as f64 * 0.1, snap.sensor.bearing_temp_c);
    assert_eq!(
        decode_f32(&s2[2..4], WordOrder::Badc),
        snap.sensor.vibration_peak_mm_s
    );
    assert!(snap.sensor.vibration_rms_mm_s > 0.3);

    // Exceptions: out of map, writes, unknown unit.
    let e = with_timeout(ctx.read_input_registers(3, 2)).await.unwrap();
    assert_eq!(e, Err(ExceptionCode::IllegalDataAddress));
    ctx.set_slave(Slave(1));
    let e = with_timeout(ctx.read_input_registers(19, 2)).await.unwrap();
    assert_eq!(e, Err(ExceptionCode::IllegalDataAddress));
    let e = with_timeout(ctx.write_single_register(100, 1))
        .await
        .unwrap();
    assert_eq!(e, Err(ExceptionCode::IllegalFunction));
    ctx.set_slave(Slave(9));
    let e = with_timeout(ctx.read_input_registers(0, 1)).await.unwrap();
    assert_eq!(e, Err(ExceptionCode::GatewayTargetDevice));

    // RTU over the pty pair: same map, same values.
    let path = sim.rtu_agent_path().expect("pty on");
    let port = tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 19200))
        .unwrap();
    let mut rtu_ctx = rtu::attach_slave(port, Slave(1));
    let ir_rtu = with_timeout(rtu_ctx.read_input_registers(0, 20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ir_rtu, snap.registers.mql_input.to_vec());
    rtu_ctx.set_slave(Slave(2));
    let s2_rtu = with_timeout(rtu_ctx.read_input_registers(0, 4))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s2_rtu, snap.registers.sensor_input.to_vec());
    rtu_ctx.set_slave(Slave(1));
    let e = with_timeout(rtu_ctx.read_holding_registers(0, 1))
        .await
        .unwrap();
    assert_eq!(e, Err(ExceptionCode::IllegalDataAddress));

    // Paused means frozen: the physics loop takes its turns (200 ms of them) and changes nothing.
    let ticks = sim.ticks() + 5;
    wait_until(
        Duration::from_secs(10),
        "five turns of the physics loop",
        || async { (sim.ticks() >= ticks).then_some(()) },
    )
    .await;
    assert_eq!(sim.snapshot(), snap);
    sim.resume();
    // It goes on (past 25 s of simulated time: the ground truth checked below has a row per
    // simulated second).
    let goes_on = snap.sim_time_s.max(25.0);
    wait_until(
        Duration::from_secs(10),
        "simulated time to go on past 25 s",
        || async { (sim.snapshot().sim_time_s > goes_on).then_some(()) },
    )
    .await;

    // Stop closes the open connection; start serves on the same port again.
    let addr = sim.modbus_addr();
    sim.stop_modbus().await;
    let r = tokio::time::timeout(Duration::from_secs(5), ctx.read_input_registers(0, 1)).await;
    assert!(
        matches!(r, Ok(Err(_))),
        "request on a stopped server: {r:?}"
    );
    assert!(tcp::connect_slave(addr, Slave(1)).await.is_err());
    sim.start_modbus().await.unwrap();
    assert_eq!(sim.modbus_addr(), addr);
    let mut ctx = with_timeout(tcp::connect_slave(addr, Slave(1)))
        .await
        .unwrap();
    let v = with_timeout(ctx.read_holding_registers(100, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v, vec![300]);
    // RTU is back too.
    let v = with_timeout(rtu_ctx.read_holding_registers(101, 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v, vec![550]);

    sim.shutdown().await;

    // Ground truth: a header and about one row per simulated second so far.
    let text = std::fs::read_to_string(&truth).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("wall_time_ms,sim_time_s,program,operation,tool_id,cutting,vb_mm"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 20, "{} rows", rows.len());
    assert!(rows.iter().any(|r| r.contains(",OP10 face,T1-0001,true,")));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opcua_serves_the_cnc_nodes() {
    let mut cfg = test_config(None);
    cfg.modbus.rtu_pty = false;
    let sim = Simulator::start(cfg).await.unwrap();
    let url = sim.opcua_endpoint();
    assert!(url.starts_with("opc.tcp://127.0.0.1:") && url.ends_with('/'));

    let pki = std::env::temp_dir().join(format!("sim-it-client-pki-{}", std::process::id()));
    let (session, handle, ns) = connect(&url, &pki).await;
    assert_eq!(
        sim.opcua_sessions().await,
        Some(1),
        "the session is counted"
    );

    pause_while_cutting(&sim).await;
    let snap = sim.snapshot();
    let served = snap.opcua_values();
    let ids: Vec<ReadValueId> = served
        .iter()
        .map(|(id, _)| NodeId::new(ns, *id).into())
        .collect();
    let values = with_timeout(session.read(&ids, TimestampsToReturn::Both, 0.0))
        .await
        .unwrap();
    assert_eq!(values.len(), served.len());
    for ((id, expected), dv) in served.iter().zip(&values) {
        let got = dv.value.clone().unwrap_or(Variant::Empty);
        let want = match expected {
            Value::Double(x) => Variant::from(*x),
            Value::Boolean(b) => Variant::from(*b),
            Value::String(s) => Variant::from(s.as_str()),
            Value::Int32(i) => Variant::from(*i),
            Value::UInt32(u) => Variant::from(*u),
        };
        assert_eq!(got, want, "node {id}");
    }
    assert_eq!(snap.cnc.program_name, "O1001");
    assert!(snap.cnc.spindle_is_rotating);

    // A session closed by its client is no longer counted.
    let _ = session.disconnect().await;
    handle.abort();
    sessions_become(&sim, Some(0)).await;

    // Stop / start on the same port; a new session works.
    let (session, handle, _) = connect(&url, &pki).await;
    sessions_become(&sim, Some(1)).await;
    let _ = session.disconnect().await;
    handle.abort();
    sim.stop_opcua().await;
    assert_eq!(sim.opcua_sessions().await, None, "no server, no count");
    sim.start_opcua().await.unwrap();
    assert_eq!(sim.opcua_endpoint(), url);
    let (session, handle, ns) = connect(&url, &pki).await;
    let v = with_timeout(session.read(
        &[NodeId::new(ns, "Tool.Identifier").into()],
        TimestampsToReturn::Both,
        0.0,
    ))
    .await
    .unwrap();
    assert_eq!(
        v[0].value,
        Some(Variant::from(snap.cnc.tool_identifier.as_str()))
    );
    let _ = session.disconnect().await;
    handle.abort();
    sim.shutdown().await;
    std::fs::remove_dir_all(&pki).ok();
}

/// Waits (up to 10 s) until the OPC UA server counts `n` sessions.
async fn sessions_become(sim: &Simulator, n: Option<u32>) {
    let what = format!("{n:?} OPC UA sessions");
    wait_until(Duration::from_secs(10), &what, || async {
        (sim.opcua_sessions().await == n).then_some(())
    })
    .await
}

/// An anonymous, unsecured client session to the simulator, its event loop, and the index of
/// the simulator's namespace.
async fn connect(
    url: &str,
    pki: &std::path::Path,
) -> (
    std::sync::Arc<opcua::client::Session>,
    tokio::task::JoinHandle<opcua::types::StatusCode>,
    u16,
) {
    let mut client = ClientBuilder::new()
        .application_name("simulator test client")
        .application_uri("urn:green-machining:simulator:test-client")
        .pki_dir(pki)
        .create_sample_keypair(false)
        .trust_server_certs(true)
        .session_retry_limit(3)
        .client()
        .unwrap();
    let (session, event_loop) = with_timeout(client.connect_to_matching_endpoint(
        (
            url,
            SecurityPolicy::None.to_str(),
            MessageSecurityMode::None,
            UserTokenPolicy::anonymous(),
        ),
        IdentityToken::Anonymous,
    ))
    .await
    .unwrap();
    let handle = event_loop.spawn();
    with_timeout(session.wait_for_connection()).await;
    let ns = with_timeout(session.get_namespace_index(NAMESPACE_URI))
        .await
        .unwrap();
    (session, handle, ns)
}
