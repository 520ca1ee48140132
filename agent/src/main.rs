//! `agent`: run the agent, run the demo (agent + built-in simulator), or check configurations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "agent", version, about = "Edge agent for green machining on machine tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent with a configuration file.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Override the HTTP listen address of the configuration.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Start the simulated machine tool and MQL unit in-process and run the agent against them.
    Demo {
        /// HTTP listen address of the status page and API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Simulator scenario file (default: normal near-dry cutting).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Simulated seconds per real second.
        #[arg(long)]
        time_scale: Option<f64>,
        /// Where the demo keeps its store.
        #[arg(long, default_value = "data/demo.db")]
        store: PathBuf,
    },
    /// Check configuration files and print every problem with file, line and column.
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,opcua=warn,async_opcua=warn".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { files } => check_config(&files),
        Command::Run { config, listen } => {
            let mut cfg = match agent::config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(l) = listen {
                cfg.agent.listen = l;
            }
            block_on(async move {
                let a = agent::Agent::start(cfg).await?;
                agent::stop_requested().await;
                a.shutdown().await;
                Ok(())
            })
        }
        Command::Demo { listen, scenario, time_scale, store } => block_on(async move {
            agent::demo::run(agent::demo::DemoOptions { listen, scenario, time_scale, store }).await
        }),
    }
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        // Two workers suffice for a machine's worth of devices and keep a Pi's memory for data.
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("starting the runtime");
    match rt.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for f in files {
        match agent::config::load(f) {
            Ok(c) => {
                let tags: usize = c.devices.iter().map(|d| d.tags.len()).sum();
                println!("{}: ok ({} devices, {tags} tags)", f.display(), c.devices.len());
            }
            Err(e) => {
                failed = true;
                println!("{e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
