//! The durable store: one SQLite file in WAL mode that this module owns. No SQL lives anywhere
//! else in the agent.
//!
//! - **One schema**, as numbered migrations run at start (`schema.rs`): a file from an older
//!   agent is upgraded, one from a newer agent is refused with a message.
//! - **One writer** (`writer.rs`). A thread with the only read-write connection applies
//!   everything in order: the state's samples (queued changes, never every poll), the
//!   evaluators' records (operations, parts, violation episodes, tool usage, component state),
//!   the alarm audit trail and the shop floor's labels. It commits one transaction per
//!   `flush_interval`, because SD cards wear by writes; a caller that needs an answer (a tool
//!   change's id) waits for its own transaction, after everything queued before it. While
//!   writes fail (a full disk) it keeps a bounded batch and retries with backoff; retention
//!   (`retention.rs`) deletes in small chunks between batches.
//! - **Read-only handles for every reader** (`Store::read`, `open_reader`): HTTP, fleet
//!   tailing, exports and the life models' refits read snapshots beside the writer and never
//!   block it.
//! - **Typed repositories** with named columns, one file per table group: `samples.rs`,
//!   `operations.rs` (operations, parts, violations), `tools.rs` (usage, changes),
//!   `components.rs` (component state and resets), `counters.rs` (counter steps the
//!   plausibility guards refused), `audit.rs` (alarms). The MQTT outbox has a
//!   file of its own (`outbox.rs`).
//! - **The store degrades, it never stops the agent** ([`Store::start`]): a file SQLite cannot
//!   read as a database is moved aside (`aside.rs`) and a fresh one started; a file it must not
//!   touch (written by a newer agent) or cannot open leaves a store that records nothing this
//!   run and says so (`/healthz`, a 503 on every read), while acquisition, alarms and the page
//!   go on from live data.
//!
//! WAL with `synchronous = FULL` on the writer: a crash or `kill -9` loses at most the batch
//! being written and never corrupts the file; committed rows stay.

mod access;
mod aside;
mod audit;
mod components;
mod connection;
mod counters;
mod monitor;
mod operations;
pub mod outbox;
mod retention;
mod samples;
pub mod schema;
mod tools;
mod writer;

pub use audit::{CurrentAlarm, HistoryFilter, HistoryRow};
pub use components::ComponentReset;
pub use operations::{OperationView, ProgramOperation, Summary, SUMMARY_VIOLATIONS};
pub use samples::{SampleRow, StoredSample};
pub use tools::{Lifetime, ToolUsage};
pub use writer::StoreStatus;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

use crate::config::StoreSettings;
use crate::records::access::AccessEvent;
use crate::records::alarm::Transition;
use crate::records::counter::CounterEvent;
use crate::records::monitor::{Envelope, Finding, Learning};
use crate::records::operation::{OperationRecord, PartRecord, Violation};
use crate::state::State;
use crate::supervise::{lock, Pulse};
use writer::{Health, Job, Writer};

