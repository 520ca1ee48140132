//! A simulated machine tool for testing the green-machining edge agent: a CNC with an OPC UA
//! server, an MQL unit and a spindle condition sensor over Modbus TCP and RTU, driven by
//! cutting, wear, lubrication and bearing physics. See README.md for the interface contract
//! and the models.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let mut cfg = simulator::ScenarioConfig::default();
//! cfg.opcua.listen = "127.0.0.1:0".parse()?;
//! cfg.modbus.listen = "127.0.0.1:0".parse()?;
//! let sim = simulator::Simulator::start(cfg).await?;
//! println!("{} {}", sim.opcua_endpoint(), sim.modbus_addr());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod modbus_server;
pub mod nodes;
pub mod opcua_server;
pub mod physics;
pub mod registers;
pub mod scenario;
pub mod serial;
pub mod snapshot;
pub mod truth;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::task::JoinHandle;

use modbus_server::{RtuServer, TcpServer};
use opcua_server::OpcUaServer;
use physics::{Action, Machine};
use truth::TruthWriter;

pub use nodes::{Value, NAMESPACE_URI};
pub use scenario::ScenarioConfig;
pub use snapshot::Snapshot;

/// Wall-clock period of the physics loop; each tick runs as many fixed steps as the elapsed
/// wall time times `time_scale` asks for.
const TICK: Duration = Duration::from_millis(50);
/// At most this much wall time is caught up in one tick (after a stall, time jumps instead
/// of bursting).
const MAX_CATCH_UP: Duration = Duration::from_millis(500);

