//! The MQTT outbox's file: messages the broker has not acknowledged, spilled from memory while
//! it is slow or away, with the sequence's epoch and reservation and the tailing producers'
//! cursors (`meta`). A file of its own beside the store (`[mqtt] outbox_path`); the fleet
//! publisher's `fleet/outbox.rs` decides what goes here and when. Every call here is made on
//! the outbox's own thread (`fleet/outbox_thread.rs`), never on the async runtime.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

use super::{connection, schema};

/// A message as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub pos: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    /// What it counts against the file's budget.
    pub bytes: u64,
    /// The producer position this message carries (table, row id).
    pub cursor: Option<(String, i64)>,
}

pub struct OutboxFile {
    conn: Connection,
}

/// What a file holds at open: its totals and its sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub rows: u64,
    pub bytes: u64,
    pub max_pos: Option<u64>,
    /// The sequence's epoch, if the file has one (files before epochs have none).
    pub epoch: Option<u64>,
    /// Numbers below this may have been handed out (the durable reservation).
    pub seq_reserved: Option<u64>,
    /// Where the sequence stood at a clean stop (absent after a crash).
    pub seq_next: Option<u64>,
    /// Where each table-tailing producer left off (name, row id).
    pub cursors: std::collections::BTreeMap<String, i64>,
}

