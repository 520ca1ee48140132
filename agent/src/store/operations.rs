//! Operations, parts and violation episodes: the green-cutting evaluator's records. Few rows
//! (one per operation, part or episode); operations and parts are stored as JSON of their
//! record type (one schema, in Rust), episodes column by column.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{Reader, Tx};
use crate::condition::Severity;
use crate::records::operation::{OperationRecord, PartRecord, Violation};

/// An operation with the violations that overlapped it.
#[derive(Debug, Clone, Serialize)]
pub struct OperationView {
    pub id: i64,
    #[serde(flatten)]
    pub record: OperationRecord,
    pub duration_s: f64,
    pub oil_ml_per_h: Option<f64>,
    /// `compliant_s / judged_s`: of the cutting a profile judged, the compliant share; `null`
    /// when none of it was judged.
    pub compliant_share: Option<f64>,
    pub violations: Vec<Violation>,
}

/// Totals over a time window.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub from_ms: i64,
    pub to_ms: i64,
    pub operations: u64,
    pub parts: u64,
    pub cutting_s: f64,
    /// Cutting a standards profile judged, and what was not judged (cooling mode unknown, no
    /// profile for it, or a monitored rule without data): never counted as a pass.
    pub judged_s: f64,
    pub not_judged_s: f64,
    pub compliant_s: f64,
    /// `compliant_s / judged_s`; `null` when nothing was judged.
    pub compliant_share: Option<f64>,
    pub energy_kwh: f64,
    pub oil_ml: f64,
    pub oil_ml_per_h: Option<f64>,
    pub energy_kwh_per_part: Option<f64>,
    pub oil_ml_per_part: Option<f64>,
    /// Cutting seconds per cooling mode.
    pub cutting_s_by_cooling: BTreeMap<String, f64>,
    pub violations: Vec<Violation>,
}

fn json<T: serde::de::DeserializeOwned>(what: &str, id: i64, text: &str) -> Result<T> {
    serde_json::from_str(text).with_context(|| format!("{what} {id}: stored record unreadable"))
}

fn violation(r: &Row) -> rusqlite::Result<Violation> {
    let severity: String = r.get("severity")?;
    Ok(Violation {
        rule_id: r.get("rule_id")?,
        profile: r.get("profile")?,
        standard: r.get("standard")?,
        severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
        start_ms: r.get("start_ms")?,
        end_ms: r.get("end_ms")?,
        worst_value: r.get("worst_value")?,
        limit: r.get("limit_text")?,
        unit: r.get("unit")?,
        source: r.get("source")?,
        verified: r.get("verified")?,
        message: r.get("message")?,
    })
}

impl Tx<'_> {
    pub(super) fn insert_operation(&self, op: &OperationRecord) -> Result<i64> {
        self.0.execute(
            "INSERT INTO operation (start_ms, end_ms, record) VALUES (?1, ?2, ?3)",
            params![op.start_ms, op.end_ms, serde_json::to_string(op)?],
        )?;
        Ok(self.0.last_insert_rowid())
    }

    pub(super) fn insert_part(&self, p: &PartRecord) -> Result<()> {
        self.0.execute(
            "INSERT INTO part (end_ms, record) VALUES (?1, ?2)",
            params![p.end_ms, serde_json::to_string(p)?],
        )?;
        Ok(())
    }

    pub(super) fn open_violation(&self, v: &Violation) -> Result<()> {
        self.0.execute(
            "INSERT INTO violation (rule_id, profile, standard, severity, start_ms, end_ms,
             worst_value, limit_text, unit, source, verified, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                v.rule_id,
                v.profile,
                v.standard,
                v.severity.as_str(),
                v.start_ms,
                v.end_ms,
                v.worst_value,
                v.limit,
                v.unit,
                v.source,
                v.verified,
                v.message
            ],
        )?;
        Ok(())
    }

    /// Updates an open episode with its latest message and worst value, and closes it when
    /// `end_ms` is given.
    pub(super) fn update_violation(
        &self,
        profile: &str,
        rule_id: &str,
        start_ms: i64,
        message: &str,
        value: Option<f64>,
        end_ms: Option<i64>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE violation SET end_ms = ?4, message = CASE WHEN ?5 = '' THEN message ELSE ?5 END,
             worst_value = CASE WHEN ?6 IS NULL THEN worst_value WHEN worst_value IS NULL THEN ?6
                                WHEN abs(?6) > abs(worst_value) THEN ?6 ELSE worst_value END
             WHERE profile = ?1 AND rule_id = ?2 AND start_ms = ?3 AND end_ms IS NULL",
            params![profile, rule_id, start_ms, end_ms, message, value],
        )?;
        Ok(())
    }

    /// Episodes left open by a crash are closed at the agent's restart (their end unknown,
    /// taken as the restart, and said so).
    pub fn close_dangling_violations(&self, now_ms: i64) -> Result<usize> {
        Ok(self.0.execute(
            "UPDATE violation SET end_ms = ?1,
             message = message || ' (end not recorded: agent restarted)' WHERE end_ms IS NULL",
            [now_ms],
        )?)
    }
}

