//! Helpers shared by the end-to-end tests and the benchmark: waiting for a condition, the
//! agent as a child process, clocks that run in the agent, an address nobody listens on, and a
//! minimal HTTP/1.1 client over a real socket.

use std::fmt::Display;
use std::future::Future;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// When a wait gives up: at a deadline, or after a timeout from when it starts.
pub trait Deadline {
    fn deadline(self) -> Instant;
}

impl Deadline for Instant {
    fn deadline(self) -> Instant {
        self
    }
}

impl Deadline for Duration {
    fn deadline(self) -> Instant {
        Instant::now() + self
    }
}

/// How often [`wait_until`] asks.
const POLL: Duration = Duration::from_millis(50);

/// Polls `cond` every 50 ms until it yields `Some`, and returns that; an error naming `what`
/// was waited for once `until` (a deadline, or a timeout from now) has passed. `what` is
/// formatted only then, so it may show the last thing seen.
///
/// The one way the tests wait: for a condition of the system under test, never for a time.
pub async fn wait_until<T, F, Fut>(
    until: impl Deadline,
    what: impl Display,
    mut cond: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let end = until.deadline();
    loop {
        if let Some(v) = cond().await {
            return Ok(v);
        }
        if Instant::now() >= end {
            bail!("timed out after {:.1?} waiting for {what}", start.elapsed());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A loopback address nobody listens on, for a device that must be dead: a socket bound to
/// it for the whole test process but never listening, so a connection is refused at once and
/// no other test or program can take the port meanwhile.
pub fn dead_addr() -> SocketAddr {
    static DEAD: OnceLock<(tokio::net::TcpSocket, SocketAddr)> = OnceLock::new();
    DEAD.get_or_init(|| {
        let s = tokio::net::TcpSocket::new_v4().expect("a socket");
        s.bind("127.0.0.1:0".parse().unwrap())
            .expect("binding a loopback port");
        let addr = s.local_addr().unwrap();
        (s, addr)
    })
    .1
}

/// The agent's command line as a child process, killed when dropped. It listens where its
/// configuration (or `--listen`) says, typically port 0: `http` is the address it reports.
pub struct AgentProcess {
    pub child: Child,
    pub http: String,
}

impl AgentProcess {
    /// `agent run --config CONFIG --listen 127.0.0.1:0` of the binary `bin` (a test's
    /// `env!("CARGO_BIN_EXE_agent-e2e")`), logging warnings only.
    pub async fn run(bin: &str, config: &Path) -> AgentProcess {
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn");
        AgentProcess::spawn(cmd).await
    }

    /// Starts `cmd`, a command that runs the agent, and waits for the line in which the agent
    /// says where it listens (`listening on ADDR`, on standard output). The rest of its standard
    /// output (its log) goes on to standard error, read to its end so that the agent never
    /// blocks on it.
    pub async fn spawn(mut cmd: Command) -> AgentProcess {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the agent");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                match (line.strip_prefix("listening on "), tx.take()) {
                    (Some(addr), Some(tx)) => {
                        let _ = tx.send(addr.trim().to_string());
                    }
                    (_, not_yet) => {
                        eprintln!("{line}");
                        tx = not_yet;
                    }
                }
            }
        });
        let mut agent = AgentProcess {
            child,
            http: String::new(),
        };
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(addr)) => agent.http = addr,
            Ok(Err(_)) => panic!(
                "the agent ended without saying where it listens: {:?}",
                agent.child.wait()
            ),
            Err(_) => panic!("the agent did not say where it listens within 30 s"),
        }
        agent
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A benchmark's child mode (`--as-agent CONFIG`): `agent run --config CONFIG --listen
/// 127.0.0.1:0` and nothing else, so the agent's CPU and memory are its own. Never returns.
pub fn be_the_agent(config: &str) -> ! {
    let code = agent::cli::main_with([
        "agent",
        "run",
        "--config",
        config,
        "--listen",
        "127.0.0.1:0",
    ]);
    std::process::exit(i32::from(code != std::process::ExitCode::SUCCESS));
}

/// A benchmark's agent: the benchmark's own executable run as the agent (`--as-agent CONFIG`),
/// its log at warnings only, returned once it is connected to all its `devices`.
pub async fn bench_agent(config: &Path, devices: usize) -> Result<AgentProcess> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--as-agent").arg(config);
    bench_agent_from(cmd, devices).await
}

