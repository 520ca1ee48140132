//! The connection to the plant's broker: QoS 1, in order, nothing forgotten.
//!
//! The outbox holds every message until its PUBACK. At most `WINDOW` messages are in flight;
//! after a reconnect everything unacknowledged is sent again from the oldest, so a consumer
//! sees every message, in order, possibly twice (`seq` tells). The MQTT session is clean:
//! redelivery is ours, from the outbox, not the broker's, so it also survives an agent restart.
//!
//! rumqttc's event loop must be polled without interruption, so it runs in its own task (the
//! driver) and reports here. Each connection gets a fresh client and event loop, numbered: a
//! publish handed to a connection that has just died dies with it, and can never be taken for
//! one of the next connection's. Within a connection the broker's PUBACKs are matched to our
//! messages through the packet ids rumqttc reports in the order we published.
//!
//! The outbox runs on a thread of its own (`outbox_thread.rs`); this task only exchanges
//! messages with it over channels, so it never waits on the SD card.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, Transport};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::outbox::epoch_text;
use super::outbox_thread::{Batch, OutboxLink, Request};
use super::FleetStats;
use crate::backoff::Backoff;
use crate::config::MqttSettings;
use crate::value::{now_ms, rfc3339};

/// Messages in flight at once: enough to keep a LAN broker busy, small enough that a
/// redelivery after a reconnect is short. rumqttc's own limit is set above it so that its
/// packet ids never wrap onto a message still in flight.
const WINDOW: usize = 64;
const TICK: Duration = Duration::from_millis(200);

fn options(s: &MqttSettings) -> anyhow::Result<MqttOptions> {
    let mut o = MqttOptions::new(&s.client_id, &s.host, s.port);
    o.set_keep_alive(s.keep_alive);
    o.set_clean_session(true);
    o.set_inflight((WINDOW * 4) as u16);
    // Life views of a tool magazine run to tens of kB; the default 10 kB would refuse them.
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let Some((u, p)) = &s.credentials {
        o.set_credentials(u, p);
    }
    if s.tls {
        let mut roots = rustls::RootCertStore::empty();
        match &s.ca_file {
            Some(ca) => {
                use rustls::pki_types::pem::PemObject;
                for c in rustls::pki_types::CertificateDer::pem_file_iter(ca)
                    .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", ca.display()))?
                {
                    roots.add(c.map_err(|e| anyhow::anyhow!("ca_file {}: {e}", ca.display()))?)?;
                }
            }
            None => {
                // The system's roots (Debian: ca-certificates), through the same rustls (ring)
                // as everything else.
                use rustls::pki_types::pem::PemObject;
                let path = "/etc/ssl/certs/ca-certificates.crt";
                for c in rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| anyhow::anyhow!("{path}: {e}"))?
                    .flatten()
                {
                    let _ = roots.add(c);
                }
            }
        }
        let cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(cfg)),
        ));
    }
    Ok(o)
}

/// The last will: the broker publishes it when the agent dies. Set anew for each connection,
/// with the sequence's epoch of the moment.
fn last_will(s: &MqttSettings, epoch: u64) -> LastWill {
    let will = json!({
        "state": "offline",
        "reason": "connection lost",
        "machine_id": machine(s),
        "epoch": epoch_text(epoch),
    });
    LastWill::new(status_topic(s), will.to_string(), QoS::AtLeastOnce, true)
}

fn status_topic(s: &MqttSettings) -> String {
    format!("{}/status", s.base_topic)
}

fn machine(s: &MqttSettings) -> &str {
    s.base_topic.rsplit('/').next().unwrap_or_default()
}

/// What the driver reports, tagged with the connection it is about.
enum Report {
    Connected(u64, AsyncClient),
    /// rumqttc gave our next publish this packet id.
    Sent(u64, u16),
    Acked(u64, u16),
    Lost(u64),
}