impl Reader {
    fn violations_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Violation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM violation WHERE start_ms <= ?2 AND (end_ms IS NULL OR end_ms >= ?1)
             ORDER BY start_ms, id",
        )?;
        let rows = stmt.query_map([from_ms, to_ms], violation)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The episodes that overlapped an operation, as the API and the export show them:
    /// `info` left out.
    pub fn violations_during(&self, op: &OperationRecord) -> Result<Vec<Violation>> {
        Ok(self
            .violations_between(op.start_ms, op.end_ms)?
            .into_iter()
            .filter(|v| v.severity != Severity::Info)
            .collect())
    }

    fn view(&self, id: i64, record: OperationRecord) -> Result<OperationView> {
        Ok(OperationView {
            id,
            duration_s: (record.end_ms - record.start_ms) as f64 / 1000.0,
            oil_ml_per_h: (record.cutting_s > 0.0)
                .then(|| record.oil_ml / record.cutting_s * 3600.0),
            compliant_share: (record.judged_s > 0.0).then(|| record.compliant_s / record.judged_s),
            violations: self.violations_during(&record)?,
            record,
        })
    }

    /// Operations that ended in [from, to], oldest first; the newest `limit` of them.
    pub fn operations(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<OperationView>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2
             ORDER BY end_ms DESC LIMIT ?3",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .rev()
            .map(|(id, text)| self.view(id, json("operation", id, &text)?))
            .collect()
    }

    /// Operations that ended in [from, to), oldest first, handed to `each` one by one (the
    /// operations export: memory does not grow with the history).
    pub fn each_operation(
        &self,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(i64, &OperationRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms < ?2
             ORDER BY end_ms, id",
        )?;
        let mut rows = stmt.query(params![from_ms, to_ms])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get("id")?;
            let op = json("operation", id, &r.get::<_, String>("record")?)?;
            each(id, &op)?;
        }
        Ok(())
    }

    /// A tool's operations that ended in [from, to].
    pub fn operations_of_tool(
        &self,
        tool: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OperationRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2
             AND json_extract(record, '$.tool_id') = ?3 ORDER BY end_ms, id",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, tool], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.iter()
            .map(|(id, text)| json("operation", *id, text))
            .collect()
    }

    /// The last operation of a tool that ended at or before `ts_ms`.
    pub fn last_operation_of_tool(
        &self,
        tool: &str,
        ts_ms: i64,
    ) -> Result<Option<OperationRecord>> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, record FROM operation
                 WHERE end_ms <= ?2 AND json_extract(record, '$.tool_id') = ?1
                 ORDER BY end_ms DESC LIMIT 1",
            )?
            .query_row(params![tool, ts_ms], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })
            .optional()?;
        row.map(|(id, text)| json("operation", id, &text))
            .transpose()
    }

    /// Operations with an id above `after`, oldest first, at most `limit` (fleet tailing).
    pub fn operations_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, OperationRecord)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, text)| Ok((id, json("operation", id, &text)?)))
            .collect()
    }

    /// Parts that ended in [from, to], oldest first.
    pub fn parts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<PartRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM part WHERE end_ms >= ?1 AND end_ms <= ?2 ORDER BY end_ms",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([from_ms, to_ms], |r| Ok((r.get("id")?, r.get("record")?)))?
            .collect::<Result<_, _>>()?;
        rows.iter()
            .map(|(id, text)| json("part", *id, text))
            .collect()
    }

    /// Parts with an id above `after`, oldest first, at most `limit` (fleet tailing).
    pub fn parts_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, PartRecord)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, record FROM part WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, text)| Ok((id, json("part", id, &text)?)))
            .collect()
    }

    /// The newest operation's and part's ids now (0 when there are none).
    pub fn newest_operation_and_part(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM operation) AS op,
                    (SELECT coalesce(max(id), 0) FROM part) AS part",
            [],
            |r| Ok((r.get("op")?, r.get("part")?)),
        )?)
    }

    /// Operations and cutting seconds before `to_ms`, and parts (the machine's totals for the
    /// residual-life export).
    pub fn totals_before(&self, to_ms: i64) -> Result<(i64, f64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM operation WHERE end_ms < ?1) AS cuts,
                    (SELECT coalesce(sum(json_extract(record, '$.cutting_s')), 0.0)
                       FROM operation WHERE end_ms < ?1) AS cutting_s,
                    (SELECT count(*) FROM part WHERE end_ms < ?1) AS parts",
            [to_ms],
            |r| Ok((r.get("cuts")?, r.get("cutting_s")?, r.get("parts")?)),
        )?)
    }

    /// Totals and per-part figures over [from, to].
    pub fn summary(&self, from_ms: i64, to_ms: i64) -> Result<Summary> {
        let ops = self.operations(from_ms, to_ms, 1_000_000)?;
        let parts = self.parts(from_ms, to_ms)?;
        let mut s = Summary {
            from_ms,
            to_ms,
            operations: ops.len() as u64,
            parts: parts.len() as u64,
            ..Summary::default()
        };
        for o in &ops {
            s.cutting_s += o.record.cutting_s;
            s.judged_s += o.record.judged_s;
            s.compliant_s += o.record.compliant_s;
            s.energy_kwh += o.record.energy_kwh;
            s.oil_ml += o.record.oil_ml;
            let mode = o
                .record
                .cooling_mode
                .clone()
                .unwrap_or_else(|| "unknown".into());
            *s.cutting_s_by_cooling.entry(mode).or_default() += o.record.cutting_s;
        }
        // Per part, the whole cycle counts (air moves and tool changes use energy too).
        let (part_e, part_o): (f64, f64) = parts
            .iter()
            .fold((0.0, 0.0), |(e, o), p| (e + p.energy_kwh, o + p.oil_ml));
        let n = parts.len() as f64;
        s.energy_kwh_per_part = (n > 0.0).then(|| part_e / n);
        s.oil_ml_per_part = (n > 0.0).then(|| part_o / n);
        s.not_judged_s = (s.cutting_s - s.judged_s).max(0.0);
        s.compliant_share = (s.judged_s > 0.0).then(|| s.compliant_s / s.judged_s);
        s.oil_ml_per_h = (s.cutting_s > 0.0).then(|| s.oil_ml / s.cutting_s * 3600.0);
        s.violations = self.violations_between(from_ms, to_ms)?;
        Ok(s)
    }
}
