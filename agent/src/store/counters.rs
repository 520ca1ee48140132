//! Counter events (`counter_event`): the steps of a counter signal that the plausibility guards
//! refused to count (a jump beyond the signal's physics, a counter gone back), the audit trail
//! a maintenance person reads to know why a usage figure is what it is.

use anyhow::{anyhow, Result};
use rusqlite::{params, OptionalExtension, Row};

use super::{Reader, Tx};
use crate::records::counter::{CounterEvent, CounterEventKind};

impl Tx<'_> {
    pub(super) fn insert_counter_event(&self, e: &CounterEvent) -> Result<()> {
        self.0.execute(
            "INSERT INTO counter_event
                 (ts_ms, counter, signal, kind, from_value, to_value, max_step, used, message,
                  message_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                e.ts_ms,
                e.counter,
                e.signal,
                e.kind.as_str(),
                e.from_value,
                e.to_value,
                e.max_step,
                e.used,
                e.message,
                e.message_zh
            ],
        )?;
        Ok(())
    }
}

const COLUMNS: &str =
    "ts_ms, counter, signal, kind, from_value, to_value, max_step, used, message, message_zh";

fn event(r: &Row) -> rusqlite::Result<CounterEvent> {
    let kind: String = r.get("kind")?;
    Ok(CounterEvent {
        ts_ms: r.get("ts_ms")?,
        counter: r.get("counter")?,
        signal: r.get("signal")?,
        kind: CounterEventKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                anyhow!("counter event kind `{kind}`").into(),
            )
        })?,
        from_value: r.get("from_value")?,
        to_value: r.get("to_value")?,
        max_step: r.get("max_step")?,
        used: r.get("used")?,
        message: r.get("message")?,
        message_zh: r.get("message_zh")?,
    })
}

impl Reader {
    /// The latest event of one counter (`component:<name>`: where its life used counts on
    /// from after a restart).
    pub fn last_counter_event(&self, counter: &str) -> Result<Option<CounterEvent>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM counter_event WHERE counter = ?1 ORDER BY id DESC LIMIT 1"
                ),
                [counter],
                event,
            )
            .optional()?)
    }

    /// Events from `from_ms` to `to_ms`, newest first, at most `limit`.
    pub fn counter_events(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<CounterEvent>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM counter_event WHERE ts_ms >= ?1 AND ts_ms <= ?2
             ORDER BY ts_ms DESC, id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![from_ms, to_ms, limit as i64], event)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