/// The latest published state; servers read it, the physics loop replaces it.
pub(crate) struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Shared {
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, s: Snapshot) {
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The physics and the ground-truth file, advanced by the physics loop.
struct Engine {
    machine: Machine,
    truth: Option<TruthWriter>,
    step_s: f64,
    truth_interval_s: f64,
    next_truth_s: f64,
    /// Simulated seconds owed to the physics (less than one step carried over).
    owed_s: f64,
    /// Happenings since the last truth row (bounded by the machine's own log bound).
    events: Vec<String>,
}

impl Engine {
    /// Run the steps for `sim_s` simulated seconds that end at wall time `wall_end_ms`,
    /// publish the state, write truth rows. Returns the server actions that fell due.
    fn advance(
        &mut self,
        sim_s: f64,
        wall_end_ms: u64,
        time_scale: f64,
        shared: &Shared,
    ) -> Vec<Action> {
        self.owed_s += sim_s;
        let steps = (self.owed_s / self.step_s).floor() as u64;
        self.owed_s -= steps as f64 * self.step_s;
        let t_end = self.machine.t_s + steps as f64 * self.step_s;
        let energy_before_kwh = self.machine.energy_kwh();
        let mut actions = Vec::new();
        for _ in 0..steps {
            self.machine.step(self.step_s);
            actions.extend(self.machine.take_actions());
            if self.truth.is_some() && self.machine.t_s + 1e-9 >= self.next_truth_s {
                self.next_truth_s += self.truth_interval_s;
                self.events.extend(self.machine.take_log());
                // Wall time at which this simulated instant is reached in real time.
                let behind_ms = ((t_end - self.machine.t_s) / time_scale * 1000.0) as u64;
                let snap = Snapshot::from_observation(
                    &self.machine.observe(),
                    wall_end_ms.saturating_sub(behind_ms),
                );
                if let Some(w) = &mut self.truth {
                    if let Err(e) = w.write_row(&snap, &self.events) {
                        tracing::warn!("truth CSV write failed, stopping it: {e}");
                        self.truth = None;
                    }
                }
                self.events.clear();
            }
        }
        if self.truth.is_none() {
            // Nobody collects the log: drop it so it stays bounded.
            let _ = self.machine.take_log();
        }
        if steps > 0 {
            let mut snap = Snapshot::from_observation(&self.machine.observe(), wall_end_ms);
            // The power served is the mean over this tick (its energy over its duration), as a
            // drive's power reading is a mean over its own measuring interval. A client that
            // reads every publication then integrates exactly the energy, at any time scale;
            // an instantaneous value would alias short peaks (spindle run-up) once a tick
            // spans a good part of a second of simulated time.
            let tick_s = steps as f64 * self.step_s;
            snap.cnc.spindle_power_kw =
                (self.machine.energy_kwh() - energy_before_kwh) * 3600.0 / tick_s;
            shared.publish(snap);
        }
        if let Some(w) = &mut self.truth {
            if let Err(e) = w.flush() {
                tracing::warn!("truth CSV flush failed: {e}");
            }
        }
        actions
    }
}

struct Inner {
    cfg: ScenarioConfig,
    shared: Arc<Shared>,
    engine: Mutex<Engine>,
    paused: AtomicBool,
    /// Turns of the physics loop so far, paused or not.
    ticks: AtomicU64,
    modbus_addr: SocketAddr,
    opcua_addr: SocketAddr,
    opcua_host: String,
    pki_dir: PathBuf,
    modbus_tcp: tokio::sync::Mutex<Option<TcpServer>>,
    modbus_rtu: tokio::sync::Mutex<Option<RtuServer>>,
    /// Where RTU is served (a real port or the simulator end of the pty pair).
    rtu_path: Option<String>,
    opcua: tokio::sync::Mutex<Option<OpcUaServer>>,
    pty: Option<serial::PtyPair>,
    physics: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    async fn stop_modbus(&self) {
        if let Some(s) = self.modbus_tcp.lock().await.take() {
            s.stop().await;
            tracing::info!("modbus tcp on {} stopped", self.modbus_addr);
        }
        if let Some(s) = self.modbus_rtu.lock().await.take() {
            s.stop().await;
            tracing::info!("modbus rtu stopped");
        }
    }

    async fn start_modbus(&self) -> anyhow::Result<()> {
        {
            let mut tcp = self.modbus_tcp.lock().await;
            if tcp.is_none() {
                let (_, s) = TcpServer::start(self.modbus_addr, self.shared.clone())
                    .await
                    .with_context(|| format!("binding modbus tcp on {}", self.modbus_addr))?;
                *tcp = Some(s);
                tracing::info!("modbus tcp listening on {}", self.modbus_addr);
            }
        }
        if let Some(path) = &self.rtu_path {
            let mut rtu = self.modbus_rtu.lock().await;
            if rtu.is_none() {
                *rtu = Some(RtuServer::start(
                    path.clone(),
                    self.cfg.modbus.baud,
                    self.shared.clone(),
                ));
            }
        }
        Ok(())
    }

    async fn stop_opcua(&self) {
        if let Some(s) = self.opcua.lock().await.take() {
            s.stop().await;
            tracing::info!("opc ua server on {} stopped", self.opcua_addr);
        }
    }

    async fn start_opcua(&self) -> anyhow::Result<()> {
        let mut guard = self.opcua.lock().await;
        if guard.is_none() {
            let (_, s) = OpcUaServer::start(
                self.opcua_addr,
                &self.opcua_host,
                &self.pki_dir,
                self.shared.clone(),
            )
            .await?;
            *guard = Some(s);
            tracing::info!("opc ua server listening on {}", self.opcua_addr);
        }
        Ok(())
    }

    async fn run_action(&self, a: Action) {
        tracing::info!("scenario event: {a:?}");
        let r = match a {
            Action::StopModbus => {
                self.stop_modbus().await;
                Ok(())
            }
            Action::StartModbus => self.start_modbus().await,
            Action::StopOpcUa => {
                self.stop_opcua().await;
                Ok(())
            }
            Action::StartOpcUa => self.start_opcua().await,
        };
        if let Err(e) = r {
            tracing::error!("{a:?} failed: {e:#}");
        }
    }

    /// Advance the physics by the wall time since the last tick (unless paused).
    fn tick(&self, wall: Duration) -> Vec<Action> {
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: once `pause()` holds the lock nothing is stepped.
        let actions = if self.paused.load(Ordering::SeqCst) {
            Vec::new()
        } else {
            let sim_s = wall.min(MAX_CATCH_UP).as_secs_f64() * self.cfg.time_scale;
            engine.advance(sim_s, now_ms(), self.cfg.time_scale, &self.shared)
        };
        // Counted once the turn has published what it stepped.
        self.ticks.fetch_add(1, Ordering::SeqCst);
        actions
    }
}

async fn physics_loop(inner: Arc<Inner>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = tokio::time::Instant::now();
    loop {
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let wall = now - last;
        last = now;
        for a in inner.tick(wall) {
            inner.run_action(a).await;
        }
    }
}

/// A running simulated machine: physics, OPC UA server, Modbus TCP (and RTU) servers.
pub struct Simulator {
    inner: Arc<Inner>,
}

static PKI_SEQ: AtomicU64 = AtomicU64::new(0);

impl Simulator {
    /// Validates the scenario, binds the servers (port 0 picks free ports) and starts the
    /// physics. Must be called inside a tokio runtime.
    pub async fn start(cfg: ScenarioConfig) -> anyhow::Result<Simulator> {
        cfg.validate()?;
        let machine = Machine::new(&cfg);
        let first = Snapshot::from_observation(&machine.observe(), now_ms());
        let mut truth = match &cfg.truth.csv {
            Some(path) => Some(TruthWriter::create(path)?),
            None => None,
        };
        if let Some(w) = &mut truth {
            w.write_row(&first, &[])?;
            w.flush()?;
        }
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(first)),
        });

        let pty = if cfg.modbus.rtu_pty {
            Some(serial::PtyPair::new().context("creating the RTU pty pair")?)
        } else {
            None
        };
        let rtu_path = match (&pty, &cfg.modbus.rtu_port) {
            (Some(p), _) => Some(p.simulator_path().to_string_lossy().into_owned()),
            (None, Some(port)) => Some(port.clone()),
            (None, None) => None,
        };

        let (modbus_addr, tcp) = TcpServer::start(cfg.modbus.listen, shared.clone())
            .await
            .with_context(|| format!("binding modbus tcp on {}", cfg.modbus.listen))?;
        let rtu = rtu_path
            .as_ref()
            .map(|p| RtuServer::start(p.clone(), cfg.modbus.baud, shared.clone()));

        let opcua_host = cfg
            .opcua
            .advertised_host
            .clone()
            .unwrap_or_else(|| endpoint_ip(cfg.opcua.listen.ip()).to_string());
        let pki_dir = std::env::temp_dir().join(format!(
            "green-machining-sim-pki-{}-{}",
            std::process::id(),
            PKI_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let (opcua_addr, opcua) =
            OpcUaServer::start(cfg.opcua.listen, &opcua_host, &pki_dir, shared.clone()).await?;

        let engine = Engine {
            machine,
            truth,
            step_s: cfg.step_s,
            truth_interval_s: cfg.truth.interval_s,
            next_truth_s: cfg.truth.interval_s,
            owed_s: 0.0,
            events: Vec::new(),
        };
        let inner = Arc::new(Inner {
            cfg,
            shared,
            engine: Mutex::new(engine),
            paused: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            modbus_addr,
            opcua_addr,
            opcua_host,
            pki_dir,
            modbus_tcp: tokio::sync::Mutex::new(Some(tcp)),
            modbus_rtu: tokio::sync::Mutex::new(rtu),
            rtu_path,
            opcua: tokio::sync::Mutex::new(Some(opcua)),
            pty,
            physics: Mutex::new(None),
        });
        let task = tokio::spawn(physics_loop(inner.clone()));
        *inner.physics.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);

        let sim = Simulator { inner };
        tracing::info!(
            scenario = %sim.inner.cfg.name,
            time_scale = sim.inner.cfg.time_scale,
            seed = sim.inner.cfg.seed,
            "simulator running: OPC UA {} (namespace {}), Modbus TCP {}",
            sim.opcua_endpoint(),
            NAMESPACE_URI,
            sim.modbus_addr()
        );
        if let Some(p) = sim.rtu_agent_path() {
            tracing::info!("Modbus RTU on a pty pair: agent side {}", p.display());
        } else if let Some(port) = &sim.inner.cfg.modbus.rtu_port {
            tracing::info!("Modbus RTU on {port} at {} baud", sim.inner.cfg.modbus.baud);
        }
        Ok(sim)
    }

    /// The scenario this simulator runs.
    pub fn config(&self) -> &ScenarioConfig {
        &self.inner.cfg
    }

    /// `opc.tcp://HOST:PORT/` with the bound port.
    pub fn opcua_endpoint(&self) -> String {
        format!(
            "opc.tcp://{}:{}/",
            self.inner.opcua_host,
            self.inner.opcua_addr.port()
        )
    }

    /// The bound Modbus TCP address (the real port when 0 was asked for).
    pub fn modbus_addr(&self) -> SocketAddr {
        let a = self.inner.modbus_addr;
        SocketAddr::new(endpoint_ip(a.ip()), a.port())
    }

    /// The tty the agent opens for Modbus RTU when a pty pair is on.
    pub fn rtu_agent_path(&self) -> Option<PathBuf> {
        self.inner
            .pty
            .as_ref()
            .map(|p| p.agent_path().to_path_buf())
    }

    /// Stops Modbus TCP (closing open connections) and RTU.
    pub async fn stop_modbus(&self) {
        self.inner.stop_modbus().await
    }

    /// Starts Modbus TCP again on the same port, and RTU if configured.
    pub async fn start_modbus(&self) -> anyhow::Result<()> {
        self.inner.start_modbus().await
    }

    /// Stops the OPC UA server (closing sessions).
    pub async fn stop_opcua(&self) {
        self.inner.stop_opcua().await
    }

    /// Starts the OPC UA server again on the same port.
    pub async fn start_opcua(&self) -> anyhow::Result<()> {
        self.inner.start_opcua().await
    }

    /// OPC UA sessions open on the server now (`None` while it is stopped): a client that
    /// drops its connection without closing its session leaves one open until it times out.
    pub async fn opcua_sessions(&self) -> Option<u32> {
        self.inner.opcua.lock().await.as_ref().map(|s| s.sessions())
    }

    /// Freezes the physics: served values stay exactly as in `snapshot()` until `resume()`.
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        // Wait out a tick in progress, so nothing is published after this returns.
        drop(self.inner.engine.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Continues the physics from where it was paused (no catch-up of the paused time).
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// Turns the physics loop has taken so far (one per 50 ms of wall time), paused or not: a
    /// clock of the simulator itself, for telling that it had time to change something.
    pub fn ticks(&self) -> u64 {
        self.inner.ticks.load(Ordering::SeqCst)
    }

    /// The true state: every served value in engineering units, plus the truth.
    pub fn snapshot(&self) -> Snapshot {
        (*self.inner.shared.snapshot()).clone()
    }

    /// Stops the physics and all servers, flushes the truth CSV.
    pub async fn shutdown(self) {
        self.abort_physics();
        self.inner.stop_opcua().await;
        self.inner.stop_modbus().await;
        if let Some(w) = &mut self
            .inner
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .truth
        {
            let _ = w.flush();
        }
        remove_pki_dir(&self.inner.pki_dir);
        tracing::info!("simulator stopped");
    }

    fn abort_physics(&self) {
        if let Some(t) = self
            .inner
            .physics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Without shutdown(): at least stop the physics loop (it holds the last reference to
        // the servers; they end with the runtime).
        self.abort_physics();
    }
}

fn remove_pki_dir(dir: &Path) {
    if dir.starts_with(std::env::temp_dir()) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// 127.0.0.1 for an unspecified listen address, else the address itself.
fn endpoint_ip(ip: IpAddr) -> IpAddr {
    if ip.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        ip
    }
}
