//! Access events (`access_event`): wrong tokens at the HTTP server, the audit trail behind the
//! login back-off.

use anyhow::Result;
use rusqlite::{params, Row};

use super::{Reader, Tx};
use crate::records::access::AccessEvent;

impl Tx<'_> {
    pub(super) fn insert_access_event(&self, e: &AccessEvent) -> Result<()> {
        self.0.execute(
            "INSERT INTO access_event (ts_ms, peer, via, name, count, locked_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![e.ts_ms, e.peer, e.via, e.name, e.count, e.locked_s as i64],
        )?;
        Ok(())
    }
}

fn event(r: &Row) -> rusqlite::Result<AccessEvent> {
    Ok(AccessEvent {
        ts_ms: r.get("ts_ms")?,
        peer: r.get("peer")?,
        via: r.get("via")?,
        name: r.get("name")?,
        count: r.get("count")?,
        locked_s: r.get::<_, i64>("locked_s")?.max(0) as u64,
    })
}

impl Reader {
    /// Events from `from_ms` to `to_ms`, newest first, at most `limit`.
    pub fn access_events(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<AccessEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT ts_ms, peer, via, name, count, locked_s FROM access_event
             WHERE ts_ms >= ?1 AND ts_ms <= ?2 ORDER BY ts_ms DESC, id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![from_ms, to_ms, limit as i64], event)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