/// A benchmark's agent started by `cmd` (the benchmark itself as the agent, or a built agent
/// binary such as the package's with `run --config CONFIG`), its log at warnings only,
/// returned once it is connected to all its `devices`.
pub async fn bench_agent_from(mut cmd: Command, devices: usize) -> Result<AgentProcess> {
    cmd.env("RUST_LOG", "warn");
    let mut agent = AgentProcess::spawn(cmd).await;
    let http = agent.http.clone();
    let connected = wait_until(
        Duration::from_secs(30),
        "the agent to connect to every device",
        || async {
            let h = get_json(&http, "/healthz").await.ok()?;
            (h["devices_connected"].as_u64()? == devices as u64).then_some(())
        },
    )
    .await;
    match connected {
        Ok(()) => Ok(agent),
        Err(e) => {
            agent.kill();
            Err(e)
        }
    }
}

/// Requests the agent at `http` has made to `device` so far (`polls` in `/api/devices`).
pub async fn polls(http: &str, device: &str) -> Option<u64> {
    let d = get_json(http, "/api/devices").await.ok()?;
    d.as_array()?.iter().find(|d| d["name"] == device)?["polls"].as_u64()
}

/// How many more polls of a device polled every `interval` (one request per cycle) prove that
/// more than `d` has passed in the agent since the count `n` was read. Poll `n + 2` starts
/// after poll `n + 1` was counted, so after the reading. Each cycle is due at least `interval`
/// after the one before was due, and not before the one before started (missed cycles are
/// skipped, never caught up), so poll `n + 2 + j` starts at least `j - 1` intervals after
/// poll `n + 2`: poll `n + k` is counted more than `k - 3` intervals after the reading.
pub fn polls_for(interval: Duration, d: Duration) -> u64 {
    d.as_nanos().div_ceil(interval.as_nanos()) as u64 + 3
}

/// Waits until at least `d` has passed in the agent at `http` itself, counted by its polls of
/// `device` (polled every `interval`, one request per cycle): time on the agent's own poll
/// loop, not on the test's clock, which a loaded machine could run ahead of it. For tests that
/// show something does not happen in a while.
pub async fn agent_time_passes(
    http: &str,
    device: &str,
    interval: Duration,
    d: Duration,
) -> Result<()> {
    let timeout = d * 10 + Duration::from_secs(10);
    let what = format!("the agent to poll {device} for {d:?}");
    let p0 = wait_until(timeout, &what, || polls(http, device)).await?;
    let n = p0 + polls_for(interval, d);
    wait_until(timeout, &what, || async {
        polls(http, device).await.filter(|p| *p >= n)
    })
    .await
    .map(|_| ())
}

/// A response: status, headers (lower-cased names), body.
pub struct Reply {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request over a fresh socket; headers are (name, value) pairs.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    // Read to the end, or to Content-Length (Chromium's DevTools server keeps the socket open).
    let mut buf = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout_at(end.into(), s.read(&mut chunk))
            .await
            .context("read timed out")??;
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || complete(&buf) {
            break;
        }
    }
    let text = String::from_utf8(buf)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(Reply { code, head, body })
}

/// A response with a Content-Length that has all its body.
fn complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

/// `GET path` on `host:port`; the status code and body.
pub async fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let r = request(addr, "GET", path, &[], "").await?;
    Ok((r.code, r.body))
}

