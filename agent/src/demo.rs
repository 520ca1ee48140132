//! `agent demo`: the built-in simulator and the agent in one process, so a fresh checkout shows
//! a live machine with one command. The agent runs with the same configuration as against a
//! separately started simulator (`configs/agent.toml`, built in), pointed at the simulator's
//! actual ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simulator::scenario::ScenarioConfig;
use simulator::Simulator;

use crate::config::{self, Config, Connection};

/// The agent configuration for the simulator, compiled in so `demo` works from any directory.
pub const SIMULATOR_CONFIG: &str = include_str!("../../configs/agent.toml");

pub struct DemoOptions {
    pub listen: String,
    pub scenario: Option<PathBuf>,
    pub time_scale: Option<f64>,
    pub store: PathBuf,
}

/// The built-in agent configuration for the simulator.
pub fn simulator_config() -> Config {
    // Named by its place in the source tree, so that the standards profiles it names (relative
    // to it) are found from any working directory.
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml");
    config::parse(&file, SIMULATOR_CONFIG).expect("the built-in configuration is valid")
}

/// Points every OPC UA device at `opcua_endpoint` and every Modbus TCP device at `modbus`.
pub fn point_at(config: &mut Config, opcua_endpoint: &str, modbus: SocketAddr) {
    for d in &mut config.devices {
        match &mut d.connection {
            Connection::OpcUa { endpoint, .. } => *endpoint = opcua_endpoint.to_string(),
            Connection::ModbusTcp { address, .. } => *address = modbus.to_string(),
            Connection::ModbusRtu { .. } => {}
        }
    }
}

pub async fn run(o: DemoOptions) -> Result<()> {
    let mut scenario = match &o.scenario {
        Some(p) => ScenarioConfig::from_file(p)?,
        None => ScenarioConfig::default(),
    };
    // Free ports, so the demo never collides with a real server or another demo.
    scenario.opcua.listen = "127.0.0.1:0".parse()?;
    scenario.modbus.listen = "127.0.0.1:0".parse()?;
    if let Some(ts) = o.time_scale {
        scenario.time_scale = ts;
    }
    let name = scenario.name.clone();
    let sim = Simulator::start(scenario)
        .await
        .context("starting the simulator")?;
    let mut cfg = simulator_config();
    point_at(&mut cfg, &sim.opcua_endpoint(), sim.modbus_addr());
    cfg.agent.listen = o.listen;
    cfg.store.path = o.store;
    let agent = crate::Agent::start(cfg).await?;
    println!(
        "demo: simulator scenario `{name}` (OPC UA {}, Modbus TCP {}); status page http://{}/ ; Ctrl-C stops",
        sim.opcua_endpoint(),
        sim.modbus_addr(),
        agent.http_addr
    );
    crate::stop_requested().await;
    agent.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
