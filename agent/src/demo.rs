//! `agent demo`: the built-in simulator and the agent in one process, so a fresh checkout shows
//! a live machine with one command. The agent runs with the same configuration as against a
//! separately started simulator (`configs/agent.toml`, built in), pointed at the simulator's
//! actual ports.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use simulator::scenario::ScenarioConfig;
use simulator::Simulator;

use crate::config::{self, Config, Connection};

/// The agent configuration for the simulator, compiled in so `demo` works from any directory.
pub const SIMULATOR_CONFIG: &str = include_str!("../../configs/agent.toml");

/// Where the built-in configuration says it is: the files it names (standards profiles, the
/// wear model) are looked up relative to it among [`BUILT_IN`].
const BUILT_IN_CONFIG: &str = "(built in)/configs/agent.toml";

/// The files the example configuration names, compiled in with it: the demo never reads the
/// source tree, so a copied or installed binary runs it from any directory.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "(built in)/configs/standards/gbt31210-near-dry.toml",
        include_str!("../../configs/standards/gbt31210-near-dry.toml"),
    ),
    (
        "(built in)/configs/standards/gbt28614-dry.toml",
        include_str!("../../configs/standards/gbt28614-dry.toml"),
    ),
    (
        "(built in)/models/trained/nasa-milling.json",
        include_str!("../../models/trained/nasa-milling.json"),
    ),
];

/// Reads one of the [`BUILT_IN`] files (`configs/../models` resolved as a path would be).
fn read_built_in(path: &Path) -> std::io::Result<String> {
    let mut parts: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir => {}
            c => parts.push(c),
        }
    }
    let path: PathBuf = parts.iter().collect();
    BUILT_IN
        .iter()
        .find(|(name, _)| Path::new(name) == path)
        .map(|(_, text)| text.to_string())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not built into the demo", path.display()),
            )
        })
}

pub struct DemoOptions {
    pub listen: String,
    pub scenario: Option<PathBuf>,
    pub time_scale: Option<f64>,
    pub store: PathBuf,
}

/// The built-in agent configuration for the simulator, with its built-in profiles and model.
pub fn simulator_config() -> Config {
    config::parse_with(Path::new(BUILT_IN_CONFIG), SIMULATOR_CONFIG, &read_built_in)
        .expect("the built-in configuration is valid")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_reads_nothing_from_disk() {
        // Every file the example configuration names is built in: the profiles and the wear
        // model come from the binary, whatever the working directory.
        let c = simulator_config();
        assert_eq!(c.profiles.len(), 2);
        let model = c.life.wear_model.expect("the example's wear model");
        assert!(model.path.starts_with("(built in)"), "{:?}", model.path);
        let e = read_built_in(Path::new("(built in)/configs/other.toml")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(read_built_in(Path::new(
            "(built in)/configs/../models/trained/nasa-milling.json"
        ))
        .is_ok());
    }
}