/// Decodes a chunked HTTP/1.1 body.
pub fn dechunk(mut s: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").context("chunk size")?;
        let n = usize::from_str_radix(size.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// `GET path` and parse the JSON body; an error unless the status is 200.
pub async fn get_json(addr: &str, path: &str) -> Result<serde_json::Value> {
    let (code, body) = get(addr, path).await?;
    if code != 200 {
        bail!("GET {path}: {code} {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// A scenario from `configs/scenarios/` on free loopback ports, at `time_scale`.
pub fn scenario(file: &str, time_scale: f64) -> simulator::scenario::ScenarioConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sc = simulator::scenario::ScenarioConfig::from_toml_str(&text).unwrap();
    sc.opcua.listen = "127.0.0.1:0".parse().unwrap();
    sc.modbus.listen = "127.0.0.1:0".parse().unwrap();
    sc.time_scale = time_scale;
    sc
}

/// `from_ms=` a day before now: a window that holds everything a test made (the API reads at
/// most a month per request, so `from_ms=0` is refused).
pub fn from_a_day_ago() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    format!("from_ms={}", now - 86_400_000)
}

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`; returns what arrives.
pub fn notify_socket(path: &std::path::Path) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let sock = std::os::unix::net::UnixDatagram::bind(path).unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            if tx
                .send(String::from_utf8_lossy(&buf[..n]).to_string())
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

/// For the benchmarks: CPU seconds (utime + stime), VmRSS and VmHWM in MiB, and write_bytes
/// (bytes that reached the disk) of a process, from /proc.
pub fn process_usage(pid: u32) -> Result<(f64, f64, f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = &stat[stat.rfind(')').context("stat")? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .context("write_bytes in /proc/PID/io")?
        .trim()
        .parse()?;
    // USER_HZ is 100 on every Linux this runs on.
    Ok((
        ticks / 100.0,
        kb("VmRSS:") / 1024.0,
        kb("VmHWM:") / 1024.0,
        written,
    ))
}

/// `configs/agent.toml` with its relative paths made absolute, pointed at the simulator and a
/// store in `dir`, with `extra` sections appended; written to `dir/agent.toml` and checked as
/// the agent checks it (a broken replacement fails at once).
pub fn example_config(
    sim: &simulator::Simulator,
    dir: &std::path::Path,
    extra: &str,
) -> Result<std::path::PathBuf> {
    let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .canonicalize()?;
    let text = std::fs::read_to_string(configs.join("agent.toml"))?;
    let c = configs.display();
    let text = text
        .replace(
            "path = \"data/agent.db\"",
            &format!("path = \"{}\"", dir.join("agent.db").display()),
        )
        .replace("\"standards/", &format!("\"{c}/standards/"))
        .replace("\"../models/", &format!("\"{c}/../models/"))
        .replace(
            "endpoint = \"opc.tcp://127.0.0.1:4840/\"",
            &format!("endpoint = \"{}\"", sim.opcua_endpoint()),
        )
        .replace(
            "pki_dir = \"data/pki\"",
            &format!("pki_dir = \"{}\"", dir.join("pki").display()),
        )
        .replace("127.0.0.1:5020", &sim.modbus_addr().to_string())
        + extra;
    let file = dir.join("agent.toml");
    std::fs::write(&file, text)?;
    agent::config::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(file)
}

/// A fresh directory under the system temp dir.
/// `chmod 600`: a configuration that holds a secret must be private to its owner.
pub fn private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("chmod 600 {}: {e}", path.display()));
}

pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "e2e-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[path = "support/mosquitto.rs"]
pub mod mosquitto;

#[path = "support/chromium.rs"]
pub mod chromium;

#[path = "support/asyncua.rs"]
pub mod asyncua;

#[path = "support/pymodbus.rs"]
pub mod pymodbus;

pub mod devices {
    //! Small Modbus TCP devices for tests and the benchmark, on real loopback sockets.

    use std::future;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_modbus::prelude::*;
    use tokio_modbus::server::tcp::{accept_tcp_connection, Server};

    /// Time cut into equal periods; the counter device's registers change at each boundary.
    pub struct Clock {
        pub start: Instant,
        pub change: Duration,
    }

    impl Clock {
        pub fn period(&self, at: Instant) -> u64 {
            (at.duration_since(self.start).as_nanos() / self.change.as_nanos()) as u64
        }
        pub fn began(&self, k: u64) -> Instant {
            self.start + self.change * k as u32
        }
    }

    /// Holding register `r` holds `(k + r) mod 65536` during period `k`.
    #[derive(Clone)]
    pub struct Counter {
        pub clock: Arc<Clock>,
        pub tags: u16,
    }

    impl tokio_modbus::server::Service for Counter {
        type Request = Request<'static>;
        type Response = Response;
        type Exception = ExceptionCode;
        type Future = future::Ready<Result<Response, ExceptionCode>>;

        fn call(&self, req: Self::Request) -> Self::Future {
            future::ready(match req {
                Request::ReadHoldingRegisters(addr, cnt)
                    if addr.saturating_add(cnt) <= self.tags =>
                {
                    let k = self.clock.period(Instant::now());
                    Ok(Response::ReadHoldingRegisters(
                        (addr..addr + cnt)
                            .map(|r| (k as u16).wrapping_add(r))
                            .collect(),
                    ))
                }
                Request::ReadHoldingRegisters(..) => Err(ExceptionCode::IllegalDataAddress),
                _ => Err(ExceptionCode::IllegalFunction),
            })
        }
    }

    /// Serves a counter device on a free loopback port.
    pub async fn counter(clock: Arc<Clock>, tags: u16) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dev = Counter { clock, tags };
        tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, peer| {
                let dev = dev.clone();
                async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(dev.clone()))) }
            };
            let _ = server
                .serve(&on_connected, |e| eprintln!("counter device: {e}"))
                .await;
        });
        addr
    }

    /// Holding registers the test sets as it goes (a device whose counter the test resets or
    /// glitches): reads within them answer their values, others an exception.
    #[derive(Clone)]
    pub struct Registers(pub Arc<std::sync::Mutex<Vec<u16>>>);

    impl Registers {
        /// Sets a u32 at `address` in the Modbus convention (high word first).
        pub fn set_u32(&self, address: usize, v: u32) {
            let mut r = self.0.lock().unwrap();
            r[address] = (v >> 16) as u16;
            r[address + 1] = v as u16;
        }
    }

    impl tokio_modbus::server::Service for Registers {
        type Request = Request<'static>;
        type Response = Response;
        type Exception = ExceptionCode;
        type Future = future::Ready<Result<Response, ExceptionCode>>;

        fn call(&self, req: Self::Request) -> Self::Future {
            let r = self.0.lock().unwrap();
            future::ready(match req {
                Request::ReadHoldingRegisters(addr, cnt)
                    if usize::from(addr) + usize::from(cnt) <= r.len() =>
                {
                    Ok(Response::ReadHoldingRegisters(
                        r[usize::from(addr)..usize::from(addr) + usize::from(cnt)].to_vec(),
                    ))
                }
                Request::ReadHoldingRegisters(..) => Err(ExceptionCode::IllegalDataAddress),
                _ => Err(ExceptionCode::IllegalFunction),
            })
        }
    }

    /// Serves `count` holding registers (all 0) on a free loopback port.
    pub async fn registers(count: usize) -> (SocketAddr, Registers) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dev = Registers(Arc::new(std::sync::Mutex::new(vec![0; count])));
        let served = dev.clone();
        tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, peer| {
                let dev = served.clone();
                async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(dev.clone()))) }
            };
            let _ = server
                .serve(&on_connected, |e| eprintln!("register device: {e}"))
                .await;
        });
        (addr, dev)
    }

    /// Name of the clock device in [`clock_toml`] and [`clock_config`].
    pub const CLOCK: &str = "clock";
    /// How often the agent polls the clock device.
    pub const CLOCK_INTERVAL: Duration = Duration::from_millis(100);

    /// A device for the agent to poll as a clock, for tests that must let time pass in the
    /// agent (see [`clock_passes`]): a counter with one register on a free loopback port.
    pub async fn clock_device() -> SocketAddr {
        let clock = Arc::new(Clock {
            start: Instant::now(),
            change: CLOCK_INTERVAL,
        });
        counter(clock, 1).await
    }

    /// Configuration of the clock device at `addr` (device `clock`, signal `clock.t`, polled
    /// every 100 ms in one request), to be appended to an agent's configuration file.
    pub fn clock_toml(addr: SocketAddr) -> String {
        format!(
            r#"
[poll_groups.{CLOCK}]
interval_ms = {}
[[device]]
name = "{CLOCK}"
protocol = "modbus-tcp"
address = "{addr}"
group = "{CLOCK}"
  [[device.tag]]
  name = "t"
  table = "holding"
  address = 0
"#,
            CLOCK_INTERVAL.as_millis()
        )
    }

    /// The clock device at `addr`, for a configuration built in code.
    pub fn clock_config(addr: SocketAddr) -> agent::config::Device {
        let cfg = agent::config::parse(std::path::Path::new("clock.toml"), &clock_toml(addr))
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.devices.into_iter().next().unwrap()
    }

    /// Waits until at least `d` has passed on the agent's own poll loop, counted by its polls
    /// of the clock device.
    pub async fn clock_passes(http: &str, d: Duration) -> anyhow::Result<()> {
        crate::agent_time_passes(http, CLOCK, CLOCK_INTERVAL, d).await
    }

    /// How the faulty device answers a read of holding registers at an address.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Answer {
        /// Correct: every register holds its address + 1000.
        Correct,
        /// A well-framed answer with fewer registers than asked for.
        Short,
        /// Bytes that are not a Modbus answer at all.
        Garbage,
    }

    /// A device written at the byte level, to answer what a well-behaved server library never
    /// would. `answer(address)` decides per request.
    pub async fn faulty(answer: fn(u16) -> Answer) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 12];
                    while sock.read_exact(&mut req).await.is_ok() {
                        // MBAP: transaction(2) protocol(2) length(2) unit(1); PDU: fc addr(2) count(2)
                        let (tid, unit, fc) = ([req[0], req[1]], req[6], req[7]);
                        let start = u16::from_be_bytes([req[8], req[9]]);
                        let count = u16::from_be_bytes([req[10], req[11]]);
                        let frame = |pdu: Vec<u8>| {
                            let mut f = vec![tid[0], tid[1], 0, 0];
                            f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
                            f.push(unit);
                            f.extend(pdu);
                            f
                        };
                        let registers = |n: u16| {
                            let mut pdu = vec![fc, (2 * n) as u8];
                            for r in start..start + n {
                                pdu.extend_from_slice(&(r + 1000).to_be_bytes());
                            }
                            pdu
                        };
                        let out = match answer(start) {
                            Answer::Correct => frame(registers(count)),
                            Answer::Short => frame(registers(count.saturating_sub(1))),
                            Answer::Garbage => {
                                vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0xff, 0xff, 0xff]
                            }
                        };
                        if sock.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }
}
