//! Channels that carry alarm events to people: the stack light and buzzer (`gpio`) and
//! webhooks (`webhook`); and the monitor's optional feed-hold output to the CNC (`feed_hold`),
//! on a GPIO pin too, driven by the monitor's findings rather than the alarm engine. MQTT is a channel too, but its messages go through the fleet
//! publisher (`fleet::producers::alarms`), which owns the one connection to the broker.
//!
//! The engine hands each event to every channel through that channel's own bounded queue with
//! `try_send`: a slow or dead channel fills its own queue and loses its own oldest events
//! (counted), and never blocks the engine, another channel or acquisition.

pub mod feed_hold;
pub mod gpio;
pub mod webhook;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::records::alarm::Transition;

/// One alarm event as the channels send it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub machine_id: String,
    #[serde(flatten)]
    pub transition: Transition,
}

/// Delivery counters of one channel, for `/metrics`.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub delivered: AtomicU64,
    /// Attempts that failed (each retry counts).
    pub failures: AtomicU64,
    /// Events lost: the queue or the backlog was full, or the target refused them for good.
    pub dropped: AtomicU64,
    /// Events waiting now.
    pub backlog: AtomicU64,
}

impl ChannelStats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Events waiting in a channel's queue before the channel takes them into its backlog.
const QUEUE: usize = 256;

struct Sink {
    tx: mpsc::Sender<Arc<Event>>,
    stats: Arc<ChannelStats>,
}

/// Hands events to every channel without waiting for any of them.
#[derive(Default)]
pub struct Notifier {
    machine_id: String,
    sinks: Vec<Sink>,
    channels: Vec<(String, Arc<ChannelStats>)>,
}

impl Notifier {
    pub fn new(machine_id: &str) -> Notifier {
        Notifier {
            machine_id: machine_id.to_string(),
            ..Notifier::default()
        }
    }

    /// A new channel: its receiving end and its counters.
    pub fn channel(&mut self, name: &str) -> (mpsc::Receiver<Arc<Event>>, Arc<ChannelStats>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(ChannelStats::default());
        self.sinks.push(Sink {
            tx,
            stats: stats.clone(),
        });
        self.channels.push((name.to_string(), stats.clone()));
        (rx, stats)
    }

    pub fn publish(&self, t: &Transition) {
        if self.sinks.is_empty() {
            return;
        }
        let ev = Arc::new(Event {
            machine_id: self.machine_id.clone(),
            transition: t.clone(),
        });
        for s in &self.sinks {
            if s.tx.try_send(ev.clone()).is_err() {
                ChannelStats::add(&s.stats.dropped);
            }
        }
    }

    pub fn channels(&self) -> &[(String, Arc<ChannelStats>)] {
        &self.channels
    }
}

/// A channel's events waiting for delivery, bounded: when full, the oldest is dropped (and
/// counted), since a newer event about the same machine matters more.
pub struct Backlog {
    items: std::collections::VecDeque<Arc<Event>>,
    cap: usize,
    stats: Arc<ChannelStats>,
}

impl Backlog {
    pub fn new(cap: usize, stats: Arc<ChannelStats>) -> Backlog {
        Backlog {
            items: Default::default(),
            cap: cap.max(1),
            stats,
        }
    }

    pub fn push(&mut self, e: Arc<Event>) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
            ChannelStats::add(&self.stats.dropped);
        }
        self.items.push_back(e);
        self.sync();
    }

    pub fn front(&self) -> Option<&Arc<Event>> {
        self.items.front()
    }

    pub fn pop(&mut self) -> Option<Arc<Event>> {
        let e = self.items.pop_front();
        self.sync();
        e
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes everything queued without waiting.
    pub fn drain_from(&mut self, rx: &mut mpsc::Receiver<Arc<Event>>) {
        while let Ok(e) = rx.try_recv() {
            self.push(e);
        }
    }

    fn sync(&self) {
        self.stats
            .backlog
            .store(self.items.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::Severity;
    use crate::records::alarm::AlarmState;

    fn t(i: i64) -> Transition {
        Transition {
            ts_ms: i,
            key: format!("k{i}"),
            state: AlarmState::ActiveUnacked,
            previous: AlarmState::Normal,
            severity: Severity::Warning,
            message: String::new(),
            message_zh: None,
            source: String::new(),
            source_zh: None,
            cause: String::new(),
            cause_zh: None,
            by: "system".into(),
            tier: 0,
        }
    }

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() {
        let mut n = Notifier::new("m");
        let (_rx, stats) = n.channel("slow");
        for i in 0..(QUEUE as i64 + 10) {
            n.publish(&t(i));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 10);
    }

    #[test]
    fn the_backlog_keeps_the_newest() {
        let stats = Arc::new(ChannelStats::default());
        let mut b = Backlog::new(3, stats.clone());
        for i in 0..5 {
            b.push(Arc::new(Event {
                machine_id: "m".into(),
                transition: t(i),
            }));
        }
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.backlog.load(Ordering::Relaxed), 3);
        assert_eq!(b.pop().unwrap().transition.ts_ms, 2);
    }
}
