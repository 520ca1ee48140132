//! The `agent` command line: run the agent, run the demo (agent + built-in simulator), export,
//! train tool life from the store, or check configurations. It lives in the library so that
//! tests and benchmarks run the very same program as a child process.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agent",
    version,
    about = "Edge agent for green machining on machine tools"
)]
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
        /// Override the HTTP listen address of the configuration. Once the page and API are up,
        /// the address they listen on (with port 0, the port the system picked) is printed on
        /// standard output as `listening on ADDR`.
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
    /// Export residual life, operations or signals from the store as CSV or Parquet.
    Export(crate::export::CliArgs),
    /// Fit tool life per tool class from the tool changes in the store (worn out, or censored:
    /// preventive and broken), print it with a leave-one-out check, and save it with `--out`.
    /// The running agent refits the same model by itself after every change.
    Train {
        #[arg(long, short)]
        config: PathBuf,
        /// Write the fitted model and its check as JSON.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Create the agent's OPC UA client certificate where the configuration keeps it
    /// (`pki_dir`), and print what to trust on the CNC and which server certificates the agent
    /// has refused (move one into `pki_dir/trusted` once its thumbprint is checked).
    OpcuaCert {
        #[arg(long, short)]
        config: PathBuf,
        /// Only this device (default: every OPC UA device).
        #[arg(long)]
        device: Option<String>,
    },
    /// Check configuration files and print every problem with file, line and column.
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs the command line with the process arguments.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// Runs the command line with the given arguments (the first is the program name).
pub fn main_with<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // Logging starts once it is known whether any OPC UA device uses security.
    let secure = |c: &crate::config::Config| {
        c.devices.iter().any(|d| {
            matches!(&d.connection, crate::config::Connection::OpcUa { security_policy, .. }
                if security_policy != "None")
        })
    };
    if !matches!(cli.command, Command::Run { .. } | Command::Demo { .. }) {
        init_logging(true);
    }
    match cli.command {
        Command::CheckConfig { files } => check_config(&files),
        Command::OpcuaCert { config, device } => match crate::config::load(&config) {
            Ok(cfg) => opcua_cert(&cfg, device.as_deref()),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Export(args) => crate::export::cli(args),
        Command::Train { config, out } => match crate::config::load(&config) {
            Ok(cfg) => {
                crate::evaluators::life::lifetimes::train_cli(&cfg.store.path, out.as_deref())
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run { config, listen } => {
            let mut cfg = match crate::config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            if let Some(l) = listen {
                cfg.agent.listen = l;
            }
            init_logging(secure(&cfg));
            block_on(async move {
                let a = crate::Agent::start(cfg).await?;
                // A stable line for scripts and tests that start the agent on port 0. Not a
                // log line: no level or format hides or changes it. A closed stdout is no error.
                let _ = writeln!(std::io::stdout(), "listening on {}", a.http_addr);
                crate::stop_requested().await;
                a.shutdown().await;
                Ok(())
            })
        }
        Command::Demo {
            listen,
            scenario,
            time_scale,
            store,
        } => block_on(async move {
            // The simulator's endpoint uses no security.
            init_logging(false);
            crate::demo::run(crate::demo::DemoOptions {
                listen,
                scenario,
                time_scale,
                store,
            })
            .await
        }),
    }
}

/// Logs go to stderr (systemd's journal takes them; stdout carries the `listening on` line),
/// coloured only on a terminal. `RUST_LOG` overrides the levels.
fn init_logging(secure_opcua: bool) {
    use std::io::IsTerminal;
    let mut levels = "info,opcua=warn,async_opcua=warn".to_string();
    if !secure_opcua {
        // async-opcua reports a missing client certificate as an error even on endpoints with
        // security policy None, where none is needed: a new user reads four ERROR lines as
        // failure. Connection failures still reach the log and the device's `last_error`
        // through the agent's own messages.
        levels.push_str(",opcua_client::session::client=off,opcua_core::comms::secure_channel=off");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| levels.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init()
        .ok();
}

/// `agent opcua-cert`: the client certificate, what to trust, what was refused.
fn opcua_cert(cfg: &crate::config::Config, only: Option<&str>) -> ExitCode {
    let devices: Vec<_> = cfg
        .devices
        .iter()
        .filter(|d| matches!(d.connection, crate::config::Connection::OpcUa { .. }))
        .filter(|d| only.is_none_or(|n| n == d.name))
        .collect();
    if devices.is_empty() {
        eprintln!(
            "error: no OPC UA device{} in the configuration",
            only.map_or(String::new(), |n| format!(" named `{n}`"))
        );
        return ExitCode::from(2);
    }
    let mut failed = false;
    for d in devices {
        match crate::sources::opcua::certificate_report(d) {
            Ok(report) => println!("{report}"),
            Err(e) => {
                eprintln!("error: {}: {e:#}", d.name);
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
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
        match crate::config::load(f) {
            Ok(c) => {
                let tags: usize = c.devices.iter().map(|d| d.tags.len()).sum();
                println!(
                    "{}: ok ({} devices, {tags} tags)",
                    f.display(),
                    c.devices.len()
                );
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
