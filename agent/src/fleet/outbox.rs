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
//! A message keeps its place (`pos`) from the moment it is pushed until it is acknowledged.
//! Every message carries the sequence's `epoch`, and event messages also `seq`: consumers
//! de-duplicate on (`machine_id`, `epoch`, `seq`), spot gaps (drops) and repeats
//! (redeliveries after a reconnect). Within an epoch a number is never handed out twice:
//!
//! - a number is used only once it is durably reserved (reserved in blocks of `SEQ_BLOCK`,
//!   each reservation committed to the card before the first number of it is used);
//! - after a crash the sequence resumes above the last reservation (an honest gap: messages
//!   may have been lost), after a clean stop where it stopped;
//! - a file that cannot be read (corrupt, from a newer agent, its counts unreadable) is moved
//!   aside and a new file starts a new epoch at 1;
//! - when a reservation cannot be written (a full or failing card), or no file can be opened
//!   at all, numbering goes on under a new epoch that is never stored: it cannot be resumed,
//!   so none of its numbers can be used twice either.
//!
//! Retained state messages carry no `seq`: only their latest value matters, so a newer one
//! supersedes an older one still on disk.
//!
//! A kill -9 loses what was in memory and not yet acknowledged: at most `SPILL_AFTER` of
//! messages while the broker is away, usually nothing while it is there.
//!
//! This is plain synchronous code that touches the file; it runs on a thread of its own
//! (`outbox_thread.rs`), never on the async runtime.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::FleetStats;
use crate::store::outbox::{self as store_outbox, OutboxFile, StoredMessage};

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
    path: std::path::PathBuf,
    mem: VecDeque<Fresh>,
    mem_bytes: usize,
    disk_rows: u64,
    disk_bytes: u64,
    budget: u64,
    next_pos: u64,
    /// The sequence's identity; `epoch_stored`: it is the file's (resumed after a restart),
    /// else one of this process only.
    epoch: u64,
    epoch_stored: bool,
    next_seq: u64,
    /// Numbers below this are durably reserved (`u64::MAX` under an epoch never stored).
    seq_reserved: u64,
    /// Cursors of delivered messages not yet written down.
    cursors: BTreeMap<String, i64>,
    /// Cursors as the file had them at open.
    opened_cursors: BTreeMap<String, i64>,
    /// Reads of the file that failed in a row; the file is moved aside after `READ_FAILURES`.
    read_failures: u32,
    /// After a failed read, the next is tried no sooner than this.
    read_again_at: Option<Instant>,
    stats: Arc<FleetStats>,
    /// When drops were last logged, and how many since.
    drop_log: (Option<Instant>, u64),
}

/// Reads of the file that may fail in a row (a card's hiccup), `READ_RETRY` apart, before the
/// file is taken as unusable.
const READ_FAILURES: u32 = 5;
const READ_RETRY: Duration = Duration::from_secs(1);

/// A fresh random epoch (never 0, so that 0 can mean "none" nowhere by accident).
fn new_epoch() -> u64 {
    rand::random::<u64>().max(1)
}

/// How an epoch is written in a payload: 16 hexadecimal digits (a JSON number would lose
/// digits above 2^53 in many consumers).
pub fn epoch_text(epoch: u64) -> String {
    format!("{epoch:016x}")
}

