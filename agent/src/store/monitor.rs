//! Process monitoring (`monitor_envelope`, `monitor_learning`, `monitor_finding`): the envelope
//! that judges each program's operation, restored at start so that a restart does not learn
//! again; the cycles an envelope is still being learned from, so that a restart goes on from
//! them; and the detectors' findings with their evidence, on the operation they were found in.

use anyhow::{anyhow, Result};
use rusqlite::{params, Row};

use super::{Reader, Tx};
use crate::records::monitor::{Envelope, Finding, FindingKind, Learning, OperationKey};

impl Tx<'_> {
    pub(super) fn save_envelope(&self, e: &Envelope) -> Result<()> {
        self.0.execute(
            "INSERT INTO monitor_envelope (program, operation, tool_id, signal, learned_ms, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (program, operation) DO UPDATE SET tool_id = ?3, signal = ?4,
                 learned_ms = ?5, envelope = ?6",
            params![
                e.key.program,
                e.key.operation,
                e.tool_id,
                e.signal,
                e.learned_ms,
                serde_json::to_string(e)?
            ],
        )?;
        // Learned: what it was learned from is done with.
        self.0.execute(
            "DELETE FROM monitor_learning WHERE program = ?1 AND operation = ?2",
            params![e.key.program, e.key.operation],
        )?;
        Ok(())
    }

    pub(super) fn save_learning(&self, l: &Learning) -> Result<()> {
        if l.cycles.is_empty() {
            self.0.execute(
                "DELETE FROM monitor_learning WHERE program = ?1 AND operation = ?2",
                params![l.key.program, l.key.operation],
            )?;
            return Ok(());
        }
        self.0.execute(
            "INSERT INTO monitor_learning (program, operation, tool_id, signal, updated_ms, learning)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (program, operation) DO UPDATE SET tool_id = ?3, signal = ?4,
                 updated_ms = ?5, learning = ?6",
            params![
                l.key.program,
                l.key.operation,
                l.tool_id,
                l.signal,
                l.updated_ms,
                serde_json::to_string(l)?
            ],
        )?;
        Ok(())
    }

    pub(super) fn insert_finding(&self, f: &Finding) -> Result<()> {
        self.0.execute(
            "INSERT INTO monitor_finding (ts_ms, program, operation, tool_id, operation_start_ms,
                 kind, time_into_s, position, signal, measured, expected, lower, upper, message,
                 message_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                f.ts_ms,
                f.key.program,
                f.key.operation,
                f.tool_id,
                f.operation_start_ms,
                f.kind.as_str(),
                f.time_into_s,
                f.position,
                f.signal,
                f.measured,
                f.expected,
                f.lower,
                f.upper,
                f.message,
                f.message_zh
            ],
        )?;
        Ok(())
    }
}

fn finding(r: &Row) -> rusqlite::Result<Finding> {
    let kind: String = r.get("kind")?;
    Ok(Finding {
        ts_ms: r.get("ts_ms")?,
        key: OperationKey {
            program: r.get("program")?,
            operation: r.get("operation")?,
        },
        tool_id: r.get("tool_id")?,
        operation_start_ms: r.get("operation_start_ms")?,
        kind: FindingKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                anyhow!("monitor finding kind `{kind}`").into(),
            )
        })?,
        time_into_s: r.get("time_into_s")?,
        position: r.get("position")?,
        signal: r.get("signal")?,
        measured: r.get("measured")?,
        expected: r.get("expected")?,
        lower: r.get("lower")?,
        upper: r.get("upper")?,
        message: r.get("message")?,
        message_zh: r.get("message_zh")?,
    })
}

impl Reader {
    /// The envelopes that judge, at most `limit` (the newest learned first). One that does not
    /// parse (written by a future agent's wider schema) is skipped and learned again.
    pub fn envelopes(&self, limit: usize) -> Result<Vec<Envelope>> {
        let mut stmt = self
            .conn
            .prepare("SELECT envelope FROM monitor_envelope ORDER BY learned_ms DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            match serde_json::from_str::<Envelope>(&json?) {
                Ok(e) => out.push(e),
                Err(e) => {
                    tracing::warn!("monitor: an envelope that does not parse is learned again: {e}")
                }
            }
        }
        Ok(out)
    }

    /// The envelopes being learned, at most `limit` (the newest first); one that does not parse
    /// is skipped and learned again.
    pub fn monitor_learnings(&self, limit: usize) -> Result<Vec<Learning>> {
        let mut stmt = self
            .conn
            .prepare("SELECT learning FROM monitor_learning ORDER BY updated_ms DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            match serde_json::from_str::<Learning>(&json?) {
                Ok(l) => out.push(l),
                Err(e) => tracing::warn!(
                    "monitor: a stored learning that does not parse is learned again: {e}"
                ),
            }
        }
        Ok(out)
    }

    /// Findings from `from_ms` to `to_ms`, newest first, at most `limit`.
    pub fn monitor_findings(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<Finding>> {
        let mut stmt = self.conn.prepare(
            "SELECT * FROM monitor_finding WHERE ts_ms >= ?1 AND ts_ms <= ?2
             ORDER BY ts_ms DESC, id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![from_ms, to_ms, limit as i64], finding)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::monitor::Bin;
    use crate::store::Record;

    fn envelope(tool: &str, learned_ms: i64) -> Envelope {
        Envelope {
            key: OperationKey {
                program: "O1".into(),
                operation: "OP10".into(),
            },
            tool_id: Some(tool.into()),
            signal: "spindle.load".into(),
            cycles: 3,
            path_mm: 600.0,
            mean: 20.0,
            bins: vec![
                Bin {
                    mean: 20.0,
                    min: 18.0,
                    max: 22.0,
                    scatter: 0.5,
                    feed_mm_min: 1000.0,
                };
                5
            ],
            learned_ms,
        }
    }

    #[test]
    fn an_envelope_replaces_its_operations_and_findings_read_back() {
        let (store, _state, _cfg) = crate::store::test_store("monitor");
        store.record(Record::MonitorEnvelope(Box::new(envelope("T1-0001", 1))));
        store.record(Record::MonitorEnvelope(Box::new(envelope("T1-0002", 2))));
        store.record(Record::MonitorFinding(Box::new(Finding {
            ts_ms: 10,
            key: envelope("T", 0).key,
            tool_id: Some("T1-0002".into()),
            operation_start_ms: 5,
            kind: FindingKind::Breakage,
            time_into_s: 1.5,
            position: 0.4,
            signal: "spindle.load".into(),
            measured: 4.0,
            expected: 20.0,
            lower: 16.0,
            upper: 24.0,
            message: "m".into(),
            message_zh: Some("断刀".into()),
        })));
        store.sync();
        let envs = store.read(|r| r.envelopes(10)).unwrap();
        assert_eq!(envs.len(), 1, "one per program and operation");
        assert_eq!(envs[0], envelope("T1-0002", 2));
        let f = store.read(|r| r.monitor_findings(0, 100, 10)).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::Breakage);
        assert_eq!(f[0].operation_start_ms, 5);
        assert_eq!(f[0].message_zh.as_deref(), Some("断刀"));
        store.close();
    }
}
