//! Store and forward: every message for the broker waits here until the broker has
//! acknowledged it (QoS 1 PUBACK).
//!
//! Messages live in memory first. Those still unacknowledged after `SPILL_AFTER` (the broker
//! is slow or gone) move to a SQLite file in one transaction per tick, so a connected agent
//! writes nothing to the SD card for publishing and a disconnected one writes in batches. The
//! file is bounded by a byte budget: beyond it the oldest messages go, counted, and the gap
//! shows in the `seq` numbers. Replay is oldest first: every row on disk is older than every
//! message in memory, because spilling always takes the oldest.
//!
//! A message keeps its place (`pos`) from the moment it is pushed until it is acknowledged;
//! event messages also carry `seq` in their payload, one sequence per machine that survives
//! restarts (reserved in blocks, so one write per `SEQ_BLOCK` messages), for consumers to spot
//! gaps (drops) and repeats (redeliveries after a reconnect). Retained state messages carry no
//! `seq`: only their latest value matters, so a newer one supersedes an older one still on
//! disk.
//!
//! A kill -9 loses what was in memory and not yet acknowledged: at most `SPILL_AFTER` of
//! messages while the broker is away, usually nothing while it is there.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::FleetStats;
use crate::store::outbox::{OutboxFile, StoredMessage};

/// Unacknowledged messages older than this go to disk.
pub const SPILL_AFTER: Duration = Duration::from_secs(1);
/// Memory kept before spilling regardless of age (a burst while the broker is away).
const MEM_SPILL_BYTES: usize = 1 << 20;
/// Memory never exceeded, even when the file cannot be written: oldest dropped beyond it.
const MEM_MAX_BYTES: usize = 16 << 20;
const SEQ_BLOCK: u64 = 10_000;
/// Bytes counted per message besides topic and payload (row and index overhead, roughly).
const ROW_OVERHEAD: u64 = 32;

/// What a producer hands in.
#[derive(Debug, Clone)]
pub struct Publish {
    pub topic: String,
    pub retain: bool,
    /// The JSON object to send; events get `seq` added.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// A producer that tails a table says how far this message takes it (table, row id); the
    /// outbox remembers the position once the message is on disk or delivered.
    pub cursor: Option<(String, i64)>,
}

/// A message waiting for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub pos: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    cursor: Option<(String, i64)>,
}

impl Message {
    fn bytes(&self) -> u64 {
        (self.topic.len() + self.payload.len()) as u64 + ROW_OVERHEAD
    }

    fn stored(&self) -> StoredMessage {
        StoredMessage {
            pos: self.pos,
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            retain: self.retain,
            bytes: self.bytes(),
            cursor: self.cursor.clone(),
        }
    }
}

struct Fresh {
    msg: Message,
    at: Instant,
}

pub struct Outbox {
    db: Option<OutboxFile>,
    mem: VecDeque<Fresh>,
    mem_bytes: usize,
    disk_rows: u64,
    disk_bytes: u64,
    budget: u64,
    next_pos: u64,
    next_seq: u64,
    seq_reserved: u64,
    /// Cursors of delivered messages not yet written down.
    cursors: BTreeMap<String, i64>,
    stats: Arc<FleetStats>,
    /// When drops were last logged, and how many since.
    drop_log: (Option<Instant>, u64),
}