impl Outbox {
    /// Opens (or creates) the file. A file that cannot be used is moved aside (logged) and a
    /// new one started under a new epoch; if no file can be had at all, the outbox works in
    /// memory only under an epoch of its own, and says so: publishing goes on, only an
    /// outage's backlog is smaller.
    pub fn open(path: &Path, budget: u64, stats: Arc<FleetStats>) -> Outbox {
        let mut o = Outbox {
            db: None,
            path: path.to_path_buf(),
            mem: VecDeque::new(),
            mem_bytes: 0,
            disk_rows: 0,
            disk_bytes: 0,
            budget,
            next_pos: 1,
            epoch: 0,
            epoch_stored: false,
            next_seq: 1,
            seq_reserved: 0,
            cursors: BTreeMap::new(),
            opened_cursors: BTreeMap::new(),
            read_failures: 0,
            read_again_at: None,
            stats,
            drop_log: (None, 0),
        };
        let opened = match OutboxFile::open_checked(path) {
            Ok(ok) => Some(ok),
            Err(e) => {
                let aside = store_outbox::move_aside(path);
                match &aside {
                    Ok(to) => tracing::error!(
                        "mqtt outbox {}: unusable ({e:#}); moved aside to {}, starting a new                          file and a new sequence epoch",
                        path.display(),
                        to.display()
                    ),
                    Err(m) => tracing::error!(
                        "mqtt outbox {}: unusable ({e:#}), and cannot be moved aside ({m:#})",
                        path.display()
                    ),
                }
                aside
                    .ok()
                    .and_then(|_| match OutboxFile::open_checked(path) {
                        Ok(ok) => Some(ok),
                        Err(e) => {
                            tracing::error!("mqtt outbox {}: a new file: {e:#}", path.display());
                            None
                        }
                    })
            }
        };
        match opened {
            Some((db, f)) => {
                o.disk_rows = f.rows;
                o.disk_bytes = f.bytes;
                o.next_pos = f.max_pos.map_or(1, |p| p + 1);
                o.opened_cursors = f.cursors;
                // After a clean stop the sequence goes on where it stopped; after a crash it
                // goes on after the reserved block, a gap that is honest: messages may have
                // been lost. A file from before epochs keeps its numbers under a new epoch.
                let reserved = f.seq_reserved.unwrap_or(1).max(1);
                o.next_seq = f.seq_next.unwrap_or(reserved);
                o.epoch = f.epoch.unwrap_or_else(new_epoch);
                o.db = Some(db);
                if f.rows > 0 {
                    tracing::info!(
                        "mqtt outbox {}: {} messages ({} KiB) from before the restart to send",
                        path.display(),
                        f.rows,
                        f.bytes / 1024
                    );
                }
                o.reserve();
            }
            None => {
                tracing::error!(
                    "mqtt outbox {}: queueing in memory only ({} MiB), under a sequence epoch \
                     of this run only",
                    path.display(),
                    MEM_MAX_BYTES >> 20
                );
                o.forget_epoch();
            }
        }
        o.sync_stats();
        o
    }

    /// The sequence's epoch now.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Where each table-tailing producer left off, as far as the broker or the disk had it
    /// when the file was opened.
    pub fn opened_cursors(&self) -> &BTreeMap<String, i64> {
        &self.opened_cursors
    }

    /// Reserves the next block of numbers of the file's epoch; if that cannot be written, goes
    /// on under an epoch that is never stored.
    fn reserve(&mut self) {
        let reserve = self.next_seq + SEQ_BLOCK;
        let written = match &self.db {
            Some(db) => db.reserve(self.epoch, reserve),
            None => Err(anyhow::anyhow!("no file")),
        };
        match written {
            Ok(()) => {
                self.seq_reserved = reserve;
                self.epoch_stored = true;
            }
            Err(e) => {
                tracing::error!(
                    "mqtt outbox {}: reserving sequence numbers: {e:#}; numbering goes on \
                     under a new epoch of this run only",
                    self.path.display()
                );
                self.forget_epoch();
            }
        }
    }

    /// A new epoch of this process only: nothing can resume it, so it needs no reservation.
    fn forget_epoch(&mut self) {
        self.epoch = new_epoch();
        self.epoch_stored = false;
        self.next_seq = 1;
        self.seq_reserved = u64::MAX;
    }

