//! Publishing to the plant's MQTT broker (Mosquitto, EMQX): one agent per machine, the fleet
//! scales on the broker.
//!
//! Topics, under `<topic_root>/<site>/<line>/<machine_id>` (`[mqtt]`), JSON payloads with
//! `machine_id`, `ts` (RFC 3339, UTC) and `ts_ms`; units travel with the values:
//!
//! | topic | retained | when | payload |
//! |---|---|---|---|
//! | `status` | yes | on connect `online`; `offline` on a clean stop, and as the last will when the agent dies | `state`, `agent_version` |
//! | `signals/<signal>` | no | on change beyond the deadband, on a quality change, at least every heartbeat | `value`, `unit`, `quality`, `device` |
//! | `operations` | no | each finished operation, with its green-cutting verdicts | `id`, `record` |
//! | `parts` | no | each finished part, with energy and oil per part | `id`, `record` |
//! | `alarms/events` | no | each alarm transition | the transition, `alarm` |
//! | `alarms/state` | yes | when the set of alarms that are not normal changes | `alarms` |
//! | `life/tools` | yes | when usage or predicted remaining life changed (looked at every 10 s) | `tools`, `model` |
//! | `life/components` | yes | likewise for spindle bearing, ball screws, MQL pump | `components` |
//! | `life/tool-changes` | no | each tool change, with its reason (the label for training) | `id`, `record` |
//!
//! Every non-retained message carries `seq`, one increasing sequence per machine across
//! restarts: a gap means messages were dropped (the outbox budget was exceeded while the broker
//! was away; counted in `/metrics`), a repeat means a redelivery after a reconnect (QoS 1 is at
//! least once). `producers.rs` makes the messages, `outbox.rs` keeps them until the broker has
//! them, `session.rs` talks to the broker.

pub mod outbox;
pub mod producers;
pub mod session;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::MqttSettings;
use crate::evaluators::life::Life;
use crate::state::State;
use crate::store::Store;
use outbox::{Outbox, Publish};

/// Publishing counters, for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct FleetStats {
    pub connected: AtomicBool,
    /// Messages the broker acknowledged.
    pub delivered: AtomicU64,
    /// Messages dropped because the outbox was full.
    pub dropped: AtomicU64,
    /// Messages waiting (memory and disk).
    pub queued: AtomicU64,
    pub queued_on_disk: AtomicU64,
    pub disk_bytes: AtomicU64,
}

/// Producers queue here; the session takes from it. Bounded: a producer that outruns the
/// session waits a moment rather than growing memory.
const QUEUE: usize = 1024;

/// The running publisher.
pub struct Fleet {
    tx: mpsc::Sender<Publish>,
    pub stats: Arc<FleetStats>,
    pub base_topic: String,
    stop: watch::Sender<bool>,
    session: tokio::task::JoinHandle<()>,
    producers: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Opens the outbox and starts the session and the producers that need no other service.
    pub fn start(s: &MqttSettings, state: Arc<State>, store: Arc<Store>, life: Arc<Life>) -> Fleet {
        let stats = Arc::new(FleetStats::default());
        let path = s
            .outbox_path
            .clone()
            .unwrap_or_else(|| store.path().with_extension("outbox.db"));
        let outbox = Outbox::open(&path, s.outbox_bytes, stats.clone());
        let machine_id = state.machine_id().to_string();
        let base = s.base_topic.clone();
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut producers = Vec::new();
        if let Some(sig) = &s.signals {
            producers.push(tokio::spawn(producers::signals(
                state.clone(),
                sig.clone(),
                base.clone(),
                tx.clone(),
            )));
        }
        let mut feeds = Vec::new();
        if s.operations {
            feeds.extend([producers::Feed::Operations, producers::Feed::Parts]);
        }
        if s.life {
            feeds.push(producers::Feed::ToolChanges);
        }
        if !feeds.is_empty() {
            let tails = feeds
                .into_iter()
                .map(|feed| producers::Tail {
                    feed,
                    topic: format!("{base}/{}", feed.topic()),
                    after: outbox
                        .cursor(feed.cursor())
                        .unwrap_or_else(|| producers::newest_id(&store, feed)),
                })
                .collect();
            producers.push(tokio::spawn(producers::tail(
                store,
                machine_id.clone(),
                tails,
                tx.clone(),
            )));
        }
        if s.life {
            producers.push(tokio::spawn(producers::life(
                life,
                machine_id,
                base.clone(),
                tx.clone(),
            )));
        }
        let (stop, stop_rx) = watch::channel(false);
        let session = tokio::spawn(session::run(s.clone(), outbox, rx, stats.clone(), stop_rx));
        Fleet {
            tx,
            stats,
            base_topic: base,
            stop,
            session,
            producers,
        }
    }

    /// Where further producers (the alarm channel) hand in their messages.
    pub fn sender(&self) -> mpsc::Sender<Publish> {
        self.tx.clone()
    }

    /// Stops the producers, marks the machine offline and keeps what is undelivered on disk.
    pub async fn shutdown(self) {
        for p in &self.producers {
            p.abort();
        }
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), self.session).await;
    }
}
