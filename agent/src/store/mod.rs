//! The durable store: one SQLite file in WAL mode that this module owns. No SQL lives anywhere
//! else in the agent.
//!
//! - **One schema**, as numbered migrations run at start (`schema.rs`): a file from an older
//!   agent is upgraded, one from a newer agent is refused with a message.
//! - **One writer.** A thread with the only read-write connection applies everything in order:
//!   the state's samples (queued changes, never every poll), the evaluators' records
//!   (operations, parts, violation episodes, tool usage, component state), the alarm audit
//!   trail and the shop floor's labels. It commits one transaction per `flush_interval`,
//!   because SD cards wear by writes; a caller that needs an answer (a tool change's id) waits
//!   for its own transaction, after everything queued before it.
//! - **Read-only handles for every reader** (`Store::read`, `open_reader`): HTTP, fleet
//!   tailing, exports and the life models' refits read snapshots beside the writer and never
//!   block it.
//! - **Typed repositories** with named columns, one file per table group: `samples.rs`,
//!   `operations.rs` (operations, parts, violations), `tools.rs` (usage, changes),
//!   `components.rs` (component state and resets), `counters.rs` (counter steps the
//!   plausibility guards refused), `audit.rs` (alarms). The MQTT outbox has a
//!   file of its own (`outbox.rs`).
//!
//! WAL with `synchronous = FULL` on the writer: a crash or `kill -9` loses at most the batch
//! being written and never corrupts the file; committed rows stay.

mod audit;
mod components;
mod connection;
mod counters;
mod operations;
pub mod outbox;
mod samples;
pub mod schema;
mod tools;

pub use audit::{CurrentAlarm, HistoryFilter, HistoryRow};
pub use components::ComponentReset;
pub use operations::{OperationView, Summary};
pub use samples::{SampleRow, StoredSample};
pub use tools::{Lifetime, ToolUsage};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::config::StoreSettings;
use crate::records::alarm::Transition;
use crate::records::counter::CounterEvent;
use crate::records::operation::{OperationRecord, PartRecord, Violation};
use crate::state::{Sample, State};

/// What the evaluators and the alarm engine hand the writer; applied in the order given.
#[derive(Debug, Clone)]
pub enum Record {
    Operation(Box<OperationRecord>),
    Part(PartRecord),
    /// A rule went out of its limits: the episode opens (`end_ms` is `None`).
    ViolationOpened(Violation),
    /// An open episode's latest message and worst value, and its end once it is over. Found
    /// by its rule and start.
    ViolationUpdated {
        profile: String,
        rule_id: String,
        start_ms: i64,
        message: String,
        value: Option<f64>,
        end_ms: Option<i64>,
    },
    /// Tools whose usage or prediction changed since they were last stored.
    ToolUsage {
        rows: Vec<ToolUsage>,
        now_ms: i64,
    },
    /// A component's state as JSON (the bearing's trend, the service history), replaced.
    ComponentState {
        name: String,
        json: String,
        now_ms: i64,
    },
    /// A counter step a plausibility guard refused to count.
    CounterEvent(CounterEvent),
    /// Alarm transitions, with the alarms they touched as they are now (`None`: back to
    /// normal): the trail and the current state are stored together, never disagreeing.
    Alarms {
        transitions: Vec<Transition>,
        current: Vec<(String, Option<CurrentAlarm>)>,
    },
}

/// Sends a call's result back, given whether its transaction committed.
type Reply = Box<dyn FnOnce(Result<()>) + Send>;

/// A call's work: whether it succeeded, and its [`Reply`].
type CallFn = Box<dyn FnOnce(Option<&Tx>) -> (bool, Reply) + Send>;

enum Job {
    Record(Record),
    /// Runs in its own transaction once everything queued before is stored (`None` when that
    /// cannot be: the writes before it failed, and it must not overtake them). It returns
    /// whether it succeeded (else its transaction is rolled back) and what sends its result
    /// back once the commit's outcome is known.
    Call(CallFn),
    /// Stores what is queued, then answers.
    Sync(mpsc::Sender<()>),
    /// Stores what is queued and ends the writer.
    Stop,
}

/// The result of a [`Store::submit`], once the writer has committed it.
pub struct Pending<T>(mpsc::Receiver<Result<T>>);

impl<T> Pending<T> {
    pub fn wait(self) -> Result<T> {
        self.0
            .recv()
            .map_err(|_| anyhow::anyhow!("the store is closed; nothing was stored"))?
    }
}

/// A write transaction, as the writer thread hands it to the repositories.
pub struct Tx<'c>(rusqlite::Transaction<'c>);

