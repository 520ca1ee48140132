//! The store's one writer: a thread with the only read-write connection.
//!
//! It takes samples from the state's queue and records and calls from its job queue, and
//! commits them in order, one transaction per `flush_interval`; alarm transitions at once, on
//! their own (without the samples). On an SD card the cost of a commit is the pages it
//! touches, and every signal's samples live on pages of their own, so the flush interval is
//! what sets the card's wear (see the README's footprint figures).
//! What it holds is bounded, whatever happens to the disk:
//!
//! - **Samples**: at most `[store] queue` wait in its batch; beyond, the oldest are dropped and
//!   counted (`store_dropped_samples`): after a long outage the newest values are the ones
//!   worth keeping.
//! - **Records**: a component's state and a tool's usage replace the one still waiting (only
//!   the latest is worth storing), so a failing disk does not pile up one per second; beyond
//!   [`MAX_RECORDS`] the oldest are dropped and counted.
//! - **Retries**: a failed batch is kept and retried with backoff (from one flush interval up to
//!   [`RETRY_MAX`]), not at every record, so a full disk costs a failed write every few seconds
//!   rather than a rewrite of the whole batch at every alarm.
//!
//! A panic in a step is caught: the batch in hand is dropped (it may be what panics, and would
//! panic again at every retry), counted, and the writer goes on. Its [`Pulse`] beats at every
//! pass, so `/healthz` shows a writer that is stuck (a stalled card) as such.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::Connection;
use serde::Serialize;

use super::retention::Retention;
use super::{Record, Tx};
use crate::backoff::Backoff;
use crate::config::StoreSettings;
use crate::state::{Sample, SampleQueue, State};
use crate::supervise::{self, lock, Pulse};
use crate::value::now_ms;

/// Sends a call's result back, given whether its transaction committed.
pub(super) type Reply = Box<dyn FnOnce(Result<()>) + Send>;

/// A call's work: whether it succeeded, and its [`Reply`].
pub(super) type CallFn = Box<dyn FnOnce(Option<&Tx>) -> (bool, Reply) + Send>;

pub(super) enum Job {
    Record(Record),
    /// Runs in its own transaction once everything queued before is stored (`None` when that
    /// cannot be: the writes before it failed, and it must not overtake them). It returns
    /// whether it succeeded (else its transaction is rolled back) and what sends its result
    /// back once the commit's outcome is known.
    Call(CallFn),
    /// Stores what is queued (or tries), then answers.
    Sync(std::sync::mpsc::Sender<()>),
    /// Stores what is queued and ends the writer.
    Stop,
    /// Runs at once on the writer's connection, outside the batch (tests: a disk that fills
    /// and empties, as `max_page_count`).
    #[cfg(test)]
    Raw(Box<dyn FnOnce(&Connection) + Send>),
}

/// The writer's queue of jobs: at most `bound` waiting, allocated as they arrive. A channel
/// bounded by its own capacity (`sync_channel`) writes every slot at creation: 1.6 MiB
/// resident for 10,000 jobs that an agent in good health never has waiting.
pub(super) fn jobs(bound: usize) -> (JobSender, JobReceiver) {
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    (
        JobSender {
            tx,
            waiting: waiting.clone(),
            bound,
        },
        JobReceiver { rx, waiting },
    )
}

pub(super) struct JobSender {
    tx: std::sync::mpsc::Sender<Job>,
    waiting: Arc<AtomicUsize>,
    bound: usize,
}

/// Why a job was not queued (the job is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// `bound` jobs are waiting: the writer is stuck.
    Full,
    /// The writer has ended.
    Closed,
}

impl JobSender {
    /// Queues `job` unless `bound` jobs are waiting; never blocks.
    pub(super) fn try_send(&self, job: Job) -> Result<(), Refused> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.bound {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        self.send_now(job)
    }