/// What the evaluators and the alarm engine hand the writer; applied in the order given.
#[derive(Debug, Clone)]
pub enum Record {
    Operation(Box<OperationRecord>),
    Part(PartRecord),
    /// A rule went out of its limits: the episode opens (`end_ms` is `None`).
    /// Boxed: the largest record, and the writer's queue holds many small ones.
    ViolationOpened(Box<Violation>),
    /// An open episode's latest message and worst value, and its end once it is over. Found
    /// by its rule and start.
    ViolationUpdated {
        profile: String,
        rule_id: String,
        start_ms: i64,
        message: String,
        message_zh: String,
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
    /// A wrong token at the HTTP server.
    Access(AccessEvent),
    /// An operation's envelope, learned: replaces the one of its program and operation.
    MonitorEnvelope(Box<Envelope>),
    /// The cycles an operation's next envelope is being learned from (none: nothing is).
    MonitorLearning(Box<Learning>),
    /// What a monitor's detector found, on the operation it was found in.
    MonitorFinding(Box<Finding>),
    /// Alarm transitions, with the alarms they touched as they are now (`None`: back to
    /// normal): the trail and the current state are stored together, never disagreeing.
    Alarms {
        transitions: Vec<Transition>,
        current: Vec<(String, Option<CurrentAlarm>)>,
    },
}

/// The error of every read and write of a store that records nothing this run (a file from a
/// newer agent, a file or directory that cannot be opened): the HTTP API answers it with 503.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store records nothing this run: {0}")]
pub struct Unavailable(pub String);

/// The result of a [`Store::submit`], once the writer has committed it.
pub struct Pending<T>(mpsc::Receiver<Result<T>>);

impl<T> Pending<T> {
    pub fn wait(self) -> Result<T> {
        self.0.recv().map_err(|_| {
            anyhow::anyhow!(
                "the store's writer did not answer (closed, or see the log); nothing was stored"
            )
        })?
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

/// Jobs (records, calls) waiting for the writer. The writer takes them at once into its own
/// bounded batch, so this only fills when the writer itself is stuck (an SD card stalled for
/// minutes): records beyond it are dropped and counted, calls refused.
const JOBS: usize = 10_000;

/// The writer thread, when the store records.
struct Running {
    jobs: writer::JobSender,
    thread: Mutex<Option<JoinHandle<()>>>,
}

pub struct Store {
    path: PathBuf,
    /// The writer, or why there is none: the store then records nothing this run.
    writer: Result<Running, Unavailable>,
    health: Arc<Health>,
    pulse: Arc<Pulse>,
    readers: Mutex<Vec<Reader>>,
}

impl Store {
    /// Opens (or creates) the store, upgrades its schema, registers the state's signals and
    /// starts the writer. Any problem is an error: for the tools (`agent export`, benchmarks)
    /// and tests. The running agent uses [`Store::start`].
    pub fn open(settings: &StoreSettings, state: &Arc<State>) -> Result<Arc<Store>> {
        let path = settings.path.clone();
        if path.is_file() {
            let conn = connection::open_read_only(&path)?;
            schema::refuse_newer(&conn, schema::STORE, &describe(&path))?;
        }
        let mut conn = connection::open_rw(&path)?;
        schema::migrate(&mut conn, schema::STORE, &describe(&path))?;
        let ids = samples::register_signals(&mut conn, state)?;
        let samples = crate::state::SampleQueue::new(settings.queue);
        let (jobs, jobs_rx) = writer::jobs(JOBS);
        let health = Arc::new(Health::default());
        let pulse = writer::pulse(settings.flush_interval);
        let writer = Writer::new(
            settings,
            conn,
            ids,
            samples.clone(),
            health.clone(),
            pulse.clone(),
            state.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(jobs_rx))?;
        state.attach_store(samples);
        Ok(Arc::new(Store {
            path,
            writer: Ok(Running {
                jobs,
                thread: Mutex::new(Some(thread)),
            }),
            health,
            pulse,
            readers: Mutex::new(Vec::new()),
        }))
    }

    /// The store of the running agent, which never keeps the agent from starting: a file SQLite
    /// cannot read as a database is moved aside (renamed with the time, logged) and a fresh
    /// one started; a file from a newer agent, or one that cannot be opened (permissions, a
    /// full disk at start), leaves a store that records nothing this run and says why.
    ///
    /// An unavailable store stays so until the agent restarts: everything that restores its
    /// state at start (alarms, tool counters) has started empty, and must not later write
    /// that empty state over what the file holds.
    pub fn start(settings: &StoreSettings, state: &Arc<State>) -> Arc<Store> {
        let path = &settings.path;
        let first = match Store::open(settings, state) {
            Ok(s) => return s,
            Err(e) => e,
        };
        if !aside::is_corrupt(&first) {
            return Store::unavailable(settings, &format!("{first:#}"));
        }
        let moved = match aside::move_aside(path) {
            Ok(to) => to,
            Err(e) => {
                return Store::unavailable(
                    settings,
                    &format!("{first:#}; moving it aside failed too: {e:#}"),
                )
            }
        };
        tracing::error!(
            "store {}: the file is damaged ({first:#}); it was moved aside to {} (kept for \
             inspection) and a fresh store started. History before now is in the old file.",
            path.display(),
            moved.display()
        );
        match Store::open(settings, state) {
            Ok(s) => {
                *lock(&s.health.moved_aside) = Some(moved.display().to_string());
                s
            }
            Err(e) => Store::unavailable(
                settings,
                &format!(
                    "a fresh store could not be started after moving the damaged file to {}: {e:#}",
                    moved.display()
                ),
            ),
        }
    }

    /// A store that records nothing this run, and says `why`.
    fn unavailable(settings: &StoreSettings, why: &str) -> Arc<Store> {
        tracing::error!(
            "store {}: {why}. The agent goes on without it: acquisition, alarms and the page \
             work from live data; nothing is stored and history reads answer 503 until the \
             agent is restarted with a usable store.",
            settings.path.display()
        );
        Arc::new(Store {
            path: settings.path.clone(),
            writer: Err(Unavailable(why.to_string())),
            health: Arc::new(Health::default()),
            pulse: writer::pulse(settings.flush_interval),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the store records nothing this run, if it does not.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.writer.as_ref().err().map(|u| u.0.as_str())
    }

    /// Runs `f` on a read-only handle. Blocking (SQLite): from async code, call it on the
    /// blocking pool. An unavailable store answers [`Unavailable`].
    pub fn read<T>(&self, f: impl FnOnce(&Reader) -> Result<T>) -> Result<T> {
        if let Err(u) = &self.writer {
            return Err(u.clone().into());
        }
        let reader = match lock(&self.readers).pop() {
            Some(r) => r,
            None => Reader {
                conn: connection::open_read_only(&self.path)?,
            },
        };
        let out = f(&reader);
        let mut kept = lock(&self.readers);
        if kept.len() < READERS_KEPT {
            kept.push(reader);
        }
        out
    }

    /// What a part of the agent restores at start (alarms, tool counters): read from the
    /// store, or `None` when the store is unavailable (said in the log, naming `what`). A read
    /// that fails on a working store is an error: starting empty would later overwrite what
    /// the file holds.
    pub fn restore<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Reader) -> Result<T>,
    ) -> Result<Option<T>> {
        if let Some(why) = self.unavailable_reason() {
            tracing::warn!("{what}: nothing restored, the store is unavailable ({why})");
            return Ok(None);
        }
        self.read(f).map(Some)
    }

    /// Queues a record for the writer; never blocks. A record the store cannot take (it is
    /// unavailable, or its writer is stuck) is dropped and counted.
    pub fn record(&self, r: Record) {
        let taken = match &self.writer {
            Ok(w) => w.jobs.try_send(Job::Record(r)).is_ok(),
            Err(_) => false,
        };
        if !taken {
            self.health.dropped_records.fetch_add(1, Ordering::Relaxed);
        }
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
        let w = match &self.writer {
            Ok(w) => w,
            Err(u) => {
                let _ = tx.send(Err(u.clone().into()));
                return Pending(rx);
            }
        };
        let answer = tx.clone();
        let job = Job::Call(Box::new(move |t: Option<&Tx>| -> (bool, writer::Reply) {
            let result = match t {
                Some(t) => f(t),
                None => Err(anyhow::anyhow!(
                    "the store cannot write now (see /healthz and the log); nothing was stored"
                )),
            };
            let ok = result.is_ok();
            let reply: writer::Reply = Box::new(move |committed: Result<()>| {
                let _ = tx.send(committed.and(result));
            });
            (ok, reply)
        }));
        match w.jobs.try_send(job) {
            Ok(()) => {}
            Err(writer::Refused::Full) => {
                let _ = answer.send(Err(anyhow::anyhow!(
                    "the store's writer is behind ({JOBS} jobs waiting; see /healthz); nothing \
                     was stored"
                )));
            }
            // A closed store drops the job, and with it the sender: `wait` says so.
            Err(writer::Refused::Closed) => {}
        }
        Pending(rx)
    }

    /// Waits until everything queued so far is stored, or the writer has tried (a clean
    /// stop, tests).
    pub fn sync(&self) {
        let Ok(w) = &self.writer else { return };
        let (tx, rx) = mpsc::channel();
        if w.jobs.send(Job::Sync(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }

    /// Writes that failed since start (what they held is kept, within bounds, and retried).
    pub fn write_failures(&self) -> u64 {
        self.health.failures.load(Ordering::Relaxed)
    }

    /// The writer's facts now, for `/healthz` and `/metrics`.
    pub fn status(&self) -> StoreStatus {
        self.health.status(self.unavailable_reason())
    }

    /// The writer's heartbeat (`None` when the store is unavailable: there is no writer).
    pub fn pulse(&self) -> Option<&Arc<Pulse>> {
        self.writer.is_ok().then_some(&self.pulse)
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
        let Ok(w) = &self.writer else { return };
        if let Some(h) = lock(&w.thread).take() {
            let _ = w.jobs.send(Job::Stop);
            let _ = h.join();
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
                message_zh,
                value,
                end_ms,
            } => self.update_violation(
                profile,
                rule_id,
                *start_ms,
                (message, message_zh),
                *value,
                *end_ms,
            ),
            Record::ToolUsage { rows, now_ms } => self.save_tool_usage(rows, *now_ms),
            Record::ComponentState { name, json, now_ms } => {
                self.save_component_state(name, json, *now_ms)
            }
            Record::CounterEvent(e) => self.insert_counter_event(e),
            Record::Access(e) => self.insert_access_event(e),
            Record::MonitorEnvelope(e) => self.save_envelope(e),
            Record::MonitorLearning(l) => self.save_learning(l),
            Record::MonitorFinding(f) => self.insert_finding(f),
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
    /// Alarm transitions are committed as they come (the audit trail of what the machine was
    /// told loses nothing to a power cut); everything else waits for the flush interval with
    /// the samples: on a simulator at 60× an operation ends every second, and a commit per
    /// event would wear the card as a commit per second does.
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
            Record::Access(_) => "an access event",
            Record::MonitorEnvelope(_) => "a monitor envelope",
            Record::MonitorLearning(_) => "a monitor envelope being learned",
            Record::MonitorFinding(_) => "a monitor finding",
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
# Tests write rows from 1970 on: retention (which runs at start) must leave them.
retention_days = 100000
operations_retention_days = 100000
parts_retention_days = 100000
violations_retention_days = 100000
alarm_events_retention_days = 100000
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
impl Store {
    /// Runs `f` on the writer's connection at once, outside the batch, and waits for it.
    fn raw(&self, f: impl FnOnce(&Connection) + Send + 'static) {
        let Ok(w) = &self.writer else { return };
        w.jobs.send(Job::Raw(Box::new(f))).unwrap();
        self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Sample;
    use crate::value::Value;
    use std::time::Instant;

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

    fn set_version(path: &Path, v: &str) {
        let conn = Connection::open(path).unwrap();
        conn.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [v],
        )
        .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (store, state, cfg) = test_store("newer");
        store.close();
        set_version(&cfg.store.path, "99");
        let err = Store::open(&cfg.store, &state).err().unwrap().to_string();
        assert!(
            err.contains("schema version") && err.contains("99"),
            "{err}"
        );
    }

    #[test]
    fn a_newer_schema_leaves_a_store_that_records_nothing_and_says_why() {
        let (store, _, cfg) = test_store("newer-start");
        store.close();
        set_version(&cfg.store.path, "99");
        let state = Arc::new(State::new(&cfg));
        let store = Store::start(&cfg.store, &state);
        let why = store.unavailable_reason().unwrap().to_string();
        assert!(
            why.contains("schema version 99") && why.contains("newer"),
            "{why}"
        );
        let status = store.status();
        assert_eq!(status.state, "unavailable");
        assert!(store.pulse().is_none(), "no writer to watch");
        // Every reader is told, with the type the API answers 503 for.
        let err = store.read(|r| r.sample_count()).unwrap_err();
        assert!(err.downcast_ref::<Unavailable>().is_some(), "{err:#}");
        let err = store.call(|_| Ok(())).unwrap_err();
        assert!(err.downcast_ref::<Unavailable>().is_some(), "{err:#}");
        assert_eq!(store.restore("t", |r| r.sample_count()).unwrap(), None);
        // Records are dropped and counted; samples are not even queued.
        store.record(Record::Part(PartRecord::default()));
        assert_eq!(store.status().dropped_records, 1);
        state.update(0, Value::Number(1.0), Instant::now());
        store.sync();
        store.close();
        // The file is untouched: a newer agent still finds its version and its rows.
        let conn = Connection::open(&cfg.store.path).unwrap();
        let v: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(v, "99");
        assert!(aside_files(&cfg.store.path).is_empty());
    }

    /// Files next to `path` that a damaged store was moved to (not their WALs).
    fn aside_files(path: &Path) -> Vec<PathBuf> {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let mut v: Vec<PathBuf> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let f = p.file_name().unwrap().to_string_lossy().to_string();
                f.starts_with(&format!("{name}.corrupt-")) && !f.ends_with("-wal")
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_damaged_file_is_moved_aside_and_a_fresh_store_started() {
        let (store, _, cfg) = test_store("corrupt");
        store.close();
        let path = cfg.store.path.clone();
        // Not a database at all (a file overwritten by something else).
        std::fs::write(
            &path,
            "this is not an SQLite database, but it is long enough ".repeat(200),
        )
        .unwrap();
        let state = Arc::new(State::new(&cfg));
        let store = Store::start(&cfg.store, &state);
        assert_eq!(store.unavailable_reason(), None);
        let aside = aside_files(&path);
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert!(std::fs::read_to_string(&aside[0])
            .unwrap()
            .starts_with("this is not"));
        assert_eq!(
            store.status().moved_aside.as_deref(),
            Some(aside[0].to_str().unwrap())
        );
        state.update(0, Value::Number(4.0), Instant::now());
        store.sync();
        assert_eq!(store.read(|r| r.sample_count()).unwrap(), 1);
        store.close();
        // Every connection closed: the WAL is folded into the file.
        drop(store);

        // A real store whose pages are damaged (its schema unreadable) goes the same way, and
        // never over the first one moved aside.
        let bytes = std::fs::read(&path).unwrap();
        let mut damaged = bytes.clone();
        for b in damaged.iter_mut().skip(100).take(4000) {
            *b = 0xA5;
        }
        std::fs::write(&path, &damaged).unwrap();
        let _ = std::fs::remove_file(path.with_extension("db-wal"));
        let store = Store::start(&cfg.store, &Arc::new(State::new(&cfg)));
        assert_eq!(store.unavailable_reason(), None);
        assert_eq!(aside_files(&path).len(), 2);
        store.close();
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

    #[test]
    fn two_samples_in_one_millisecond_are_both_kept_in_order() {
        let (store, _, _) = test_store("same-ms");
        // Recent: retention (which runs at start) must leave them.
        let t = crate::value::now_ms() - 10_000;
        let sample = move |dt: i64, x| Sample {
            signal: 0,
            ts_ms: t + dt,
            value: Some(Value::Number(x)),
        };
        let ids = store
            .read(|r| {
                Ok(r.conn
                    .query_row("SELECT id FROM signal", [], |r| r.get(0))?)
            })
            .map(|id: i64| vec![id])
            .unwrap();
        let ids2 = ids.clone();
        let shifted = store
            .call(move |tx| tx.insert_samples(&ids2, &[sample(0, 1.0), sample(0, 2.0)]))
            .unwrap();
        assert_eq!(shifted, 1);
        // A later batch meeting both: after them, nothing replaced.
        let shifted = store
            .call(move |tx| tx.insert_samples(&ids, &[sample(0, 3.0), sample(3, 4.0)]))
            .unwrap();
        assert_eq!(shifted, 1);
        let h = store
            .read(|r| r.history("mql.oil_flow", t - 1, t + 10, 100))
            .unwrap();
        let got: Vec<(i64, Option<Value>)> =
            h.into_iter().map(|s| (s.ts_ms - t, s.value)).collect();
        let n = |x| Some(Value::Number(x));
        assert_eq!(
            got,
            vec![(0, n(1.0)), (1, n(2.0)), (2, n(3.0)), (3, n(4.0))]
        );
        store.close();
    }

    /// The writer's connection refuses to grow the file (as a full disk does), or lets it.
    fn disk_full(store: &Store, full: bool) {
        store.raw(move |c| {
            let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
            let max = if full { pages } else { 1 << 30 };
            c.query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))
                .unwrap();
        });
    }

    #[test]
    fn a_full_disk_keeps_a_bounded_batch_and_writing_resumes_when_space_returns() {
        let (_, _, cfg) = test_store("full");
        let settings = StoreSettings {
            queue: 50,
            path: cfg.store.path.with_file_name("full.db"),
            ..cfg.store.clone()
        };
        let state = Arc::new(State::new(&cfg));
        let store = Store::open(&settings, &state).unwrap();
        state.update(0, Value::Number(-1.0), Instant::now());
        store.sync();
        assert!(store.status().last_commit_ms.is_some());
        disk_full(&store, true);
        // An operation far larger than the free space in the file's pages: the batch fails.
        let big = OperationRecord {
            start_ms: 1,
            end_ms: 2,
            program: Some("O".repeat(200_000)),
            ..OperationRecord::default()
        };
        store.record(Record::Operation(Box::new(big)));
        for i in 0..300 {
            state.update(0, Value::Number(f64::from(i)), Instant::now());
            // A component's state and a tool's usage every "second": coalesced while waiting.
            store.record(Record::ComponentState {
                name: "c".into(),
                json: format!("{{\"i\":{i}}}"),
                now_ms: i64::from(i),
            });
            store.record(Record::ToolUsage {
                rows: vec![ToolUsage {
                    tool_id: "T1".into(),
                    counters: crate::records::tool::Counters {
                        cuts: i as u64,
                        ..Default::default()
                    },
                    model_state: None,
                    prediction: None,
                }],
                now_ms: i64::from(i),
            });
            if i % 50 == 0 {
                store.sync();
            }
        }
        store.sync();
        let s = store.status();
        assert_eq!(s.state, "failing", "{s:?}");
        assert!(s.reason.as_deref().unwrap().contains("full"), "{s:?}");
        assert!(s.write_failures >= 1);
        assert!(s.backlog_samples <= 50, "bounded by the queue: {s:?}");
        assert_eq!(s.backlog_records, 3, "coalesced: {s:?}");
        assert!(
            state.dropped_samples() >= 250,
            "{}",
            state.dropped_samples()
        );
        let err = store.call(|_| Ok(())).unwrap_err().to_string();
        assert!(err.contains("cannot write now"), "{err}");

        disk_full(&store, false);
        let start = Instant::now();
        while store.status().state != "ok" {
            assert!(start.elapsed() < Duration::from_secs(30), "never recovered");
            store.sync();
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = store.status();
        assert_eq!((s.backlog_samples, s.backlog_records), (0, 0));
        store
            .read(|r| {
                // The newest samples are the ones kept; the big operation, the latest
                // component state and tool usage are stored.
                let h = r.history("mql.oil_flow", 0, i64::MAX, 1000)?;
                assert_eq!(h.last().unwrap().value, Some(Value::Number(299.0)));
                assert_eq!(r.operations(0, 10, 10)?.len(), 1);
                assert_eq!(r.component_state("c")?.as_deref(), Some("{\"i\":299}"));
                assert_eq!(r.tool_usage()?[0].counters.cuts, 299);
                Ok(())
            })
            .unwrap();
        store.close();
    }

    #[test]
    fn a_panic_in_the_writer_is_caught_and_the_writer_goes_on() {
        let (store, state, _) = test_store("panic");
        let err = store
            .call(|_| -> Result<()> { panic!("a repository bug") })
            .unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err:#}");
        // The caller hears of it while the writer unwinds; the writer has counted it by the
        // time it takes the next job.
        store.sync();
        assert_eq!(store.pulse().unwrap().panics(), 1);
        state.update(0, Value::Number(7.0), Instant::now());
        store.sync();
        assert_eq!(store.read(|r| r.sample_count()).unwrap(), 1);
        assert_eq!(store.call(|_| Ok(5)).unwrap(), 5);
        store.close();
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
        let settings = StoreSettings {
            path: path.clone(),
            ..cfg.store.clone()
        };
        let store = Store::open(&settings, &Arc::new(State::new(&cfg))).unwrap();
        store
            .read(|r| {
                let ops = r.operations(0, i64::MAX, 1000)?;
                assert_eq!(ops.len(), 37);
                assert!(ops.iter().all(|o| o.record.speed_mean_rpm.is_some()));
                assert_eq!(r.parts(0, i64::MAX, 1000)?.len(), 13);
                let usage = r.tool_usage()?;
                assert_eq!(usage.len(), 4);
                assert!(usage.iter().any(|u| u.prediction.is_some()));
                let changes = r.recent_tool_changes(10)?;
                assert_eq!(changes.len(), 1);
                assert_eq!(
                    changes[0].reason,
                    crate::records::tool::ChangeReason::WornOut
                );
                // Rows from before migration 11 have no Chinese: null, never made up.
                let current = r.current_alarms()?;
                assert_eq!(current.len(), 3);
                assert!(current
                    .iter()
                    .all(|(_, c)| c.message_zh.is_none() && c.source_zh.is_none()));
                assert_eq!(r.alarm_event_count()?, 8);
                let history = r.alarm_history(&audit::HistoryFilter {
                    to_ms: i64::MAX,
                    limit: 100,
                    ..Default::default()
                })?;
                assert_eq!(history.len(), 8);
                assert!(history.iter().all(|h| h.transition.message_zh.is_none()
                    && h.transition.cause_zh.is_none()
                    && h.transition.source_zh.is_none()
                    && !h.transition.message.is_empty()));
                let json = serde_json::to_value(&history[0]).unwrap();
                assert_eq!(json["message_zh"], serde_json::Value::Null);
                assert_eq!(r.component_resets()?.len(), 1);
                assert!(r.component_state("service-history")?.is_some());
                assert!(r.sample_count()? > 0);
                assert_eq!(r.lifetimes()?.len(), 1);
                Ok(())
            })
            .unwrap();
        // And it takes new rows: a wear measured during T9's life, closed by T9's change.
        let wear = crate::records::tool::WearMeasurement {
            id: 0,
            tool_id: "T9".into(),
            ts_ms: 1,
            measured_vb_mm: 0.12,
            by: "test".into(),
            counters: Default::default(),
            check: None,
        };
        let wear_id = store
            .call(move |tx| tx.insert_wear_measurement(&wear))
            .unwrap();
        let in_service = store.read(|r| r.wear_measurements("T9", None)).unwrap();
        assert_eq!(
            (
                in_service.len(),
                in_service[0].id,
                in_service[0].measured_vb_mm
            ),
            (1, wear_id, 0.12)
        );
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
        assert!(
            store
                .read(|r| r.wear_measurements("T9", None))
                .unwrap()
                .is_empty(),
            "the change ends the life the measurement belongs to"
        );
        store.close();
    }
}
