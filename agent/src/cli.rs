//! The `agent` command line: run the agent, run the demo (agent + built-in simulator), export,
//! train tool life from the store, check configurations, and the tools that map a real machine
//! (`opcua-cert`, `browse`, `probe modbus`). It lives in the library so that
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
    #[cfg_attr(not(feature = "demo"), allow(dead_code))]
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
    /// Print a CNC's OPC UA address space from the Objects folder: node ids (`nsu=` form),
    /// browse paths, data types, access levels and values. With `--out`, write a draft
    /// configuration mapping what OPC 40502 (CNC) and OPC 40501 (Machine Tools) name onto the
    /// agent's signals. Read-only.
    Browse(BrowseArgs),
    /// Read a device once and print what it holds decoded every way, to map it from its manual.
    /// Read-only.
    Probe {
        #[command(subcommand)]
        what: ProbeCommand,
    },
    /// Switch the stack light's lamps and the buzzer off (`[notify.gpio]` of the configuration)
    /// and leave them off. The packaged systemd unit runs it after the agent stopped for any
    /// reason, a crash or a watchdog kill among them, so a dead agent never leaves a green lamp.
    LampsOff {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check configuration files and print every problem with file, line and column.
    CheckConfig {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct BrowseArgs {
    /// The server's endpoint, e.g. opc.tcp://192.168.0.10:4840/
    endpoint: String,
    /// Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss, ... (default None).
    #[arg(long, default_value = "None")]
    security_policy: String,
    /// Sign or SignAndEncrypt (default: SignAndEncrypt with a security policy, else None).
    #[arg(long)]
    security_mode: Option<String>,
    #[arg(long, requires = "password_file")]
    username: Option<String>,
    /// A file holding the password (mode 600).
    #[arg(long, requires = "username")]
    password_file: Option<PathBuf>,
    /// Send the user name and password over security policy None (readable on the network).
    #[arg(long)]
    allow_plaintext_credentials: bool,
    /// Where the client certificate and the trusted server certificates are.
    #[arg(long, default_value = "data/pki")]
    pki_dir: PathBuf,
    /// List at most this many nodes.
    #[arg(long, default_value_t = 5000)]
    max_nodes: usize,
    /// Browse at most this many levels below the Objects folder.
    #[arg(long, default_value_t = 12)]
    max_depth: usize,
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Write a draft configuration here.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ProbeCommand {
    /// Read Modbus registers (or coils) once and print each register as hex, u16 and i16 and
    /// each pair as u32, i32 and f32 in all four word and byte orders.
    Modbus {
        /// Modbus TCP: host:port.
        #[arg(long, required_unless_present = "port", conflicts_with = "port")]
        address: Option<String>,
        /// Modbus RTU: the serial port, e.g. /dev/ttyUSB0.
        #[arg(long)]
        port: Option<String>,
        #[arg(long, default_value_t = 19200)]
        baud: u32,
        /// none, even or odd.
        #[arg(long, default_value = "even")]
        parity: String,
        /// The unit (slave) id.
        #[arg(long, default_value_t = 1)]
        unit: u8,
        /// holding, input, coil or discrete.
        #[arg(long, default_value = "holding")]
        table: String,
        /// Zero-based addresses A..B (B excluded) or A..=B.
        #[arg(long)]
        range: String,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
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
    crate::supervise::quiet_repeated_panics();
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
    match &cli.command {
        Command::Run { .. } | Command::Demo { .. } => {}
        Command::Browse(a) => init_logging(a.security_policy != "None"),
        _ => init_logging(true),
    }
    match cli.command {
        Command::CheckConfig { files } => check_config(&files),
        Command::LampsOff { config } => lamps_off(&config),
        Command::Browse(args) => browse(args),
        Command::Probe {
            what:
                ProbeCommand::Modbus {
                    address,
                    port,
                    baud,
                    parity,
                    unit,
                    table,
                    range,
                    timeout_ms,
                },
        } => probe_modbus(
            address, port, baud, &parity, unit, &table, &range, timeout_ms,
        ),
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
                crate::service::ready(&format!("listening on {}", a.http_addr));
                crate::stop_requested().await;
                crate::service::stopping();
                a.shutdown().await;
                Ok(())
            })
        }
        #[cfg(feature = "demo")]
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
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => {
            eprintln!(
                "error: this agent was built without the demo (the simulated machine tool is \
                 left out of the packaged binary to keep it small). Run the demo from the \
                 source tree with `cargo run --release -p agent -- demo`, or build this binary \
                 with `cargo build --release -p agent --features demo`."
            );
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr (systemd's journal takes them; stdout carries the `listening on` line),
/// coloured only on a terminal. `RUST_LOG` overrides the levels.
fn init_logging(secure_opcua: bool) {
    use std::io::IsTerminal;
    // async-opcua warns that the client configuration lists no endpoints (the agent connects
    // to the configured URL, not to a list) and that the transport disconnected when the agent
    // closes a session itself; the agent reports connections and their loss in its own words.
    let mut levels = "info,opcua=warn,async_opcua=warn,opcua_client::config=error,\
                      opcua_client::session::event_loop=error"
        .to_string();
    if !secure_opcua {
        // async-opcua reports a missing client certificate as an error even on endpoints with
        // security policy None, where none is needed: a new user reads ERROR lines as failure.
        // Connection failures still reach the log and the device's `last_error` through the
        // agent's own messages.
        levels.push_str(
            ",opcua_client::session::client=off,opcua_core::comms::secure_channel=off,\
             opcua_crypto::certificate_store=off",
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| levels.into()),
        )
        .with_writer(std::io::stderr)
        // A log line that cannot be written (standard error redirected to a file on a disk that
        // is full) is lost, and only that: the default reports it with `eprintln!`, which
        // panics when standard error fails, in whichever loop was logging (the store's writer
        // on a full disk).
        .log_internal_errors(false)
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

/// The device `agent browse` connects to, checked as a configuration would check it (one set
/// of rules: policy names, the password file's mode, no credentials over policy None).
fn browse_device(a: &BrowseArgs) -> Result<crate::config::Device, String> {
    let mut device = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        device.insert(k.to_string(), v);
    };
    let s = |v: &str| toml::Value::String(v.to_string());
    put("name", s("browse"));
    put("protocol", s("opcua"));
    put("endpoint", s(&a.endpoint));
    put("timeout_ms", toml::Value::Integer(a.timeout_ms as i64));
    put("security_policy", s(&a.security_policy));
    let mode = a.security_mode.clone().unwrap_or_else(|| {
        if a.security_policy == "None" {
            "None".into()
        } else {
            "SignAndEncrypt".into()
        }
    });
    put("security_mode", s(&mode));
    put("pki_dir", s(&a.pki_dir.to_string_lossy()));
    if let (Some(u), Some(f)) = (&a.username, &a.password_file) {
        put("username", s(u));
        put("password_file", s(&f.to_string_lossy()));
    }
    if a.allow_plaintext_credentials {
        put("allow_plaintext_credentials", toml::Value::Boolean(true));
    }
    // A configuration needs a tag; the browse reads none of them (ServerStatus.State).
    let mut tag = toml::Table::new();
    tag.insert("name".into(), s("server_state"));
    tag.insert("node".into(), s("ns=0;i=2259"));
    put("tag", toml::Value::Array(vec![toml::Value::Table(tag)]));
    let mut root = toml::Table::new();
    root.insert(
        "device".into(),
        toml::Value::Array(vec![toml::Value::Table(device)]),
    );
    let text = toml::to_string(&root).map_err(|e| e.to_string())?;
    match crate::config::parse(std::path::Path::new("(command line)"), &text) {
        Ok(mut c) => Ok(c.devices.remove(0)),
        Err(e) => Err(e
            .problems
            .iter()
            .map(|p| p.message.clone())
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// `agent browse`: the address space, and a draft configuration with `--out`.
fn browse(a: BrowseArgs) -> ExitCode {
    let device = match browse_device(&a) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = crate::sources::opcua_browse::Limits {
        max_nodes: a.max_nodes,
        max_depth: a.max_depth,
    };
    let out = a.out.clone();
    block_on(async move {
        let space = crate::sources::opcua_browse::browse(&device, limits).await?;
        print!("{}", space.render());
        if let Some(path) = out {
            let crate::config::Connection::OpcUa {
                security_policy,
                security_mode,
                ..
            } = &device.connection
            else {
                unreachable!("browse connects to OPC UA devices only");
            };
            let pki = a.pki_dir.to_string_lossy();
            let password_file = a.password_file.as_ref().map(|p| p.to_string_lossy());
            let text = crate::sources::opcua_draft::draft(
                &space,
                &crate::sources::opcua_draft::Connection {
                    endpoint: &a.endpoint,
                    security_policy,
                    security_mode,
                    username: a.username.as_deref(),
                    password_file: password_file.as_deref(),
                    pki_dir: (security_policy != "None").then_some(&*pki),
                },
            );
            std::fs::write(&path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            println!(
                "draft configuration written to {}: check it with `agent check-config {}`",
                path.display(),
                path.display()
            );
        }
        Ok(())
    })
}

/// `agent probe modbus`.
#[allow(clippy::too_many_arguments)]
fn probe_modbus(
    address: Option<String>,
    port: Option<String>,
    baud: u32,
    parity: &str,
    unit: u8,
    table: &str,
    range: &str,
    timeout_ms: u64,
) -> ExitCode {
    use crate::config::{Parity, Table};
    use crate::sources::modbus_probe::{Probe, ProbeLink};
    let table = match table {
        "holding" => Table::Holding,
        "input" => Table::Input,
        "coil" => Table::Coil,
        "discrete" => Table::Discrete,
        other => {
            eprintln!("error: --table `{other}`: one of holding, input, coil, discrete");
            return ExitCode::from(2);
        }
    };
    let Some((start, end)) = parse_range(range) else {
        eprintln!(
            "error: --range `{range}`: zero-based addresses A..B (B excluded) or A..=B, e.g. 0..10"
        );
        return ExitCode::from(2);
    };
    let link = match (address, port) {
        (Some(a), _) => ProbeLink::Tcp(a),
        (None, Some(port)) => ProbeLink::Rtu {
            port,
            baud,
            parity: match parity {
                "none" => Parity::None,
                "even" => Parity::Even,
                "odd" => Parity::Odd,
                other => {
                    eprintln!("error: --parity `{other}`: one of none, even, odd");
                    return ExitCode::from(2);
                }
            },
        },
        (None, None) => unreachable!("clap requires --address or --port"),
    };
    let probe = Probe {
        link,
        unit_id: unit,
        table,
        start,
        end,
        timeout: std::time::Duration::from_millis(timeout_ms),
    };
    block_on(async move {
        let words = crate::sources::modbus_probe::read(&probe).await?;
        print!("{}", crate::sources::modbus_probe::render(&probe, &words));
        Ok(())
    })
}

/// `A..B` (B excluded) or `A..=B`.
fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once("..")?;
    let start: u16 = a.trim().parse().ok()?;
    let end: u32 = match b.strip_prefix('=') {
        Some(b) => u32::from(b.trim().parse::<u16>().ok()?) + 1,
        None => u32::from(b.trim().parse::<u16>().ok()?),
    };
    let end = u16::try_from(end.min(u32::from(u16::MAX))).ok()?;
    (end > start).then_some((start, end))
}

fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    // One thread runs every task: a machine's worth of devices keeps it busy a few percent of
    // the time, and with a second worker each device's answer also woke the idle one to look
    // for work (README "Footprint"). Nothing blocks it: SQLite, exports and the evaluators run
    // on threads of their own or the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
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

/// `agent lamps-off`: reads only `[notify.gpio]`, so a configuration that has gone bad since the
/// agent started still gets its lamps switched off.
fn lamps_off(config: &std::path::Path) -> ExitCode {
    let settings = match crate::config::load_gpio(config) {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!(
                "lamps-off: no [notify.gpio] in {}: nothing to switch",
                config.display()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match crate::notify::gpio::switch_off(&settings) {
        Ok(n) => {
            println!("lamps-off: {n} outputs switched off");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: lamps-off: {e}");
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
                // A profile's text without its Chinese is no error (the page shows the English).
                for u in c.profiles.iter().flat_map(|p| &p.untranslated) {
                    println!("warning: {u}");
                }
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