/// A read-only connection to a store file. Queries are methods of the repositories.
pub struct Reader {
    conn: Connection,
}

impl Reader {
    /// Runs `f` in one read transaction: every query it makes sees the same snapshot, however
    /// long it takes (the writer goes on meanwhile; WAL keeps the snapshot's pages).
    pub fn snapshot<T>(&mut self, f: impl FnOnce(&Reader) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let out = f(self);
        // Read-only: nothing to commit; ending the transaction releases the snapshot.
        self.conn.execute_batch("ROLLBACK")?;
        out
    }
}

/// Opens a store file for reading from outside a running agent (`agent export`, `agent
/// train`). A file of an older version is upgraded first (it needs write access then); a
/// running agent has always upgraded its file already.
pub fn open_reader(path: &Path) -> Result<Reader> {
    let conn = connection::open_read_only(path)?;
    if schema::check_current(&conn, schema::STORE, &describe(path)).is_err() {
        drop(conn);
        let mut rw = connection::open_rw(path)?;
        schema::migrate(&mut rw, schema::STORE, &describe(path))?;
    }
    Ok(Reader {
        conn: connection::open_read_only(path)?,
    })
}

fn describe(path: &Path) -> String {
    format!("store {}", path.display())
}

/// Readers kept open between requests (each holds a few pages of cache).
const READERS_KEPT: usize = 4;