impl OutboxFile {
    /// Opens (or creates) the file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<OutboxFile> {
        let mut conn = connection::open_rw(path)?;
        // The outbox is written only while the broker is away, in one transaction per tick;
        // what a power cut loses of it the broker never had, and `seq` shows the gap. The
        // sequence's reservation is the exception: it is committed with `synchronous = FULL`
        // (see `reserve`).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(
            &mut conn,
            schema::OUTBOX,
            &format!("mqtt outbox {}", path.display()),
        )?;
        Ok(OutboxFile { conn })
    }

    /// Opens the file and reads everything the outbox needs from it, checking the file's
    /// integrity on the way: a file that fails any of it is unusable as a whole (a count that
    /// cannot be read would restart positions and the sequence at 1).
    pub fn open_checked(path: &Path) -> Result<(OutboxFile, Opened)> {
        let f = OutboxFile::open(path)?;
        let check: String = f
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .context("integrity check")?;
        anyhow::ensure!(check == "ok", "integrity check: {check}");
        let (rows, bytes, max_pos) = f.totals().context("counting the messages")?;
        let meta = |k: &str| -> Result<Option<u64>> {
            Ok(f.meta(k)
                .with_context(|| format!("reading {k}"))?
                .map(|v| v as u64))
        };
        let opened = Opened {
            rows,
            bytes,
            max_pos,
            epoch: meta("epoch")?,
            seq_reserved: meta("seq_reserved")?,
            seq_next: meta("seq_next")?,
            cursors: f.cursors().context("reading the cursors")?,
        };
        Ok((f, opened))
    }

    /// Makes numbers below `reserved` of `epoch` usable: stores the epoch and the reservation
    /// and forgets a clean stop's `seq_next`, in one transaction that reaches the card before
    /// this returns (`synchronous = FULL` for it), so that after any crash or power cut the
    /// sequence resumes at or above `reserved`, never below a number already handed out.
    pub fn reserve(&self, epoch: u64, reserved: u64) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let done = (|| -> Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            set_meta(&tx, "epoch", epoch as i64)?;
            set_meta(&tx, "seq_reserved", reserved as i64)?;
            tx.execute("DELETE FROM meta WHERE key = 'seq_next'", [])?;
            tx.commit()?;
            Ok(())
        })();
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        done
    }

    /// A test's way to break the file while it stays valid SQLite: the messages' table goes.
    #[cfg(test)]
    pub(crate) fn lose_messages_table(&self) {
        self.conn
            .execute_batch("ALTER TABLE outbox RENAME TO broken")
            .unwrap();
    }

    /// A test's way to make every later write fail, as a full or failing card does.
    #[cfg(test)]
    pub(crate) fn fail_writes(&self) {
        self.conn.pragma_update(None, "query_only", true).unwrap();
    }

    /// Messages on disk, their bytes, and the highest position.
    pub fn totals(&self) -> Result<(u64, u64, Option<u64>)> {
        Ok(self.conn.query_row(
            "SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes, max(pos) AS pos FROM outbox",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>("n")? as u64,
                    r.get::<_, i64>("bytes")? as u64,
                    r.get::<_, Option<i64>>("pos")?.map(|p| p as u64),
                ))
            },
        )?)
    }

    pub fn meta(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                r.get("value")
            })
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: i64) -> Result<()> {
        set_meta(&self.conn, key, value)
    }

    /// Up to `n` messages after position `after`, in order.
    pub fn after(&self, after: u64, n: usize) -> Result<Vec<StoredMessage>> {
        let mut st = self.conn.prepare_cached(
            "SELECT pos, topic, payload, retain, bytes, cursor, cursor_id FROM outbox
             WHERE pos > ?1 ORDER BY pos LIMIT ?2",
        )?;
        let rows = st.query_map(params![after as i64, n as i64], |r| {
            let cursor: Option<String> = r.get("cursor")?;
            let cursor_id: Option<i64> = r.get("cursor_id")?;
            Ok(StoredMessage {
                pos: r.get::<_, i64>("pos")? as u64,
                topic: r.get("topic")?,
                payload: r.get("payload")?,
                retain: r.get("retain")?,
                bytes: r.get::<_, i64>("bytes")? as u64,
                cursor: cursor.zip(cursor_id),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes everything up to and including `pos`; returns the rows and bytes removed.
    pub fn delete_through(&self, pos: u64) -> Result<(u64, u64)> {
        let tx = self.conn.unchecked_transaction()?;
        let (rows, bytes) = tx.query_row(
            "SELECT count(*) AS n, coalesce(sum(bytes), 0) AS bytes FROM outbox WHERE pos <= ?1",
            [pos as i64],
            |r| {
                Ok((
                    r.get::<_, i64>("n")? as u64,
                    r.get::<_, i64>("bytes")? as u64,
                ))
            },
        )?;
        tx.execute("DELETE FROM outbox WHERE pos <= ?1", [pos as i64])?;
        tx.commit()?;
        Ok((rows, bytes))
    }

    /// Writes a batch of messages and the cursors now safe, in one transaction. A retained
    /// message supersedes an older one of its topic still waiting (only the latest state
    /// matters). Returns the change in rows and bytes on disk.
    pub fn spill(&self, batch: &[StoredMessage], cursors: &[(String, i64)]) -> Result<(i64, i64)> {
        let tx = self.conn.unchecked_transaction()?;
        let (mut rows, mut bytes) = (0i64, 0i64);
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO outbox (pos, topic, payload, retain, bytes, cursor, cursor_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut sup = tx.prepare_cached(
                "DELETE FROM outbox WHERE topic = ?1 AND retain = 1 RETURNING bytes",
            )?;
            for m in batch {
                if m.retain {
                    let gone: Vec<i64> = sup
                        .query_map([&m.topic], |r| r.get("bytes"))?
                        .collect::<rusqlite::Result<_>>()?;
                    rows -= gone.len() as i64;
                    bytes -= gone.iter().sum::<i64>();
                }
                let (c, id) = m.cursor.clone().unzip();
                ins.execute(params![
                    m.pos as i64,
                    m.topic,
                    m.payload,
                    m.retain,
                    m.bytes as i64,
                    c,
                    id
                ])?;
                rows += 1;
                bytes += m.bytes as i64;
            }
            for (name, id) in batch
                .iter()
                .filter_map(|m| m.cursor.as_ref())
                .chain(cursors.iter())
            {
                set_meta(&tx, &cursor_key(name), *id)?;
            }
        }
        tx.commit()?;
        Ok((rows, bytes))
    }

    /// Removes the oldest messages until their bytes cover `over`; returns the rows and bytes
    /// removed.
    pub fn trim_oldest(&self, over: u64) -> Result<(u64, u64)> {
        // Walk the oldest rows in pages until their bytes cover the excess, then cut there.
        let (mut rows, mut bytes, mut last) = (0u64, 0u64, 0i64);
        let mut st = self.conn.prepare_cached(
            "SELECT pos, bytes FROM outbox WHERE pos > ?1 ORDER BY pos LIMIT 512",
        )?;
        'pages: loop {
            let page: Vec<(i64, i64)> = st
                .query_map([last], |r| Ok((r.get("pos")?, r.get("bytes")?)))?
                .collect::<rusqlite::Result<_>>()?;
            if page.is_empty() {
                break;
            }
            for (pos, b) in page {
                last = pos;
                rows += 1;
                bytes += b as u64;
                if bytes >= over {
                    break 'pages;
                }
            }
        }
        self.conn
            .execute("DELETE FROM outbox WHERE pos <= ?1", [last])?;
        Ok((rows, bytes))
    }

    /// Where each table-tailing producer left off.
    pub fn cursors(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM meta WHERE key LIKE 'cursor:%'")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>("key")?, r.get("value")?)))?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (key, id) = row?;
            out.insert(key.trim_start_matches("cursor:").to_string(), id);
        }
        Ok(out)
    }

    /// Rows on disk now (tests).
    pub fn count(&self) -> Result<u64> {
        Ok(self.totals()?.0)
    }
}

/// Moves an unusable outbox file (with its WAL and shared-memory files) aside, to
/// `<file>.unusable-<unix ms>`, so that a new one can start and the old one can still be
/// looked at. Returns where it went.
pub fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    let aside = with(&format!(".unusable-{stamp}"));
    for extra in ["-wal", "-shm"] {
        let from = with(extra);
        if from.exists() {
            let mut to = aside.as_os_str().to_owned();
            to.push(extra);
            std::fs::rename(&from, PathBuf::from(to))
                .with_context(|| format!("moving {} aside", from.display()))?;
        }
    }
    if path.exists() {
        std::fs::rename(path, &aside)
            .with_context(|| format!("moving {} aside to {}", path.display(), aside.display()))?;
    }
    Ok(aside)
}

fn cursor_key(name: &str) -> String {
    format!("cursor:{name}")
}

fn set_meta(db: &Connection, key: &str, value: i64) -> Result<()> {
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}
