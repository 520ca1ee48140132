//! `simulator --config FILE [--time-scale X] [--seed N]`: run a simulated machine tool until
//! Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use simulator::{ScenarioConfig, Simulator};

#[derive(Debug, Parser)]
#[command(
    name = "simulator",
    version,
    about = "Simulated CNC (OPC UA) with MQL unit and spindle sensor (Modbus TCP/RTU)"
)]
struct Args {
    /// Scenario file (TOML), e.g. configs/scenarios/normal-near-dry.toml
    #[arg(long)]
    config: PathBuf,
    /// Simulated seconds per wall second (overrides the scenario)
    #[arg(long)]
    time_scale: Option<f64>,
    /// Random seed (overrides the scenario)
    #[arg(long)]
    seed: Option<u64>,
    /// Ground-truth CSV path (overrides the scenario's [truth] csv)
    #[arg(long)]
    truth_csv: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The OPC UA stack reports the absent application certificate at error level on every
    // start; with security policy None there is none by design, so that line is filtered.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,opcua_crypto::certificate_store=off,opcua_server::server=error".into()
            }),
        )
        .init();
    let args = Args::parse();
    let mut cfg = ScenarioConfig::from_file(&args.config)?;
    if let Some(x) = args.time_scale {
        cfg.time_scale = x;
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(p) = args.truth_csv {
        cfg.truth.csv = Some(p);
    }
    let sim = Simulator::start(cfg)
        .await
        .with_context(|| format!("starting scenario {}", args.config.display()))?;
    if let Some(p) = sim.rtu_agent_path() {
        // Printed plainly too, so a script can pick it up.
        println!("rtu_agent_path={}", p.display());
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("Ctrl-C: shutting down");
    sim.shutdown().await;
    Ok(())
}