pub struct Store {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    /// Writes that failed since start (their content kept and retried).
    failures: Arc<AtomicU64>,
    readers: Mutex<Vec<Reader>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Store {
    /// Opens (or creates) the store, upgrades its schema, registers the state's signals and
    /// starts the writer.
    pub fn open(settings: &StoreSettings, state: &Arc<State>) -> Result<Arc<Store>> {
        let path = settings.path.clone();
        let mut conn = connection::open_rw(&path)?;
        schema::migrate(&mut conn, schema::STORE, &describe(&path))?;
        let ids = samples::register_signals(&mut conn, state)?;
        let (samples_tx, samples_rx) = mpsc::sync_channel(settings.queue);
        state.attach_store(samples_tx);
        let (jobs, jobs_rx) = mpsc::channel();
        let failures = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            failures: failures.clone(),
            conn,
            ids,
            flush_interval: settings.flush_interval,
            retention: settings.retention,
            samples: samples_rx,
            pending: Vec::new(),
            pending_samples: Vec::new(),
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(jobs_rx))?;
        Ok(Arc::new(Store {
            path,
            jobs,
            failures,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(Some(handle)),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read-only handle. Blocking (SQLite): from async code, call it on the
    /// blocking pool.
    pub fn read<T>(&self, f: impl FnOnce(&Reader) -> Result<T>) -> Result<T> {
        let reader = match self.readers.lock().unwrap().pop() {
            Some(r) => r,
            None => Reader {
                conn: connection::open_read_only(&self.path)?,
            },
        };
        let out = f(&reader);
        let mut kept = self.readers.lock().unwrap();
        if kept.len() < READERS_KEPT {
            kept.push(reader);
        }
        out
    }

    /// Queues a record for the writer; never blocks.
    pub fn record(&self, r: Record) {
        // The writer only goes away at `close`; a record after that has nowhere to go.
        let _ = self.jobs.send(Job::Record(r));
    }

    /// Runs `f` in a transaction of its own on the writer, after everything queued before it,
    /// and waits for its result (a tool change, a component reset: rare, and the caller needs
    /// the answer).
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(f).wait()
    }

    /// Queues `f` like [`Store::call`] without waiting: its place in the order is taken now
    /// (under the caller's lock, say), its result awaited later.
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Tx) -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        let (tx, rx) = mpsc::channel();
        let job = Job::Call(Box::new(move |t: Option<&Tx>| -> (bool, Reply) {
            let result = match t {
                Some(t) => f(t),
                None => Err(anyhow::anyhow!(
                    "the store cannot write now (see the log); nothing was stored"
                )),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: Result<()>| {
                let _ = tx.send(committed.and(result));
            });
            (ok, reply)
        }));
        // A closed store drops the job, and with it the sender: `wait` says so.
        let _ = self.jobs.send(job);
        Pending(rx)
    }

    /// Waits until everything queued so far is stored (a clean stop, tests).
    pub fn sync(&self) {
        let (tx, rx) = mpsc::channel();
        if self.jobs.send(Job::Sync(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Writes that failed since start.
    pub fn write_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Rows in the sample table and the size of the database file with its WAL, for metrics.
    pub fn stats(&self) -> Result<(u64, u64)> {
        let rows = self.read(|r| r.sample_count())?;
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok((rows, size(self.path.clone()) + size(wal.into())))
    }

    /// Stores what is queued and stops the writer.
    pub fn close(&self) {
        if let Some(h) = self.writer.lock().unwrap().take() {
            let _ = self.jobs.send(Job::Stop);
            let _ = h.join();
        }
    }
}

struct Writer {
    failures: Arc<AtomicU64>,
    conn: Connection,
    ids: Vec<i64>,
    flush_interval: Duration,
    retention: Duration,
    samples: Receiver<Sample>,
    /// Records and samples taken but not yet committed (kept and retried when a write fails:
    /// a full disk or a locked file must not silently lose what the API has already shown).
    pending: Vec<Record>,
    pending_samples: Vec<Sample>,
}

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

impl Writer {
    fn run(mut self, jobs: Receiver<Job>) {
        let mut next_flush = Instant::now() + self.flush_interval;
        let mut next_retention = Instant::now();
        loop {
            let wait = next_flush.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(wait) {
                Ok(Job::Record(r)) => {
                    let urgent = r.urgent();
                    self.pending.push(r);
                    if urgent {
                        self.flush();
                    }
                }
                Ok(Job::Call(f)) => {
                    self.flush();
                    self.call(f);
                }
                Ok(Job::Sync(done)) => {
                    self.flush();
                    let _ = done.send(());
                }
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_flush {
                self.flush();
                next_flush = Instant::now() + self.flush_interval;
            }
            if Instant::now() >= next_retention {
                if let Err(e) = samples::apply_retention(&self.conn, &self.ids, self.retention) {
                    tracing::warn!("store: retention failed: {e:#}");
                }
                next_retention = Instant::now() + RETENTION_EVERY;
            }
        }
    }

    fn flush(&mut self) {
        self.pending_samples.extend(self.samples.try_iter());
        if self.pending.is_empty() && self.pending_samples.is_empty() {
            return;
        }
        match self.write() {
            Ok(()) => {
                self.pending.clear();
                self.pending_samples.clear();
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    "store: writing {} samples and {} records failed (kept, retried): {e:#}",
                    self.pending_samples.len(),
                    self.pending.len()
                )
            }
        }
    }

    fn write(&mut self) -> Result<()> {
        let tx = Tx(self.conn.transaction()?);
        tx.insert_samples(&self.ids, &self.pending_samples)?;
        for r in &self.pending {
            tx.apply(r)?;
        }
        tx.0.commit()?;
        Ok(())
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

impl Tx<'_> {
    fn apply(&self, r: &Record) -> Result<()> {
        match r {
            Record::Operation(o) => self.insert_operation(o).map(|_| ()),
            Record::Part(p) => self.insert_part(p),
            Record::ViolationOpened(v) => self.open_violation(v),
            Record::ViolationUpdated {
                profile,
                rule_id,
                start_ms,
                message,
                value,
                end_ms,
            } => self.update_violation(profile, rule_id, *start_ms, message, *value, *end_ms),
            Record::ToolUsage { rows, now_ms } => self.save_tool_usage(rows, *now_ms),
            Record::ComponentState { name, json, now_ms } => {
                self.save_component_state(name, json, *now_ms)
            }
            Record::CounterEvent(e) => self.insert_counter_event(e),
            Record::Alarms {
                transitions,
                current,
            } => self.record_alarms(transitions, current),
        }
        .with_context(|| format!("storing {}", r.kind()))
    }
}

impl Record {
    /// Stored at once rather than with the next batch: alarm transitions are rare, and the
    /// audit trail (an acknowledgement, who shelved what) must not wait for a flush interval.
    fn urgent(&self) -> bool {
        matches!(self, Record::Alarms { .. })
    }

    fn kind(&self) -> &'static str {
        match self {
            Record::Operation(_) => "an operation",
            Record::Part(_) => "a part",
            Record::ViolationOpened(_) | Record::ViolationUpdated { .. } => "a violation",
            Record::ToolUsage { .. } => "tool usage",
            Record::ComponentState { .. } => "a component's state",
            Record::CounterEvent(_) => "a counter event",
            Record::Alarms { .. } => "alarm transitions",
        }
    }
}

/// A store in a fresh directory with one Modbus signal (`mql.oil_flow`), for unit tests; and
/// the configuration it was opened with.
#[cfg(test)]
pub fn test_store(tag: &str) -> (Arc<Store>, Arc<State>, crate::config::Config) {
    let dir = std::env::temp_dir().join(format!(
        "agent-store-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let src = format!(
        r#"
[store]
path = "{}/agent.db"
flush_interval_ms = 50
[[device]]
name = "d"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
"#,
        dir.display()
    );
    let cfg = crate::config::parse(Path::new("t.toml"), &src).unwrap();
    let state = Arc::new(State::new(&cfg));
    let store = Store::open(&cfg.store, &state).unwrap();
    (store, state, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn samples_are_batched_to_disk_and_read_back() {
        let (store, state, _) = test_store("samples");
        for x in 0..10 {
            state.update(0, Value::Number(f64::from(x)), Instant::now());
            std::thread::sleep(Duration::from_millis(2));
        }
        state.fail(0, "gone");
        store.close();
        let h = store
            .read(|r| r.history("mql.oil_flow", 0, i64::MAX, 100))
            .unwrap();
        assert_eq!(h.len(), 11);
        assert_eq!(h[3].value, Some(Value::Number(3.0)));
        assert_eq!(h[10].value, None);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (store, state, cfg) = test_store("newer");
        store.close();
        let path = cfg.store.path.clone();
        let conn = Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        drop(conn);
        let settings = crate::config::StoreSettings {
            path,
            retention: Duration::from_secs(3600),
            flush_interval: Duration::from_millis(50),
            heartbeat: Duration::from_secs(60),
            queue: 100,
        };
        let err = Store::open(&settings, &state).err().unwrap().to_string();
        assert!(
            err.contains("schema version") && err.contains("99"),
            "{err}"
        );
    }

    #[test]
    fn a_call_runs_after_what_was_queued_before_it_and_answers() {
        let (store, _, _) = test_store("call");
        let op = OperationRecord {
            start_ms: 1,
            end_ms: 2,
            ..OperationRecord::default()
        };
        store.record(Record::Operation(Box::new(op.clone())));
        // The call's transaction sees the operation queued before it, though no flush was due.
        let n = store
            .call(|tx| {
                Ok(tx
                    .0
                    .query_row("SELECT count(*) FROM operation", [], |r| r.get::<_, i64>(0))?)
            })
            .unwrap();
        assert_eq!(n, 1);
        let got = store.read(|r| r.operations(0, 10, 10)).unwrap();
        assert_eq!(got[0].record, op);
        store.close();
        assert!(store.call(|_| Ok(())).is_err(), "a closed store says so");
    }
}

/// A store file written by the agent before the store owned its schema opens, is upgraded, and
/// everything in it reads back through the repositories.
#[cfg(test)]
mod upgrade {
    use super::*;

    #[test]
    fn a_store_from_before_migrations_opens_upgraded_and_reads_back() {
        let (_, _, cfg) = test_store("fixture");
        let path = cfg.store.path.with_file_name("from-v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
            conn.execute_batch(include_str!("../../tests/fixtures/store-v1.sql"))
                .unwrap();
        }
        let settings = crate::config::StoreSettings {
            path: path.clone(),
            ..cfg.store.clone()
        };
        let store = Store::open(&settings, &Arc::new(State::new(&cfg))).unwrap();
        store
            .read(|r| {
                let ops = r.operations(0, i64::MAX, 1000)?;
                assert_eq!(ops.len(), 37);
                assert!(ops.iter().all(|o| o.record.speed_mean_rpm.is_some()));
                assert_eq!(r.parts(0, i64::MAX)?.len(), 13);
                let usage = r.tool_usage()?;
                assert_eq!(usage.len(), 4);
                assert!(usage.iter().any(|u| u.prediction.is_some()));
                let changes = r.recent_tool_changes(10)?;
                assert_eq!(changes.len(), 1);
                assert_eq!(
                    changes[0].reason,
                    crate::records::tool::ChangeReason::WornOut
                );
                assert_eq!(r.current_alarms()?.len(), 3);
                assert_eq!(r.alarm_event_count()?, 8);
                assert_eq!(r.component_resets()?.len(), 1);
                assert!(r.component_state("service-history")?.is_some());
                assert!(r.sample_count()? > 0);
                assert_eq!(r.lifetimes()?.len(), 1);
                Ok(())
            })
            .unwrap();
        // And it takes new rows.
        let id = store
            .call(|tx| {
                tx.insert_tool_change(&crate::records::tool::ToolChange {
                    id: 0,
                    tool_id: "T9".into(),
                    ts_ms: 1,
                    reason: crate::records::tool::ChangeReason::Broken,
                    censored: false,
                    measured_vb_mm: None,
                    by: "test".into(),
                    counters: Default::default(),
                    prediction: None,
                })
            })
            .unwrap();
        assert_eq!(id, 2);
        store.close();
    }
}
