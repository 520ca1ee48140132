//! The green-machining edge agent.
//!
//! Data flows one way: **sources** (`sources`: Modbus, OPC UA) read devices and write the
//! **state** (`state`: the current value, quality and age of every canonical signal); the
//! **store** (`store`: SQLite) and the **HTTP API and page** (`http`) read from it. Evaluators
//! (green-cutting rules, life models, alarms) and further sinks (MQTT, exports) plug in at the
//! same place. See ARCHITECTURE.md.

pub mod alarms;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod condition;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod evaluators;
pub mod export;
pub mod fault;
pub mod field;
pub mod fleet;
pub mod fuzz_targets;
pub mod http;
pub mod notify;
pub mod records;
pub mod service;
pub mod sources;
pub mod state;
pub mod store;
pub mod supervise;
pub mod text;
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
    pub compliance: Arc<evaluators::compliance::Live>,
    pub life: Arc<evaluators::life::Life>,
    /// Process monitoring: each operation's envelope and what its detectors say.
    pub monitor: Arc<evaluators::monitor::View>,
    pub alarms: Arc<alarms::Alarms>,
    /// Where the HTTP server actually listens (the configured port may be 0).
    pub http_addr: SocketAddr,
    evaluators: evaluators::Evaluators,
    /// Publishing to the plant's broker, when `[mqtt]` is configured.
    fleet: Option<fleet::Fleet>,
    sources: sources::Sources,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// The composition root: opens the store, builds every part and wires them, starts the
    /// sources, the evaluator loop, the alarm service, its channels and the HTTP server.
    pub async fn start(config: Config) -> Result<Agent> {
        for u in config.profiles.iter().flat_map(|p| &p.untranslated) {
            tracing::warn!("{u}");
        }
        let state = Arc::new(State::new(&config));
        // Never fails: a damaged file is moved aside, an unusable one leaves a store that
        // records nothing this run (and says so); everything else runs from live data.
        let store = Store::start(&config.store, &state);
        if store.unavailable_reason().is_none() {
            match store.call(|tx| tx.close_dangling_violations(value::now_ms())) {
                Ok(0) => {}
                Ok(closed) => tracing::warn!(
                    "compliance: closed {closed} violation episodes left open by an unclean stop"
                ),
                // A full disk at start: the episodes are closed at the next start.
                Err(e) => tracing::warn!("compliance: closing dangling episodes failed: {e:#}"),
            }
        }
        let life = evaluators::life::Life::open(&config, store.clone())?;
        let compliance = Arc::new(evaluators::compliance::Live::default());
        let mut monitor = evaluators::monitor::Monitor::open(&config, &store);
        let monitor_view = monitor.view();
        // The feed-hold output, only where `[monitor.feed_hold]` names a pin.
        if let Some(f) = config
            .monitor
            .feed_hold
            .clone()
            .filter(|_| config.monitor.enabled)
        {
            let (tx, rx) = std::sync::mpsc::sync_channel(16);
            monitor.set_feed_hold(tx);
            notify::feed_hold::spawn(f, rx);
        }
        let evaluators = evaluators::Evaluators::start(
            &config.operations,
            &config.carbon,
            state.clone(),
            store.clone(),
            vec![
                Box::new(evaluators::health::Health::new(
                    config.alarms.device_severity,
                )),
                Box::new(evaluators::compliance::Compliance::new(
                    &config,
                    compliance.clone(),
                )),
                Box::new(life.clone()),
                Box::new(monitor),
            ],
        )?;
        let sources = sources::spawn_all(&config, &state);
        let mut tasks = Vec::new();
        // rustls (MQTT, webhooks, HTTPS) with ring: it cross-compiles to aarch64 with gcc alone.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let fleet = config
            .mqtt
            .as_ref()
            .map(|m| fleet::Fleet::start(m, state.clone(), store.clone(), life.clone()));
        let (notifier, channels) = channels(&config, fleet.as_ref());
        let notifier = Arc::new(notifier);
        let publish = {
            let n = notifier.clone();
            Box::new(move |t: &records::alarm::Transition| n.publish(t))
        };
        let alarms =
            alarms::Alarms::open(&config, store.clone(), evaluators.conditions(), publish)?;
        tasks.push(alarms.spawn(config.alarms.tick));
        tasks.extend(channels.into_iter().map(|start| start(&alarms)));
        // Every supervised loop, for `/healthz`, `/metrics` and systemd's watchdog.
        let loops: Vec<Arc<supervise::Pulse>> = evaluators
            .pulses()
            .iter()
            .chain([alarms.pulse()])
            .chain(store.pulse())
            .cloned()
            .collect();
        tasks.extend(crate::service::spawn_watchdog(loops.clone()));
        let (stream, producer) = http::stream::Hub::new();
        let app = http::AppState {
            state: state.clone(),
            store: store.clone(),
            compliance: compliance.clone(),
            life: life.clone(),
            shifts: config.shifts.clone(),
            carbon: config.carbon.clone(),
            machine: Arc::new(config.machine.clone()),
            alarms: alarms.clone(),
            notifier,
            auth: {
                let store = store.clone();
                http::auth::Auth::new(
                    &config.http,
                    &config.store.path.with_file_name("http-token"),
                    Box::new(move |e| store.record(store::Record::Access(e))),
                )
            },
            fleet: fleet.as_ref().map(|f| f.stats.clone()),
            loops,
            stream,
            monitor: monitor_view.clone(),
            language: config.agent.language.clone(),
        };
        producer.start(app.clone(), std::time::Duration::from_secs(1));
        let limits = http::Limits {
            timeout: config.http.request_timeout,
            concurrent: config.http.max_requests,
        };
        let (http_addr, http_task) = match &config.http.tls {
            Some((cert, key)) => {
                let tls = http::tls::server_config(cert, key)?;
                http::serve_tls(&config.agent.listen, app, limits, tls).await?
            }
            None => http::serve(&config.agent.listen, app, limits).await?,
        };
        if config.http.tls.is_none()
            && !http_addr.ip().is_loopback()
            && !config.http.allow_plaintext
        {
            tracing::warn!(
                "HTTP on {http_addr} without TLS: the token, logins and session cookies cross the \
                 network readable by anyone on it. Set [http] tls_cert and tls_key, or \
                 allow_plaintext = true if this network is trusted"
            );
        }
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
            monitor: monitor_view,
            alarms,
            http_addr,
            evaluators,
            fleet,
            sources,
            tasks,
        })
    }

    /// Stops the sources (closing the OPC UA sessions on their servers) and the HTTP server,
    /// marks the machine offline on the broker (what it has not acknowledged stays in the
    /// outbox), stops the evaluators and flushes the store.
    pub async fn shutdown(self) {
        self.sources.stop().await;
        for t in &self.tasks {
            t.abort();
        }
        if let Some(f) = self.fleet {
            f.shutdown().await;
        }
        let (store, evaluators) = (self.store.clone(), self.evaluators);
        let _ = tokio::task::spawn_blocking(move || {
            evaluators.stop();
            store.close()
        })
        .await;
    }
}