    /// Queues `job` whatever is waiting (a sync, the stop: they must get through).
    pub(super) fn send(&self, job: Job) -> Result<(), Refused> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        self.send_now(job)
    }

    fn send_now(&self, job: Job) -> Result<(), Refused> {
        self.tx.send(job).map_err(|_| {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            Refused::Closed
        })
    }
}

pub(super) struct JobReceiver {
    rx: Receiver<Job>,
    waiting: Arc<AtomicUsize>,
}

impl JobReceiver {
    fn recv_timeout(&self, wait: Duration) -> Result<Job, RecvTimeoutError> {
        let job = self.rx.recv_timeout(wait);
        if job.is_ok() {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }
}

/// Records waiting in the writer's batch at most (after coalescing: operations, parts,
/// violation episodes and alarm transitions of a long outage).
pub(super) const MAX_RECORDS: usize = 10_000;

/// The longest wait between two attempts while writes fail: space freed on the disk shows in
/// the store within this.
pub(super) const RETRY_MAX: Duration = Duration::from_secs(10);

/// How long a retention pass may hold the writer at a time (once per flush interval at most).
const RETENTION_SLICE: Duration = Duration::from_millis(200);

/// The writer's heartbeat: it passes at least once per flush interval; a pass may take a
/// while on a slow card (a commit, a retention slice), so it is stuck only after 30 s.
pub(super) fn pulse(flush_interval: Duration) -> Arc<Pulse> {
    Pulse::new(
        "store-writer",
        flush_interval,
        supervise::stuck_after(flush_interval, Duration::from_secs(30)),
    )
}

/// What the writer shares with the store's handle: the facts `/healthz` and `/metrics` show.
#[derive(Debug, Default)]
pub(super) struct Health {
    /// Wall-clock ms of the last commit; 0 before the first.
    last_commit_ms: AtomicI64,
    backlog_samples: AtomicU64,
    backlog_records: AtomicU64,
    pub(super) dropped_records: AtomicU64,
    pub(super) failures: AtomicU64,
    /// Since when writes fail, and the last error; `None` while they succeed.
    failing: Mutex<Option<(i64, String)>>,
    /// Samples stored 1 ms or more later than their time, because an earlier sample of the
    /// same signal held that millisecond.
    shifted_samples: AtomicU64,
    /// Rows deleted by retention since start.
    retention_deleted: AtomicU64,
    /// Where a damaged file was moved at start.
    pub(super) moved_aside: Mutex<Option<String>>,
}

/// The store as `/healthz` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreStatus {
    /// `ok`, `failing` (writes fail: a full disk, a damaged file; kept and retried) or
    /// `unavailable` (the store records nothing this run).
    pub state: &'static str,
    /// Why it is failing or unavailable.
    pub reason: Option<String>,
    pub failing_since_ms: Option<i64>,
    /// The last commit, ms since the Unix epoch (`null`: none yet this run).
    pub last_commit_ms: Option<i64>,
    /// Samples and records waiting in the writer's batch.
    pub backlog_samples: u64,
    pub backlog_records: u64,
    /// Records the store could not keep (bounded batch, stuck or unavailable store).
    pub dropped_records: u64,
    pub write_failures: u64,
    pub shifted_samples: u64,
    pub retention_deleted: u64,
    /// Where a damaged store file was moved at start.
    pub moved_aside: Option<String>,
}

impl Health {
    pub(super) fn status(&self, unavailable: Option<&str>) -> StoreStatus {
        let failing = lock(&self.failing).clone();
        let (state, reason) = match (unavailable, &failing) {
            (Some(why), _) => ("unavailable", Some(why.to_string())),
            (None, Some((_, e))) => ("failing", Some(e.clone())),
            (None, None) => ("ok", None),
        };
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStatus {
            state,
            reason,
            failing_since_ms: failing.map(|(t, _)| t),
            last_commit_ms: Some(self.last_commit_ms.load(Ordering::Relaxed)).filter(|t| *t > 0),
            backlog_samples: r(&self.backlog_samples),
            backlog_records: r(&self.backlog_records),
            dropped_records: r(&self.dropped_records),
            write_failures: r(&self.failures),
            shifted_samples: r(&self.shifted_samples),
            retention_deleted: r(&self.retention_deleted),
            moved_aside: lock(&self.moved_aside).clone(),
        }
    }
}

