//! MQTT channel (rumqttc): every alarm event to `<prefix>/alarms/events`, the set of alarms
//! that are not normal (retained, so a dashboard that connects later sees it at once) to
//! `<prefix>/alarms/state`, and `online`/`offline` (retained, the latter as last will) to
//! `<prefix>/status`.
//!
//! rumqttc's event loop reconnects by itself; this task only publishes while connected and
//! keeps a bounded backlog meanwhile, so a broker outage costs memory up to `backlog` events
//! and nothing else.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS, Transport};
use tokio::sync::{mpsc, watch};

use super::{Backlog, ChannelStats, Event};
use crate::alarms::engine::AlarmView;
use crate::config::MqttSettings;

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn options(s: &MqttSettings) -> anyhow::Result<MqttOptions> {
    let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
    o.set_keep_alive(s.keep_alive);
    o.set_clean_session(true);
    o.set_last_will(LastWill::new(
        format!("{}/status", s.topic_prefix),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some((u, p)) = &s.credentials {
        o.set_credentials(u, p);
    }
    if s.tls {
        let transport = match &s.ca_file {
            Some(ca) => Transport::tls(std::fs::read(ca)?, None, None),
            None => {
                // The system's roots, through the same rustls (ring) as everything else.
                let mut roots = rustls::RootCertStore::empty();
                for c in rustls_native_roots()? {
                    let _ = roots.add(c);
                }
                let cfg = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(cfg)))
            }
        };
        o.set_transport(transport);
    }
    Ok(o)
}

/// The system's CA certificates (Debian: /etc/ssl/certs/ca-certificates.crt).
fn rustls_native_roots() -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let path = "/etc/ssl/certs/ca-certificates.crt";
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?
        .filter_map(Result::ok)
        .collect();
    Ok(certs)
}

/// Runs the channel until the engine goes away.
pub async fn run(
    s: MqttSettings,
    mut rx: mpsc::Receiver<Arc<Event>>,
    mut alarms: watch::Receiver<Arc<Vec<AlarmView>>>,
    stats: Arc<ChannelStats>,
) {
    let opts = match options(&s) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("mqtt {}:{}: {e:#}; MQTT channel off", s.host, s.port);
            return;
        }
    };
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let (connected_tx, mut connected) = watch::channel(false);
    let (host, port) = (s.host.clone(), s.port);
    // The event loop must be polled all the time (it is what sends, acknowledges and
    // reconnects); it runs beside the publisher and reports connection changes.
    let driver = tokio::spawn(async move {
        let mut logged = false;
        let mut wait = Duration::from_millis(500);
        loop {
            match eventloop.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("mqtt {host}:{port}: connected");
                    logged = false;
                    wait = Duration::from_millis(500);
                    let _ = connected_tx.send(true);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = connected_tx.send(false);
                    if !logged {
                        tracing::warn!("mqtt {host}:{port}: {e}; reconnecting with backoff");
                        logged = true;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
    let events_topic = format!("{}/alarms/events", s.topic_prefix);
    let state_topic = format!("{}/alarms/state", s.topic_prefix);
    let status_topic = format!("{}/status", s.topic_prefix);
    let mut backlog = Backlog::new(s.backlog, stats.clone());
    let mut state_dirty = true;
    loop {
        let up = *connected.borrow();
        if up {
            if state_dirty {
                let body = serde_json::to_vec(&**alarms.borrow_and_update()).unwrap_or_default();
                let ok = client
                    .try_publish(&state_topic, QoS::AtLeastOnce, true, body)
                    .is_ok()
                    && client
                        .try_publish(&status_topic, QoS::AtLeastOnce, true, "online")
                        .is_ok();
                state_dirty = !ok;
            }
            while let Some(e) = backlog.front() {
                let body = serde_json::to_vec(&**e).unwrap_or_default();
                // try_publish: the client's own queue full means wait, never block.
                if client
                    .try_publish(&events_topic, qos(s.qos), false, body)
                    .is_err()
                {
                    break;
                }
                backlog.pop();
                ChannelStats::add(&stats.delivered);
            }
        }
        tokio::select! {
            got = rx.recv() => match got {
                Some(e) => { backlog.push(e); backlog.drain_from(&mut rx); }
                None => break,
            },
            changed = alarms.changed() => {
                if changed.is_err() { break; }
                state_dirty = true;
            }
            _ = connected.changed() => {
                // Reconnected: the retained state may be older than what we know.
                state_dirty = true;
            }
            // Retry a full client queue soon.
            _ = tokio::time::sleep(Duration::from_millis(200)), if up && !backlog.is_empty() => {}
        }
    }
    driver.abort();
}