/// Polls the event loop forever, one fresh client per connection, with the agent's one
/// reconnection policy (jittered, so a plant's agents do not all knock at once when the broker
/// comes back).
async fn drive(
    mut opts: MqttOptions,
    s: MqttSettings,
    stats: Arc<FleetStats>,
    tx: mpsc::UnboundedSender<Report>,
) {
    let label = format!("{}:{}", s.host, s.port);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut epoch = 0;
    let mut logged = false;
    loop {
        epoch += 1;
        opts.set_last_will(last_will(&s, stats.epoch.load(Ordering::Relaxed)));
        let (client, mut el) = AsyncClient::new(opts.clone(), WINDOW + 8);
        // Without TCP_NODELAY, Nagle's algorithm and the broker's delayed ACKs hold each small
        // publish back for ~40 ms: 1,400 messages/s instead of the broker's pace.
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        let mut up = false;
        loop {
            let sent = match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("mqtt {label}: connected");
                    up = true;
                    logged = false;
                    backoff.reset();
                    tx.send(Report::Connected(epoch, client.clone()))
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => tx.send(Report::Sent(epoch, pkid)),
                Ok(Event::Incoming(Packet::PubAck(a))) => tx.send(Report::Acked(epoch, a.pkid)),
                Ok(_) => Ok(()),
                Err(e) => {
                    if !logged {
                        tracing::warn!("mqtt {label}: {e}; queueing and reconnecting with backoff");
                        logged = true;
                    }
                    if up {
                        let _ = tx.send(Report::Lost(epoch));
                    }
                    break;
                }
            };
            if sent.is_err() {
                return; // the session is gone
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

struct InFlight {
    /// `None`: the status message, which is not in the outbox.
    pos: Option<u64>,
    pkid: Option<u16>,
    acked: bool,
}

struct Session {
    s: MqttSettings,
    outbox: OutboxLink,
    stats: Arc<FleetStats>,
    conn: Option<(u64, AsyncClient)>,
    inflight: VecDeque<InFlight>,
    /// The newest message handed to this connection.
    sent_through: Option<u64>,
    /// The id of the request for messages still open (its answer not yet here), and of the
    /// last one made: an answer to any other is about a connection that has since died.
    asked: Option<u64>,
    requests: u64,
    /// Acknowledged, in order, not yet removed from the outbox: (through pos, count).
    acked: Option<(u64, u64)>,
    /// The latest retained message handed out per topic, sent again on every connect: a
    /// broker that restarted without persistence has forgotten them.
    retained: std::collections::BTreeMap<String, Vec<u8>>,
}

impl Session {
    fn status(&self, state: &str, reason: &str) -> Vec<u8> {
        let now = now_ms();
        json!({
            "state": state,
            "reason": reason,
            "machine_id": machine(&self.s),
            "ts": rfc3339(now),
            "ts_ms": now,
            "agent_version": env!("CARGO_PKG_VERSION"),
            "epoch": epoch_text(self.stats.epoch.load(Ordering::Relaxed)),
        })
        .to_string()
        .into_bytes()
    }

    fn on_report(&mut self, r: Report) {
        match r {
            Report::Connected(epoch, client) => {
                self.inflight.clear();
                self.sent_through = None;
                self.asked = None;
                let again = self.retained.clone().into_iter();
                for (topic, payload) in
                    std::iter::once((status_topic(&self.s), self.status("online", "connected")))
                        .chain(again)
                {
                    if client
                        .try_publish(topic, QoS::AtLeastOnce, true, payload)
                        .is_ok()
                    {
                        self.inflight.push_back(InFlight {
                            pos: None,
                            pkid: None,
                            acked: false,
                        });
                    }
                }
                self.conn = Some((epoch, client));
                self.stats.connected.store(true, Ordering::Relaxed);
            }
            Report::Sent(epoch, pkid) if self.is_current(epoch) => {
                if let Some(m) = self.inflight.iter_mut().find(|m| m.pkid.is_none()) {
                    m.pkid = Some(pkid);
                }
            }
            Report::Acked(epoch, pkid) if self.is_current(epoch) => {
                if let Some(m) = self
                    .inflight
                    .iter_mut()
                    .find(|m| m.pkid == Some(pkid) && !m.acked)
                {
                    m.acked = true;
                }
                // Only an unbroken run from the oldest counts: the outbox forgets in order.
                while self.inflight.front().is_some_and(|m| m.acked) {
                    if let Some(pos) = self.inflight.pop_front().unwrap().pos {
                        let n = self.acked.map_or(0, |(_, n)| n);
                        self.acked = Some((pos, n + 1));
                    }
                }
            }
            Report::Lost(epoch) if self.is_current(epoch) => {
                self.conn = None;
                self.stats.connected.store(false, Ordering::Relaxed);
                // What was acknowledged must go before the next connection starts again from
                // the oldest message, or it would be sent twice for nothing.
                self.apply_acks();
                self.inflight.clear();
                self.sent_through = None;
                self.asked = None;
            }
            _ => {} // about a connection that is already gone
        }
    }

    fn is_current(&self, epoch: u64) -> bool {
        self.conn.as_ref().is_some_and(|(e, _)| *e == epoch)
    }

    fn apply_acks(&mut self) {
        if let Some((pos, count)) = self.acked.take() {
            self.outbox.send(Request::Acked { pos, count });
        }
    }

    /// Asks the outbox for the next messages while the window has room. Refilled in halves,
    /// so that a replay from disk reads pages rather than single rows.
    fn fill(&mut self) {
        if self.conn.is_none() || self.asked.is_some() || self.inflight.len() > WINDOW / 2 {
            return;
        }
        self.requests += 1;
        self.asked = Some(self.requests);
        self.outbox.send(Request::Next {
            id: self.requests,
            after: self.sent_through,
            n: WINDOW - self.inflight.len(),
        });
    }

    /// Hands the messages the outbox answered with to the connection.
    fn send(&mut self, batch: Batch) {
        if self.asked != Some(batch.id) {
            return; // asked for a connection that has died since
        }
        self.asked = None;
        let Some((_, client)) = &self.conn else {
            return;
        };
        for m in batch.messages {
            if m.retain {
                self.retained.insert(m.topic.clone(), m.payload.clone());
            }
            if client
                .try_publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload)
                .is_err()
            {
                return; // the client's queue is full: on the next report
            }
            self.inflight.push_back(InFlight {
                pos: Some(m.pos),
                pkid: None,
                acked: false,
            });
            self.sent_through = Some(m.pos);
        }
    }

    /// Marks the machine offline (a clean disconnect sends no last will) and keeps everything
    /// not yet delivered on disk for the next start.
    async fn close(mut self, reports: &mut mpsc::UnboundedReceiver<Report>) {
        if let Some((epoch, client)) = self.conn.clone() {
            let offline = client.try_publish(
                status_topic(&self.s),
                QoS::AtLeastOnce,
                true,
                self.status("offline", "stopped"),
            );
            if offline.is_ok() {
                self.inflight.push_back(InFlight {
                    pos: None,
                    pkid: None,
                    acked: false,
                });
                let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
                while self.inflight.iter().any(|m| m.pos.is_none() && !m.acked)
                    && self.is_current(epoch)
                {
                    match tokio::time::timeout_at(deadline, reports.recv()).await {
                        Ok(Some(r)) => self.on_report(r),
                        _ => break,
                    }
                }
            }
            let _ = client.try_disconnect();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.apply_acks();
        self.outbox.close(Duration::from_secs(2)).await;
    }
}

/// Runs the connection until `stop` turns true or the outbox thread is gone. `opened` says
/// when the outbox has opened its file (and so knows the sequence's epoch): only then does
/// the session connect.
pub async fn run(
    s: MqttSettings,
    outbox: OutboxLink,
    opened: tokio::sync::oneshot::Receiver<super::outbox_thread::Opened>,
    stats: Arc<FleetStats>,
    mut stop: watch::Receiver<bool>,
) {
    let opts = match options(&s) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("mqtt {}:{}: {e:#}; fleet publishing off", s.host, s.port);
            return;
        }
    };
    tokio::select! {
        _ = opened => {}
        _ = stop.changed() => {
            outbox.close(Duration::from_secs(2)).await;
            return;
        }
    }
    let (tx, mut reports) = mpsc::unbounded_channel();
    let driver = tokio::spawn(drive(opts, s.clone(), stats.clone(), tx));
    let mut me = Session {
        s,
        outbox,
        stats,
        conn: None,
        inflight: VecDeque::new(),
        sent_through: None,
        asked: None,
        requests: 0,
        acked: None,
        retained: Default::default(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = reports.recv() => match r {
                Some(r) => {
                    me.on_report(r);
                    while let Ok(r) = reports.try_recv() {
                        me.on_report(r);
                    }
                }
                None => break,
            },
            b = me.outbox.batches.recv() => match b {
                Some(b) => me.send(b),
                None => {
                    tracing::error!("mqtt: the outbox's thread has ended; publishing stops");
                    break;
                }
            },
            _ = tick.tick() => me.apply_acks(),
            _ = stop.changed() => break,
        }
        me.fill();
    }
    me.close(&mut reports).await;
    driver.abort();
}