pub(super) struct Writer {
    conn: Connection,
    ids: Vec<i64>,
    flush_interval: Duration,
    next_flush: Instant,
    retention: Retention,
    /// When retention may take its next slice.
    next_retention: Instant,
    samples: Arc<SampleQueue>,
    /// `[store] queue`: samples kept in the batch at most.
    queue: usize,
    /// Records and samples taken but not yet committed (kept and retried when a write fails:
    /// a full disk or a locked file must not silently lose what the API has already shown).
    pending: VecDeque<Record>,
    pending_samples: VecDeque<Sample>,
    /// While writes fail: when to try again, and how many attempts failed.
    retry: Backoff,
    retry_at: Option<Instant>,
    attempts: u64,
    /// Samples and records dropped during the current outage, for the log line at its end.
    outage_dropped: (u64, u64),
    health: Arc<Health>,
    pulse: Arc<Pulse>,
    /// For the count of dropped samples (one count for every sample lost on the way).
    state: Arc<State>,
}

impl Writer {
    pub(super) fn new(
        settings: &StoreSettings,
        conn: Connection,
        ids: Vec<i64>,
        samples: Arc<SampleQueue>,
        health: Arc<Health>,
        pulse: Arc<Pulse>,
        state: Arc<State>,
    ) -> Writer {
        Writer {
            conn,
            ids,
            flush_interval: settings.flush_interval,
            next_flush: Instant::now() + settings.flush_interval,
            retention: Retention::new(settings),
            next_retention: Instant::now(),
            samples,
            queue: settings.queue,
            pending: VecDeque::new(),
            pending_samples: VecDeque::new(),
            retry: Backoff::new(
                settings.flush_interval,
                RETRY_MAX.max(settings.flush_interval),
            ),
            retry_at: None,
            attempts: 0,
            outage_dropped: (0, 0),
            health,
            pulse,
            state,
        }
    }