/// Starts one channel's task once the alarm service exists.
type ChannelStarter = Box<dyn FnOnce(&Arc<alarms::Alarms>) -> tokio::task::JoinHandle<()> + Send>;

/// The channels configured in `[notify]` (and MQTT through `fleet`): the notifier that feeds
/// them, and their starters.
fn channels(
    config: &Config,
    fleet: Option<&fleet::Fleet>,
) -> (notify::Notifier, Vec<ChannelStarter>) {
    let mut notifier = notify::Notifier::new(&config.agent.machine_id);
    let mut starters: Vec<ChannelStarter> = Vec::new();
    for w in &config.notify.webhooks {
        let (rx, stats) = notifier.channel(&format!("webhook:{}", w.name));
        let w = w.clone();
        starters.push(Box::new(move |_| {
            tokio::spawn(notify::webhook::run(w, rx, stats))
        }));
    }
    // MQTT: alarm events and the active set go out with everything else the agent publishes,
    // through the fleet publisher's outbox (one connection to the broker, one last will).
    if let Some(f) = fleet.filter(|_| config.mqtt.as_ref().is_some_and(|m| m.alarms)) {
        let (rx, stats) = notifier.channel("mqtt");
        let (tx, base) = (f.sender(), f.base_topic.clone());
        let machine_id = config.agent.machine_id.clone();
        starters.push(Box::new(move |a: &Arc<alarms::Alarms>| {
            tokio::spawn(fleet::producers::alarms(
                rx,
                a.subscribe(),
                machine_id,
                base,
                tx,
                stats,
            ))
        }));
    }
    if let Some(g) = &config.notify.gpio {
        let g = g.clone();
        starters.push(Box::new(move |a: &Arc<alarms::Alarms>| {
            let me = a.clone();
            let ack: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                me.acknowledge_all("button");
            });
            tokio::spawn(notify::gpio::run(g, a.subscribe(), ack))
        }));
    }
    (notifier, starters)
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