    /// Queues a message: every message gets the epoch, events the next `seq`.
    pub fn push(&mut self, p: Publish) {
        let mut body = p.body;
        if !p.retain {
            body.insert("seq".into(), self.take_seq().into());
        }
        body.insert("epoch".into(), epoch_text(self.epoch).into());
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

    /// The next number, durably reserved (or of an epoch never stored).
    fn take_seq(&mut self) -> u64 {
        if self.next_seq >= self.seq_reserved {
            self.reserve();
        }
        self.next_seq += 1;
        self.next_seq - 1
    }

    /// Up to `n` messages after position `after` (from the oldest when `None`), in order.
    pub fn next(&mut self, after: Option<u64>, n: usize) -> Vec<Message> {
        let after = after.unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        if self.disk_rows > 0 {
            if self.read_again_at.is_some_and(|t| Instant::now() < t) {
                return out;
            }
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
                    Ok(v) => {
                        out = v;
                        self.read_failures = 0;
                        self.read_again_at = None;
                    }
                    Err(e) => {
                        // Nothing newer may go before what is on disk (the broker's ack of a
                        // newer message would delete it unsent): wait and read again.
                        tracing::warn!("mqtt outbox: reading: {e:#}");
                        self.read_failures += 1;
                        self.read_again_at = Some(Instant::now() + READ_RETRY);
                        if self.read_failures >= READ_FAILURES {
                            self.replace_file();
                        }
                        return out;
                    }
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

    /// The file can no longer be read: it is moved aside with what it holds (counted as
    /// dropped: the broker will not get it) and a new one started, the sequence going on
    /// under the same epoch once reserved in the new file.
    fn replace_file(&mut self) {
        self.read_failures = 0;
        self.read_again_at = None;
        drop(self.db.take());
        let lost = self.disk_rows;
        self.disk_rows = 0;
        self.disk_bytes = 0;
        self.dropped(lost);
        match store_outbox::move_aside(&self.path) {
            Ok(to) => tracing::error!(
                "mqtt outbox {}: unreadable; moved aside to {} with {lost} messages the broker \
                 will not get, starting a new file",
                self.path.display(),
                to.display()
            ),
            Err(e) => tracing::error!(
                "mqtt outbox {}: unreadable, and cannot be moved aside ({e:#}); {lost} \
                 messages lost",
                self.path.display()
            ),
        }
        match OutboxFile::open_checked(&self.path) {
            Ok((db, _)) => {
                self.db = Some(db);
                if self.epoch_stored {
                    self.reserve();
                }
            }
            Err(e) => {
                tracing::error!(
                    "mqtt outbox {}: a new file: {e:#}; queueing in memory only",
                    self.path.display()
                );
                if self.epoch_stored {
                    self.forget_epoch();
                }
            }
        }
        self.sync_stats();
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

    /// A clean stop: everything undelivered to disk, and where the sequence stands (only for
    /// the file's own epoch: one of this run only is never resumed).
    pub fn close(mut self) {
        self.spill(Duration::ZERO);
        if let Some(db) = self.db.as_ref().filter(|_| self.epoch_stored) {
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
        s.epoch.store(self.epoch, Ordering::Relaxed);
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

    /// A cursor as the file has it (read through a connection of its own).
    fn file_cursor(path: &Path, name: &str) -> Option<i64> {
        OutboxFile::open(path)
            .unwrap()
            .cursors()
            .unwrap()
            .get(name)
            .copied()
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
        o.spill(SPILL_AFTER);
        assert_eq!(
            file_cursor(&path, "operation"),
            None,
            "only in memory: not yet"
        );
        let m = o.next(None, 1);
        o.acked(m[0].pos, 1);
        o.spill(SPILL_AFTER);
        assert_eq!(file_cursor(&path, "operation"), Some(7), "delivered");
        o.push(op(8));
        o.spill(Duration::ZERO);
        assert_eq!(file_cursor(&path, "operation"), Some(8), "on disk");
        drop(o);
        let o = Outbox::open(&path, 1 << 20, Default::default());
        assert_eq!(
            o.opened_cursors().get("operation"),
            Some(&8),
            "read at open"
        );
    }

    /// (epoch, seq) of a numbered message.
    fn key(m: &Message) -> (String, u64) {
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        (
            v["epoch"].as_str().unwrap().to_string(),
            v["seq"].as_u64().unwrap(),
        )
    }

    /// Pushes `n` events and hands back their keys, delivering them (the broker has them).
    fn deliver(o: &mut Outbox, n: usize) -> Vec<(String, u64)> {
        for i in 0..n {
            o.push(event("m/signals/x", i as i64));
        }
        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = o.next(after, 1000);
            let Some(last) = page.last() else { break };
            after = Some(last.pos);
            keys.extend(page.iter().map(key));
        }
        if let Some(pos) = after {
            o.acked(pos, keys.len() as u64);
        }
        keys
    }

    fn assert_unique(keys: &[(String, u64)]) {
        let mut seen = std::collections::BTreeSet::new();
        for k in keys {
            assert!(seen.insert(k.clone()), "{k:?} handed out twice");
        }
    }

    #[test]
    fn every_message_carries_the_epoch_and_events_their_seq() {
        let path = dir("epoch").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        o.push(Publish {
            retain: true,
            ..event("m/alarms/state", 1)
        });
        o.push(event("m/alarms/events", 2));
        let epoch = epoch_text(o.epoch());
        assert_eq!(epoch.len(), 16);
        for m in o.next(None, 10) {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(v["epoch"], epoch.as_str(), "{v}");
            assert_eq!(v.get("seq").is_some(), !m.retain, "{v}");
        }
        assert_eq!(o.stats.epoch.load(Ordering::Relaxed), o.epoch());
    }

    #[test]
    fn a_failed_reservation_hands_out_no_number_that_a_restart_could_use_again() {
        let path = dir("reserve").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let file_epoch = epoch_text(o.epoch());
        let mut keys = deliver(&mut o, 10);
        // The card fails: the next reservation cannot be written.
        o.db.as_ref().unwrap().fail_writes();
        keys.extend(deliver(&mut o, SEQ_BLOCK as usize + 10));
        let after_failure = keys.last().unwrap().clone();
        assert_ne!(
            after_failure.0, file_epoch,
            "numbered on under another epoch"
        );
        assert_eq!(
            keys.iter().filter(|k| k.0 == file_epoch).count() as u64,
            SEQ_BLOCK,
            "the reserved block is used up, not one number beyond it"
        );
        // A crash, and a restart on the same file: the file's epoch resumes above its
        // reservation, and nothing it hands out was handed out before.
        drop(o);
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        assert_eq!(epoch_text(o.epoch()), file_epoch);
        keys.extend(deliver(&mut o, 5));
        assert_unique(&keys);
    }

    #[test]
    fn an_unreadable_file_is_moved_aside_and_a_new_epoch_starts_at_1() {
        let d = dir("unreadable");
        let path = d.join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let mut keys = deliver(&mut o, 3);
        o.close();
        // The card corrupts the file's header.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..64].copy_from_slice(&[0xa5; 64]);
        std::fs::write(&path, &bytes).unwrap();

        let stats: Arc<FleetStats> = Default::default();
        let mut o = Outbox::open(&path, 1 << 20, stats.clone());
        let aside: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".unusable-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes, "kept as it was");
        let fresh = deliver(&mut o, 3);
        assert_ne!(fresh[0].0, keys[0].0, "a new epoch");
        assert_eq!(fresh[0].1, 1, "which starts at 1");
        keys.extend(fresh);
        assert_unique(&keys);
        // The new file is a file, not memory: what the broker does not take goes to disk.
        o.push(event("m/signals/x", 9));
        o.spill(Duration::ZERO);
        assert_eq!(rows(&path), 1);
        assert_eq!(stats.queued_on_disk.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_file_whose_messages_cannot_be_counted_is_moved_aside() {
        let d = dir("uncountable");
        let path = d.join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        o.push(event("m/signals/x", 1));
        o.spill(Duration::ZERO);
        drop(o);
        // Readable as SQLite, but the messages' table is gone: counting fails. Starting from
        // position 1 and seq 1 over it would be the lie.
        OutboxFile::open(&path).unwrap().lose_messages_table();
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        assert!(std::fs::read_dir(&d).unwrap().any(|e| e
            .unwrap()
            .path()
            .to_string_lossy()
            .contains(".unusable-")));
        assert_eq!(deliver(&mut o, 1)[0].1, 1);
        assert_eq!(rows(&path), 0);
    }

    #[test]
    fn after_a_crash_the_sequence_resumes_above_every_number_handed_out() {
        let path = dir("crash").join("o.db");
        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let mut keys = deliver(&mut o, 20);
        // Five more wait on disk (the broker is away), two in memory: then kill -9.
        for i in 0..5 {
            o.push(event("m/signals/x", i));
        }
        o.spill(Duration::ZERO);
        o.push(event("m/signals/x", 5));
        o.push(event("m/signals/x", 6));
        let lost: Vec<_> = o.next(None, 100).iter().map(key).collect();
        assert_eq!(lost.len(), 7);
        drop(o);

        let mut o = Outbox::open(&path, 1 << 20, Default::default());
        let replayed: Vec<_> = o.next(None, 100).iter().map(key).collect();
        assert_eq!(
            replayed,
            lost[..5],
            "what was on disk comes back with its numbers"
        );
        let fresh = deliver(&mut o, 3);
        let fresh = &fresh[5..];
        assert_eq!(fresh[0].0, keys[0].0, "the same epoch");
        assert!(
            fresh[0].1 > lost.last().unwrap().1,
            "above everything handed out: {fresh:?} after {lost:?}"
        );
        keys.extend(lost);
        keys.extend(fresh.iter().cloned());
        assert_unique(&keys);
    }

    #[test]
    fn without_any_file_numbering_goes_on_under_an_epoch_of_this_run() {
        // A path that can never be a file: its parent is a file.
        let d = dir("nofile");
        std::fs::write(d.join("plain"), b"x").unwrap();
        let path = d.join("plain").join("o.db");
        let mut a = Outbox::open(&path, 1 << 20, Default::default());
        let mut b = Outbox::open(&path, 1 << 20, Default::default());
        let mut keys = deliver(&mut a, 3);
        keys.extend(deliver(&mut b, 3));
        assert_eq!(keys[0].1, 1);
        assert_ne!(keys[0].0, keys[3].0, "each run its own epoch");
        assert_unique(&keys);
    }
}