    pub(super) fn run(mut self, jobs: JobReceiver) {
        loop {
            let wait = self.next_flush.saturating_duration_since(Instant::now());
            let job = jobs.recv_timeout(wait);
            let stopping = matches!(job, Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected));
            if let Err(message) = supervise::catch(|| self.pass(job)) {
                self.pulse.panicked(&message);
                self.drop_batch("a step of the writer panicked");
            }
            self.pulse.beat();
            if stopping {
                break;
            }
        }
    }

    /// One pass: the job, then the flush and retention when due.
    fn pass(&mut self, job: Result<Job, RecvTimeoutError>) {
        match job {
            Ok(Job::Record(r)) => {
                let urgent = r.urgent();
                self.push(r);
                if urgent {
                    // Committed now, on its own: the samples wait for the flush interval, so
                    // that alarms do not multiply the card's writes.
                    self.flush_records();
                }
            }
            Ok(Job::Call(f)) => {
                self.flush(false);
                self.call(f);
            }
            Ok(Job::Sync(done)) => {
                self.flush(false);
                let _ = done.send(());
            }
            Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                // The last chance: tried whatever the backoff says.
                self.flush(true);
                return;
            }
            #[cfg(test)]
            Ok(Job::Raw(f)) => f(&self.conn),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= self.next_flush {
            self.flush(false);
            self.next_flush = Instant::now() + self.flush_interval;
        }
        // Retention writes too: not while writes fail (it would fail the same way), and one
        // slice per flush interval at most, so a long pass takes at most a fifth of the
        // writer's time.
        if self.retry_at.is_none() && Instant::now() >= self.next_retention {
            self.retention
                .run_slice(&self.conn, RETENTION_SLICE, &self.health.retention_deleted);
            self.next_retention = Instant::now() + self.flush_interval;
        }
    }

    /// A record joins the batch. A component's state or a tool's usage replaces the one still
    /// waiting (only the latest is stored anyway): nothing between them depends on it, since
    /// calls (a tool change) never overtake the batch.
    fn push(&mut self, r: Record) {
        let r = match r {
            Record::ComponentState { name, json, now_ms } => {
                let waiting = self.pending.iter_mut().find_map(|p| match p {
                    Record::ComponentState {
                        name: n,
                        json: j,
                        now_ms: t,
                    } if *n == name => Some((j, t)),
                    _ => None,
                });
                match waiting {
                    Some((j, t)) => {
                        (*j, *t) = (json, now_ms);
                        return;
                    }
                    None => Record::ComponentState { name, json, now_ms },
                }
            }
            Record::ToolUsage { rows, now_ms } => {
                let waiting = self.pending.iter_mut().find_map(|p| match p {
                    Record::ToolUsage { rows: w, now_ms: t } => Some((w, t)),
                    _ => None,
                });
                match waiting {
                    Some((w, t)) => {
                        for row in rows {
                            match w.iter_mut().find(|x| x.tool_id == row.tool_id) {
                                Some(x) => *x = row,
                                None => w.push(row),
                            }
                        }
                        *t = now_ms;
                        return;
                    }
                    None => Record::ToolUsage { rows, now_ms },
                }
            }
            other => other,
        };
        if self.pending.len() >= MAX_RECORDS {
            self.pending.pop_front();
            self.count_dropped(0, 1);
        }
        self.pending.push_back(r);
        self.publish_backlog();
    }

    /// Takes the samples queued by the state into the batch, the oldest dropped beyond the
    /// queue's size.
    fn take_samples(&mut self) {
        let taken = self.samples.take();
        if self.pending_samples.is_empty() && taken.len() <= self.queue {
            // The usual case: the queue's vector becomes the batch, nothing copied.
            self.pending_samples = VecDeque::from(taken);
            return;
        }
        let mut dropped = 0;
        for s in taken {
            if self.pending_samples.len() >= self.queue {
                self.pending_samples.pop_front();
                dropped += 1;
            }
            self.pending_samples.push_back(s);
        }
        if dropped > 0 {
            self.count_dropped(dropped, 0);
        }
    }

    fn count_dropped(&mut self, samples: u64, records: u64) {
        if samples > 0 {
            self.state.count_dropped_samples(samples);
        }
        if records > 0 {
            self.health
                .dropped_records
                .fetch_add(records, Ordering::Relaxed);
        }
        self.outage_dropped.0 += samples;
        self.outage_dropped.1 += records;
    }

    fn publish_backlog(&self) {
        self.health
            .backlog_samples
            .store(self.pending_samples.len() as u64, Ordering::Relaxed);
        self.health
            .backlog_records
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Writes the batch, unless writes are failing and the next attempt is not due yet
    /// (`now`: at a stop, try anyway).
    fn flush(&mut self, now: bool) {
        self.take_samples();
        self.commit(now, true);
    }

    /// Commits the records waiting (an alarm, an operation, a violation), not the samples.
    fn flush_records(&mut self) {
        self.commit(false, false);
    }

    /// Commits the records waiting, and the samples in hand `with_samples`. Once writes fail,
    /// nothing is tried before the backoff says (unless `now`).
    fn commit(&mut self, now: bool, with_samples: bool) {
        self.publish_backlog();
        let samples = with_samples && !self.pending_samples.is_empty();
        if self.pending.is_empty() && !samples {
            return;
        }
        if !now && self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        match self.write(samples) {
            Ok(()) => {
                if self.retry_at.take().is_some() {
                    let (s, r) = std::mem::take(&mut self.outage_dropped);
                    tracing::warn!(
                        "store: writing again after {} failed attempts; {s} samples and {r} \
                         records were dropped meanwhile (the oldest, beyond the bounds)",
                        self.attempts
                    );
                }
                self.attempts = 0;
                self.retry.reset();
                self.outage_dropped = (0, 0);
                *lock(&self.health.failing) = None;
                self.pending.clear();
                if samples {
                    // Freed, not kept at its peak: the next batch grows as its samples come.
                    self.pending_samples = VecDeque::new();
                }
                self.health
                    .last_commit_ms
                    .store(now_ms(), Ordering::Relaxed);
            }
            Err(e) => {
                self.health.failures.fetch_add(1, Ordering::Relaxed);
                self.attempts += 1;
                let delay = self.retry.next_delay();
                self.retry_at = Some(Instant::now() + delay);
                let message = format!("{e:#}");
                // The first failure and then one line in a hundred: a full disk must not also
                // fill the journal.
                if self.attempts == 1 || self.attempts.is_multiple_of(100) {
                    tracing::error!(
                        "store: writing {} samples and {} records failed ({} attempts so far; \
                         kept within bounds, retried in {delay:.1?}): {message}",
                        self.pending_samples.len(),
                        self.pending.len(),
                        self.attempts
                    );
                }
                let mut failing = lock(&self.health.failing);
                let since = failing.as_ref().map_or_else(now_ms, |(t, _)| *t);
                *failing = Some((since, message));
            }
        }
        self.publish_backlog();
    }

    fn write(&mut self, samples: bool) -> Result<()> {
        let tx = Tx(self.conn.transaction()?);
        let shifted = if samples {
            tx.insert_samples(&self.ids, self.pending_samples.make_contiguous())?
        } else {
            0
        };
        for r in &self.pending {
            tx.apply(r)?;
        }
        tx.0.commit().context("committing")?;
        if shifted > 0 {
            self.health
                .shifted_samples
                .fetch_add(shifted, Ordering::Relaxed);
        }
        Ok(())
    }

    /// After a panic: the batch in hand may be what panicked, and would at every retry.
    fn drop_batch(&mut self, why: &str) {
        let (s, r) = (self.pending_samples.len() as u64, self.pending.len() as u64);
        self.pending_samples.clear();
        self.pending.clear();
        self.count_dropped(s, r);
        self.publish_backlog();
        tracing::error!("store: {why}; its batch ({s} samples, {r} records) was dropped");
    }

    fn call(&mut self, f: CallFn) {
        if !(self.pending.is_empty() && self.pending_samples.is_empty()) {
            return f(None).1(Ok(()));
        }
        match self.conn.transaction() {
            Ok(t) => {
                let tx = Tx(t);
                let (ok, reply) = f(Some(&tx));
                // Dropping an uncommitted transaction rolls it back.
                reply(if ok {
                    tx.0.commit().context("committing")
                } else {
                    Ok(())
                });
            }
            Err(e) => f(None).1(Err(e).context("starting a transaction")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queue refuses jobs beyond its bound, takes them again as the writer receives, and
    /// lets a sync or the stop through whatever is waiting.
    #[test]
    fn the_job_queue_is_bounded_without_allocating_its_bound() {
        let (tx, rx) = jobs(2);
        assert!(tx.try_send(Job::Stop).is_ok());
        assert!(tx.try_send(Job::Stop).is_ok());
        assert_eq!(tx.try_send(Job::Stop).err(), Some(Refused::Full));
        let (done, _) = std::sync::mpsc::channel();
        assert!(tx.send(Job::Sync(done)).is_ok(), "a sync gets through");
        assert!(rx.recv_timeout(Duration::ZERO).is_ok());
        assert!(rx.recv_timeout(Duration::ZERO).is_ok());
        assert!(tx.try_send(Job::Stop).is_ok(), "room again once received");
        drop(rx);
        assert_eq!(
            tx.send(Job::Stop).err(),
            Some(Refused::Closed),
            "no writer: nothing is queued"
        );
    }
}
