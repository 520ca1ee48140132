//! The durable store: SQLite in WAL mode, written by one thread in batches.
//!
//! SD cards wear out by writes, so samples are never written one by one: the state queues
//! changes (not every poll), and the writer commits them in one transaction per
//! `flush_interval`. WAL with `synchronous = NORMAL` means a crash or `kill -9` loses at most the
//! batch being written and never corrupts the file; committed rows stay.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use crate::config::StoreSettings;
use crate::state::{Sample, State};
use crate::value::{now_ms, Value};

/// Bumped when the schema changes; an older agent refuses a newer file rather than damaging it.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signal (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL,
    unit TEXT NOT NULL
);
-- One row per stored change. num holds numbers and bools (0/1), txt holds text; both NULL marks
-- the moment the signal became unavailable. The primary key serves both history reads and the
-- per-signal retention delete, so no second index costs writes.
CREATE TABLE IF NOT EXISTS sample (
    signal_id INTEGER NOT NULL REFERENCES signal(id),
    ts_ms INTEGER NOT NULL,
    num REAL,
    txt TEXT,
    PRIMARY KEY (signal_id, ts_ms)
) WITHOUT ROWID;
";

/// A stored sample, as the history API returns it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredSample {
    pub ts_ms: i64,
    pub value: Option<Value>,
}

