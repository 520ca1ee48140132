//! Publishing to the plant's MQTT broker (Mosquitto, EMQX): one agent per machine, the fleet
//! scales on the broker.
//!
//! Topics, under `<topic_root>/<site>/<line>/<machine_id>` (`[mqtt]`), JSON payloads with
//! `machine_id`, `epoch`, `ts` (RFC 3339, UTC) and `ts_ms`; units travel with the values:
//!
//! | topic | retained | when | payload |
//! |---|---|---|---|
//! | `status` | yes | on connect `online`; `offline` on a clean stop, and as the last will when the agent dies | `state`, `agent_version` |
//! | `signals/<signal>` | no | on change beyond the deadband, on a quality change, at least every heartbeat | `value`, `unit`, `quality`, `device`, `seq` |
//! | `operations` | no | each finished operation, with its green-cutting verdicts | `id`, `record`, `seq` |
//! | `parts` | no | each finished part, with energy and oil per part | `id`, `record`, `seq` |
//! | `alarms/events` | no | each alarm transition | the transition, `alarm`, `seq` |
//! | `alarms/state` | yes | when the set of alarms that are not normal changes | `alarms` |
//! | `life/tools` | yes | when usage or predicted remaining life changed (looked at every 10 s) | `tools`, `model` |
//! | `life/components` | yes | likewise for spindle bearing, ball screws, MQL pump | `components` |
//! | `life/tool-changes` | no | each tool change, with its reason (the label for training) | `id`, `record`, `seq` |
//!
//! Every non-retained message carries `seq`, one increasing sequence per machine and `epoch`:
//! the de-duplication key is (`machine_id`, `epoch`, `seq`). Within an epoch, which lasts
//! across restarts, a gap means messages were dropped (the outbox budget was exceeded while
//! the broker was away, or the agent crashed; counted in `/metrics`), a repeat means a
//! redelivery after a reconnect (QoS 1 is at least once). A new epoch (16 hex digits, random)
//! starts at `seq` 1 when the outbox file was unusable and moved aside, or when sequence
//! numbers could not be reserved on disk: a consumer keyed on `seq` alone would throw the new
//! messages away as repeats. `producers.rs` makes the messages, `outbox.rs` keeps them until
//! the broker has them (on its own thread, `outbox_thread.rs`), `session.rs` talks to the
//! broker.

pub mod outbox;
pub mod outbox_thread;
pub mod producers;
pub mod session;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::MqttSettings;
use crate::evaluators::life::Life;
use crate::state::State;
use crate::store::Store;
use outbox::Publish;

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
    /// The sequence's epoch now (0 until the outbox has opened its file).
    pub epoch: AtomicU64,
}

/// Producers queue here; the outbox thread takes from it. Bounded: a producer that outruns the
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
    /// Starts the outbox's thread (which opens its file), the session and the producers that
    /// need no other service. Nothing here touches a file on the runtime's threads.
    pub fn start(s: &MqttSettings, state: Arc<State>, store: Arc<Store>, life: Arc<Life>) -> Fleet {
        let stats = Arc::new(FleetStats::default());
        let path = s
            .outbox_path
            .clone()
            .unwrap_or_else(|| store.path().with_extension("outbox.db"));
        let machine_id = state.machine_id().to_string();
        let base = s.base_topic.clone();
        let (tx, rx) = mpsc::channel(QUEUE);
        let (link, opened) = outbox_thread::start(path, s.outbox_bytes, stats.clone(), rx)
            .expect("starting the mqtt outbox thread");
        // The session and the tailing producers both wait for the file to be open.
        let (opened_tx, opened_session) = tokio::sync::oneshot::channel();
        let (cursors_tx, cursors) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Ok(o) = opened.await {
                let _ = cursors_tx.send(o.cursors.clone());
                let _ = opened_tx.send(o);
            }
        });
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
        // Without a store this run there is nothing to tail (it says so in the log and in
        // /healthz); signals, alarms and life still go out.
        if !feeds.is_empty() && store.unavailable_reason().is_none() {
            producers.push(tokio::spawn(producers::tail(
                store,
                machine_id.clone(),
                base.clone(),
                feeds,
                cursors,
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
        let session = tokio::spawn(session::run(
            s.clone(),
            link,
            opened_session,
            stats.clone(),
            stop_rx,
        ));
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
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.session).await;
    }
}