impl Outbox {
    /// Opens (or creates) the file. If it cannot be used the outbox works in memory only, and
    /// says so: publishing goes on, only an outage's backlog is smaller.
    pub fn open(path: &Path, budget: u64, stats: Arc<FleetStats>) -> Outbox {
        let db = match OutboxFile::open(path) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(
                    "mqtt outbox {}: {e:#}; queueing in memory only ({} MiB)",
                    path.display(),
                    MEM_MAX_BYTES >> 20
                );
                None
            }
        };
        let mut o = Outbox {
            db,
            mem: VecDeque::new(),
            mem_bytes: 0,
            disk_rows: 0,
            disk_bytes: 0,
            budget,
            next_pos: 1,
            next_seq: 1,
            seq_reserved: 0,
            cursors: BTreeMap::new(),
            stats,
            drop_log: (None, 0),
        };
        if let Some(db) = &o.db {
            let (rows, bytes, max_pos) = db.totals().unwrap_or((0, 0, None));
            o.disk_rows = rows;
            o.disk_bytes = bytes;
            o.next_pos = max_pos.map_or(1, |p| p + 1);
            // After a clean stop the sequence goes on where it stopped; after a crash it goes
            // on after the reserved block, a gap that is honest: messages may have been lost.
            let meta = |k: &str| db.meta(k).ok().flatten();
            let reserved = meta("seq_reserved").unwrap_or(0).max(1) as u64;
            o.next_seq = meta("seq_next").map_or(reserved, |n| n as u64);
            o.seq_reserved = reserved;
            let _ = db.delete_meta("seq_next");
            if rows > 0 {
                tracing::info!(
                    "mqtt outbox {}: {rows} messages ({} KiB) from before the restart to send",
                    path.display(),
                    bytes / 1024
                );
            }
        }
        o.sync_stats();
        o
    }

    /// Where a table-tailing producer left off, as far as the broker or the disk has it.
    pub fn cursor(&self, name: &str) -> Option<i64> {
        self.db.as_ref().and_then(|db| db.cursor(name))
    }

    /// Queues a message; events get the next `seq`.
    pub fn push(&mut self, p: Publish) {
        let mut body = p.body;
        if !p.retain {
            body.insert("seq".into(), self.take_seq().into());
        }
        let msg = Message {
            pos: self.next_pos,
            topic: p.topic,
            payload: serde_json::to_vec(&body).unwrap_or_default(),
            retain: p.retain,
            cursor: p.cursor,
        };
        self.next_pos += 1;
        self.mem_bytes += msg.bytes() as usize;
        self.mem.push_back(Fresh {
            msg,
            at: Instant::now(),
        });
        while self.mem_bytes > MEM_MAX_BYTES {
            let old = self
                .mem
                .pop_front()
                .expect("over the limit means not empty");
            self.mem_bytes -= old.msg.bytes() as usize;
            self.dropped(1);
        }
        self.sync_stats();
    }

    fn take_seq(&mut self) -> u64 {
        if self.next_seq >= self.seq_reserved {
            let reserve = self.next_seq + SEQ_BLOCK;
            if let Some(db) = &self.db {
                if let Err(e) = db.set_meta("seq_reserved", reserve as i64) {
                    tracing::warn!("mqtt outbox: reserving sequence numbers: {e}");
                }
            }
            self.seq_reserved = reserve;
        }
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Up to `n` messages after position `after` (from the oldest when `None`), in order.
    pub fn next(&mut self, after: Option<u64>, n: usize) -> Vec<Message> {
        let after = after.unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        if self.disk_rows > 0 {
            if let Some(db) = &self.db {
                let read = db.after(after, n).map(|rows| {
                    rows.into_iter()
                        .map(|m| Message {
                            pos: m.pos,
                            topic: m.topic,
                            payload: m.payload,
                            retain: m.retain,
                            cursor: m.cursor,
                        })
                        .collect()
                });
                match read {
                    Ok(v) => out = v,
                    Err(e) => tracing::warn!("mqtt outbox: reading: {e:#}"),
                }
            }
        }
        let from = out.last().map_or(after, |m| m.pos);
        out.extend(
            self.mem
                .iter()
                .filter(|f| f.msg.pos > from)
                .take(n - out.len())
                .map(|f| f.msg.clone()),
        );
        out
    }

    /// The broker has everything up to and including `pos`.
    pub fn acked(&mut self, pos: u64, delivered: u64) {
        while self.mem.front().is_some_and(|f| f.msg.pos <= pos) {
            let f = self.mem.pop_front().unwrap();
            self.mem_bytes -= f.msg.bytes() as usize;
            if let Some((name, id)) = f.msg.cursor {
                self.cursors.insert(name, id);
            }
        }
        if self.disk_rows > 0 {
            if let Some(db) = &self.db {
                // Cursors of rows on disk were written down when they were spilled.
                let done = db.delete_through(pos);
                match done {
                    Ok((rows, bytes)) => {
                        self.disk_rows -= rows.min(self.disk_rows);
                        self.disk_bytes -= bytes.min(self.disk_bytes);
                    }
                    Err(e) => tracing::warn!("mqtt outbox: removing delivered messages: {e:#}"),
                }
            }
        }
        self.stats.delivered.fetch_add(delivered, Ordering::Relaxed);
        self.sync_stats();
    }

    /// Moves unacknowledged messages older than `age` (all of them with `Duration::ZERO`) to
    /// disk, writes down delivered cursors, and keeps the file within its budget.
    pub fn spill(&mut self, age: Duration) {
        let now = Instant::now();
        let take = if self.mem_bytes > MEM_SPILL_BYTES {
            self.mem.len()
        } else {
            self.mem
                .iter()
                .take_while(|f| now.duration_since(f.at) >= age)
                .count()
        };
        if (take == 0 && self.cursors.is_empty()) || self.db.is_none() {
            return;
        }
        let batch: Vec<StoredMessage> =
            self.mem.iter().take(take).map(|f| f.msg.stored()).collect();
        let cursors = std::mem::take(&mut self.cursors);
        let db = self.db.as_ref().unwrap();
        let delivered: Vec<(String, i64)> = cursors.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let written = db.spill(&batch, &delivered);
        match written {
            Ok((rows, bytes)) => {
                self.disk_rows = self.disk_rows.saturating_add_signed(rows);
                self.disk_bytes = self.disk_bytes.saturating_add_signed(bytes);
                for _ in 0..take {
                    let f = self.mem.pop_front().unwrap();
                    self.mem_bytes -= f.msg.bytes() as usize;
                }
                self.enforce_budget();
            }
            Err(e) => {
                // Kept in memory (bounded) and tried again next tick.
                tracing::warn!("mqtt outbox: writing to disk: {e:#}");
                for (k, v) in cursors {
                    self.cursors.entry(k).or_insert(v);
                }
            }
        }
        self.sync_stats();
    }

    /// A clean stop: everything undelivered to disk, and where the sequence stands.
    pub fn close(mut self) {
        self.spill(Duration::ZERO);
        if let Some(db) = &self.db {
            if let Err(e) = db.set_meta("seq_next", self.next_seq as i64) {
                tracing::warn!("mqtt outbox: saving the sequence: {e:#}");
            }
        }
    }

    fn enforce_budget(&mut self) {
        if self.disk_bytes <= self.budget {
            return;
        }
        let Some(db) = &self.db else { return };
        let over = self.disk_bytes - self.budget;
        let result = db.trim_oldest(over);
        match result {
            Ok((rows, bytes)) => {
                self.disk_rows -= rows.min(self.disk_rows);
                self.disk_bytes -= bytes.min(self.disk_bytes);
                self.dropped(rows);
            }
            Err(e) => tracing::warn!("mqtt outbox: trimming to the budget: {e:#}"),
        }
    }

    fn dropped(&mut self, n: u64) {
        self.stats.dropped.fetch_add(n, Ordering::Relaxed);
        let (last, pending) = &mut self.drop_log;
        *pending += n;
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            tracing::warn!(
                "mqtt outbox full ({} MiB budget): dropped the {pending} oldest messages; \
                 consumers see the gap in `seq`",
                self.budget >> 20
            );
            *last = Some(Instant::now());
            *pending = 0;
        }
    }

    fn sync_stats(&self) {
        let s = &self.stats;
        s.queued
            .store(self.mem.len() as u64 + self.disk_rows, Ordering::Relaxed);
        s.queued_on_disk.store(self.disk_rows, Ordering::Relaxed);
        s.disk_bytes.store(self.disk_bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, n: i64) -> Publish {
        Publish {
            topic: topic.into(),
            retain: false,
            body: serde_json::Map::from_iter([("n".to_string(), n.into())]),
            cursor: None,
        }
    }

    fn seq(m: &Message) -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        v["seq"].as_u64().unwrap()
    }

    fn rows(path: &Path) -> u64 {
        OutboxFile::open(path).unwrap().count().unwrap()
    }

    fn dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("outbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn delivered_in_time_never_touches_the_disk() {
        let path = dir("quick").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        for i in 0..100 {
            o.push(event("t", i));
        }
        let all = o.next(None, 1000);
        assert_eq!(all.len(), 100);
        o.acked(all.last().unwrap().pos, 100);
        o.spill(Duration::ZERO);
        assert_eq!(rows(&path), 0);
        assert!(o.next(None, 10).is_empty());
        assert_eq!(o.stats.delivered.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn spilled_messages_replay_first_in_order_and_survive_a_restart() {
        let path = dir("replay").join("o.db");
        let stats: Arc<FleetStats> = Default::default();
        let mut o = Outbox::open(&path, 1 << 20, stats.clone());
        for i in 0..10 {
            o.push(event("t", i));
        }
        o.spill(Duration::ZERO);
        for i in 10..15 {
            o.push(event("t", i));
        }
        assert_eq!(rows(&path), 10);
        assert_eq!(stats.queued.load(Ordering::Relaxed), 15);
        let got: Vec<u64> = o.next(None, 100).iter().map(seq).collect();
        assert_eq!(got, (1..=15).collect::<Vec<_>>(), "disk first, then memory");
        // Paging through: after the 4th, the next 8 straddle disk and memory.
        let fourth = o.next(None, 4)[3].pos;
        let page = o.next(Some(fourth), 8);
        assert_eq!(
            page.iter().map(seq).collect::<Vec<_>>(),
            (5..=12).collect::<Vec<_>>()
        );

        // A clean stop spills the rest; a new process replays all 15, then numbers on.
        o.close();
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        o.push(event("t", 99));
        let got: Vec<u64> = o.next(None, 100).iter().map(seq).collect();
        assert_eq!(
            got,
            (1..=16).collect::<Vec<_>>(),
            "no gap after a clean stop"
        );
        // A crash (no close) skips to the next reserved block: never a number used twice.
        o.spill(Duration::ZERO);
        drop(o);
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        o.push(event("t", 100));
        let got: Vec<u64> = o.next(None, 100).iter().map(seq).collect();
        assert_eq!(got.len(), 17);
        assert!(got[16] > 16, "after a crash: {got:?}");
        let through = o.next(None, 100)[15].pos;
        o.acked(through, 16);
        assert_eq!(rows(&path), 0);
        assert_eq!(o.next(None, 100).len(), 1);
    }

    #[test]
    fn beyond_the_budget_the_oldest_go_and_are_counted() {
        let path = dir("budget").join("o.db");
        let stats: Arc<FleetStats> = Default::default();
        let mut o = Outbox::open(&path, 10_000, stats.clone());
        for i in 0..500 {
            o.push(event("plant/line/m/signals/x", i));
            if i % 50 == 49 {
                o.spill(Duration::ZERO);
            }
        }
        let dropped = stats.dropped.load(Ordering::Relaxed);
        assert!(dropped > 0, "nothing dropped");
        assert!(stats.disk_bytes.load(Ordering::Relaxed) <= 10_000);
        let left = o.next(None, 1000);
        assert_eq!(
            left.len() as u64 + dropped,
            500,
            "every message kept or counted"
        );
        // What is left is the newest, contiguous.
        let seqs: Vec<u64> = left.iter().map(seq).collect();
        assert_eq!(*seqs.last().unwrap(), 500);
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    }

    #[test]
    fn a_newer_retained_state_supersedes_the_one_waiting_on_disk() {
        let path = dir("retained").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let state = |n: i64| Publish {
            retain: true,
            ..event("m/alarms/state", n)
        };
        o.push(state(1));
        o.push(event("m/alarms/events", 1));
        o.spill(Duration::ZERO);
        o.push(state(2));
        o.spill(Duration::ZERO);
        let left = o.next(None, 10);
        let bodies: Vec<serde_json::Value> = left
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect();
        assert_eq!(left.len(), 2, "{bodies:?}");
        assert_eq!(left[0].topic, "m/alarms/events");
        assert_eq!(bodies[1]["n"], 2);
        assert!(bodies[1].get("seq").is_none(), "state carries no seq");
    }

    #[test]
    fn a_cursor_is_written_down_once_its_message_is_safe() {
        let path = dir("cursor").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let op = |id: i64| Publish {
            cursor: Some(("operation".into(), id)),
            ..event("m/operations", id)
        };
        o.push(op(7));
        assert_eq!(o.cursor("operation"), None, "only in memory: not yet");
        let m = o.next(None, 1);
        o.acked(m[0].pos, 1);
        o.spill(SPILL_AFTER);
        assert_eq!(o.cursor("operation"), Some(7), "delivered");
        o.push(op(8));
        o.spill(Duration::ZERO);
        assert_eq!(o.cursor("operation"), Some(8), "on disk");
    }
}