pub struct Store {
    path: PathBuf,
    reader: Mutex<Connection>,
    stop: Arc<AtomicBool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Store {
    /// Opens (or creates) the store, registers the state's signals and starts the writer.
    pub fn open(settings: &StoreSettings, state: &Arc<State>) -> Result<Arc<Store>> {
        if let Some(dir) = settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating store directory {}", dir.display()))?;
        }
        let mut conn = open_rw(&settings.path)?;
        let ids = register_signals(&mut conn, state)?;
        let (tx, rx) = sync_channel(settings.queue);
        state.attach_store(tx);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            conn,
            ids,
            flush_interval: settings.flush_interval,
            retention: settings.retention,
            stop: stop.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(rx))?;
        let reader = open_read_only(&settings.path)?;
        Ok(Arc::new(Store {
            path: settings.path.clone(),
            reader: Mutex::new(reader),
            stop,
            writer: Mutex::new(Some(handle)),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stored samples of one signal between two times (ms since the Unix epoch), oldest first.
    pub fn history(
        &self,
        signal: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredSample>> {
        let conn = self.reader.lock().unwrap();
        let mut stmt = conn.prepare_cached(
            "SELECT s.ts_ms, s.num, s.txt, g.unit FROM sample s JOIN signal g ON g.id = s.signal_id
             WHERE g.name = ?1 AND s.ts_ms >= ?2 AND s.ts_ms <= ?3 ORDER BY s.ts_ms LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![signal, from_ms, to_ms, limit as i64], |r| {
            let num: Option<f64> = r.get(1)?;
            let txt: Option<String> = r.get(2)?;
            Ok(StoredSample {
                ts_ms: r.get(0)?,
                value: txt.map(Value::Text).or(num.map(Value::Number)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rows in the sample table and the size of the database file with its WAL, for metrics.
    pub fn stats(&self) -> Result<(u64, u64)> {
        let conn = self.reader.lock().unwrap();
        let rows: i64 = conn.query_row("SELECT count(*) FROM sample", [], |r| r.get(0))?;
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok((rows as u64, size(self.path.clone()) + size(wal.into())))
    }

    /// Flushes what is queued and stops the writer.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.writer.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}

fn open_rw(path: &Path) -> Result<Connection> {
    let conn =
        Connection::open(path).with_context(|| format!("opening store {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // auto_vacuum only takes effect on a new file; it lets retention give pages back.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "store {}: WAL mode unavailable ({mode})",
        path.display()
    );
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .ok();
    match version.as_deref().map(str::parse::<i64>) {
        None => {
            conn.execute(
                "INSERT INTO meta VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(Ok(SCHEMA_VERSION)) => {}
        Some(v) => anyhow::bail!(
            "store {} has schema version {v:?}; this agent reads version {SCHEMA_VERSION}",
            path.display()
        ),
    }
    Ok(conn)
}

/// Gives every signal of the state its row id in the store (names are the stable key across
/// restarts and configuration changes).
fn register_signals(conn: &mut Connection, state: &State) -> Result<Vec<i64>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::new();
    for s in state.signals() {
        let device = &state.devices()[s.device].name;
        tx.execute(
            "INSERT INTO signal (name, device, unit) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET device = excluded.device, unit = excluded.unit",
            params![s.name, device, s.unit],
        )?;
        ids.push(
            tx.query_row("SELECT id FROM signal WHERE name = ?1", [&s.name], |r| {
                r.get(0)
            })?,
        );
    }
    tx.commit()?;
    Ok(ids)
}

struct Writer {
    conn: Connection,
    ids: Vec<i64>,
    flush_interval: Duration,
    retention: Duration,
    stop: Arc<AtomicBool>,
}

const RETENTION_EVERY: Duration = Duration::from_secs(3600);

impl Writer {
    fn run(mut self, rx: Receiver<Sample>) {
        let mut batch = Vec::new();
        let mut next_flush = Instant::now() + self.flush_interval;
        let mut next_retention = Instant::now();
        loop {
            let wait = next_flush
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match rx.recv_timeout(wait) {
                Ok(s) => batch.push(s),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let stopping = self.stop.load(Ordering::Relaxed);
            if Instant::now() >= next_flush || stopping {
                batch.extend(rx.try_iter());
                if let Err(e) = self.write(&batch) {
                    // The batch is kept and retried: a full disk or a locked file must not
                    // silently lose data the API has already shown.
                    tracing::error!("store: writing {} samples failed: {e:#}", batch.len());
                } else {
                    batch.clear();
                }
                next_flush = Instant::now() + self.flush_interval;
            }
            if Instant::now() >= next_retention {
                if let Err(e) = self.apply_retention() {
                    tracing::warn!("store: retention failed: {e:#}");
                }
                next_retention = Instant::now() + RETENTION_EVERY;
            }
            if stopping {
                break;
            }
        }
    }

    fn write(&mut self, batch: &[Sample]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO sample (signal_id, ts_ms, num, txt) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in batch {
                let (num, txt) = match &s.value {
                    None => (None, None),
                    Some(Value::Text(t)) => (None, Some(t.as_str())),
                    Some(v) => (v.as_f64(), None),
                };
                stmt.execute(params![self.ids[s.signal], s.ts_ms, num, txt])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn apply_retention(&mut self) -> Result<()> {
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        let mut deleted = 0;
        for id in &self.ids {
            deleted += self.conn.execute(
                "DELETE FROM sample WHERE signal_id = ?1 AND ts_ms < ?2",
                params![id, cutoff],
            )?;
        }
        if deleted > 0 {
            self.conn.execute_batch("PRAGMA incremental_vacuum;")?;
            tracing::info!("store: retention removed {deleted} samples");
        }
        Ok(())
    }
}

/// A read-only connection to a store file, for readers beside the writer (API, fleet tailing,
/// exports): WAL lets them read a consistent snapshot without ever blocking the writer.
pub fn open_read_only(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn config(dir: &Path) -> crate::config::Config {
        let src = format!(
            r#"
[store]
path = "{}/t.db"
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
        crate::config::parse(Path::new("t.toml"), &src).unwrap()
    }

    #[test]
    fn samples_are_batched_to_disk_and_read_back() {
        let dir = tempdir();
        let cfg = config(&dir);
        let state = Arc::new(State::new(&cfg));
        let store = Store::open(&cfg.store, &state).unwrap();
        for x in 0..10 {
            state.update(0, Value::Number(f64::from(x)), Instant::now());
            std::thread::sleep(Duration::from_millis(2));
        }
        state.fail(0, "gone");
        store.close();
        let h = store.history("mql.oil_flow", 0, i64::MAX, 100).unwrap();
        assert_eq!(h.len(), 11);
        assert_eq!(h[3].value, Some(Value::Number(3.0)));
        assert_eq!(h[10].value, None);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempdir();
        let cfg = config(&dir);
        let conn = Connection::open(&cfg.store.path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')", [])
            .unwrap();
        drop(conn);
        let state = Arc::new(State::new(&cfg));
        let err = Store::open(&cfg.store, &state).err().unwrap().to_string();
        assert!(
            err.contains("schema version") && err.contains("99"),
            "{err}"
        );
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "agent-store-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
