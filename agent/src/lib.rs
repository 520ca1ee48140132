//! The green-machining edge agent.
//!
//! Data flows one way: **sources** (`sources`: Modbus, OPC UA) read devices and write the
//! **state** (`state`: the current value, quality and age of every canonical signal); the
//! **store** (`store`: SQLite) and the **HTTP API and page** (`http`) read from it. Evaluators
//! (green-cutting rules, life models, alarms) and further sinks (MQTT, exports) plug in at the
//! same place. See ARCHITECTURE.md.

pub mod alarms;
pub mod cli;
pub mod codec;
pub mod config;
pub mod demo;
pub mod evaluators;
pub mod export;
pub mod fleet;
pub mod http;
pub mod notify;
pub mod sources;
pub mod state;
pub mod store;
pub mod value;
pub mod vocabulary;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;

use config::Config;
use state::State;
use store::Store;

/// A running agent.
pub struct Agent {
    pub config: Config,
    pub state: Arc<State>,
    pub store: Arc<Store>,
    pub compliance: Arc<evaluators::compliance::Compliance>,
    pub life: Arc<evaluators::life::Life>,
    pub alarms: Arc<alarms::Alarms>,
    /// Where the HTTP server actually listens (the configured port may be 0).
    pub http_addr: SocketAddr,
    /// Publishing to the plant's broker, when `[mqtt]` is configured.
    fleet: Option<fleet::Fleet>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Opens the store, starts every source and the HTTP server.
    pub async fn start(config: Config) -> Result<Agent> {
        let state = Arc::new(State::new(&config));
        let store = Store::open(&config.store, &state)?;
        let life = Arc::new(evaluators::life::Life::open(&config.life, store.path())?);
        let compliance = evaluators::compliance::Compliance::start(
            &config,
            state.clone(),
            store.path(),
            life.clone(),
        )?;
        let mut tasks = sources::spawn_all(&config, &state);
        // rustls (MQTT, webhooks, HTTPS) with ring: it cross-compiles to aarch64 with gcc alone.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fleet = config
            .mqtt
            .as_ref()
            .map(|m| fleet::Fleet::start(m, state.clone(), store.path(), life.clone()));
        let (notifier, channels) = alarms::start_channels(&config, fleet.as_ref());
        let alarms = alarms::Alarms::open(&config, state.clone(), notifier)?;
        {
            let c = compliance.clone();
            alarms.add_producer(Box::new(move || c.conditions()));
            let l = life.clone();
            alarms.add_producer(Box::new(move || l.conditions()));
        }
        tasks.push(alarms.spawn(config.alarms.tick));
        tasks.extend(channels.into_iter().map(|start| start(&alarms)));
        let app = http::AppState {
            state: state.clone(),
            store: store.clone(),
            compliance: compliance.clone(),
            life: life.clone(),
            shifts: config.shifts.clone(),
            alarms: alarms.clone(),
            auth: http::auth::Auth::new(&config.http),
            fleet: fleet.as_ref().map(|f| f.stats.clone()),
        };
        let (http_addr, http_task) = match &config.http.tls {
            Some((cert, key)) => {
                let tls = http::tls::server_config(cert, key)?;
                http::serve_tls(&config.agent.listen, app, tls).await?
            }
            None => http::serve(&config.agent.listen, app).await?,
        };
        tasks.push(http_task);
        tracing::info!(
            "agent {}: {} devices, {} signals, store {}, status page http://{http_addr}/",
            config.agent.machine_id,
            config.devices.len(),
            state.signals().len(),
            store.path().display()
        );
        Ok(Agent {
            config,
            state,
            store,
            compliance,
            life,
            alarms,
            http_addr,
            fleet,
            tasks,
        })
    }

    /// Stops the sources and the HTTP server, marks the machine offline on the broker (what
    /// it has not acknowledged stays in the outbox) and flushes the store.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(f) = self.fleet {
            f.shutdown().await;
        }
        let (store, compliance) = (self.store.clone(), self.compliance.clone());
        let _ = tokio::task::spawn_blocking(move || {
            compliance.stop();
            store.close()
        })
        .await;
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM, as systemd sends).
pub async fn stop_requested() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
