//! What the evaluators conclude, kept in the agent's SQLite file: operations with their key
//! figures, parts, and violation episodes. Few rows (one per operation, part or episode), so
//! they are written as they happen on the evaluator's own connection.

use std::path::Path;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::operations::{OperationRecord, PartRecord};
use super::rules::RuleStatus;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operation (
    id INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    record TEXT NOT NULL              -- the OperationRecord as JSON: one schema, in Rust
);
CREATE INDEX IF NOT EXISTS operation_end ON operation(end_ms);
CREATE TABLE IF NOT EXISTS part (
    id INTEGER PRIMARY KEY,
    end_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS part_end ON part(end_ms);
CREATE TABLE IF NOT EXISTS violation (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    standard TEXT NOT NULL,
    severity TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,                   -- NULL while it lasts
    worst_value REAL,
    limit_text TEXT NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    verified INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS violation_start ON violation(start_ms);
";

/// A violation episode as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Violation {
    pub rule_id: String,
    pub profile: String,
    pub standard: String,
    pub severity: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub worst_value: Option<f64>,
    pub limit: String,
    pub unit: String,
    pub source: String,
    pub verified: bool,
    pub message: String,
}

/// An operation with the violations that overlapped it.
#[derive(Debug, Clone, Serialize)]
pub struct OperationView {
    pub id: i64,
    #[serde(flatten)]
    pub record: OperationRecord,
    pub duration_s: f64,
    pub oil_ml_per_h: Option<f64>,
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
    pub compliant_s: f64,
    pub compliant_share: Option<f64>,
    pub energy_kwh: f64,
    pub oil_ml: f64,
    pub oil_ml_per_h: Option<f64>,
    pub energy_kwh_per_part: Option<f64>,
    pub oil_ml_per_part: Option<f64>,
    /// Cutting seconds per cooling mode.
    pub cutting_s_by_cooling: std::collections::BTreeMap<String, f64>,
    pub violations: Vec<Violation>,
}

pub struct Records {
    conn: Connection,
}

impl Records {
    pub fn open(path: &Path) -> Result<Records> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Records { conn })
    }

    pub fn insert_operation(&self, op: &OperationRecord) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO operation (start_ms, end_ms, record) VALUES (?1, ?2, ?3)",
            params![op.start_ms, op.end_ms, serde_json::to_string(op)?],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn insert_part(&self, p: &PartRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO part (end_ms, record) VALUES (?1, ?2)",
            params![p.end_ms, serde_json::to_string(p)?],
        )?;
        Ok(())
    }

    pub fn open_violation(&self, r: &RuleStatus, start_ms: i64) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO violation (rule_id, profile, standard, severity, start_ms, worst_value, limit_text, unit, source, verified, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                r.id,
                r.profile,
                r.standard,
                serde_json::to_value(r.severity)?.as_str().unwrap_or("warning"),
                start_ms,
                r.value,
                r.limit,
                r.unit,
                r.source,
                r.verified,
                r.message
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Updates an open episode with its latest message and worst value, and closes it when
    /// `end_ms` is given.
    pub fn update_violation(&self, id: i64, r: &RuleStatus, end_ms: Option<i64>) -> Result<()> {
        self.conn.execute(
            "UPDATE violation SET end_ms = ?2, message = CASE WHEN ?3 = '' THEN message ELSE ?3 END,
             worst_value = CASE WHEN ?4 IS NULL THEN worst_value WHEN worst_value IS NULL THEN ?4
                                WHEN abs(?4) > abs(worst_value) THEN ?4 ELSE worst_value END
             WHERE id = ?1",
            params![id, end_ms, r.message, r.value],
        )?;
        Ok(())
    }

    /// Episodes left open by a crash are closed at the agent's restart (their end unknown, taken
    /// as their start, and said so).
    pub fn close_dangling(&self, now_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE violation SET end_ms = ?1, message = message || ' (end not recorded: agent restarted)' WHERE end_ms IS NULL",
            [now_ms],
        )?)
    }

    fn violations_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Violation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rule_id, profile, standard, severity, start_ms, end_ms, worst_value, limit_text, unit, source, verified, message
             FROM violation WHERE start_ms <= ?2 AND (end_ms IS NULL OR end_ms >= ?1) ORDER BY start_ms",
        )?;
        let rows = stmt.query_map([from_ms, to_ms], |r| {
            Ok(Violation {
                rule_id: r.get(0)?,
                profile: r.get(1)?,
                standard: r.get(2)?,
                severity: r.get(3)?,
                start_ms: r.get(4)?,
                end_ms: r.get(5)?,
                worst_value: r.get(6)?,
                limit: r.get(7)?,
                unit: r.get(8)?,
                source: r.get(9)?,
                verified: r.get(10)?,
                message: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Operations that ended in [from, to], newest last.
    pub fn operations(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<OperationView>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2 ORDER BY end_ms DESC LIMIT ?3",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for (id, json) in rows.into_iter().rev() {
            let record: OperationRecord = serde_json::from_str(&json)?;
            let duration_s = (record.end_ms - record.start_ms) as f64 / 1000.0;
            let violations = self
                .violations_between(record.start_ms, record.end_ms)?
                .into_iter()
                .filter(|v| v.severity != "info")
                .collect();
            out.push(OperationView {
                id,
                duration_s,
                oil_ml_per_h: (record.cutting_s > 0.0)
                    .then(|| record.oil_ml / record.cutting_s * 3600.0),
                compliant_share: (record.cutting_s > 0.0)
                    .then(|| record.compliant_s / record.cutting_s),
                violations,
                record,
            });
        }
        Ok(out)
    }

    pub fn parts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<PartRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT record FROM part WHERE end_ms >= ?1 AND end_ms <= ?2 ORDER BY end_ms",
        )?;
        let rows: Vec<String> = stmt
            .query_map([from_ms, to_ms], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        rows.iter().map(|j| Ok(serde_json::from_str(j)?)).collect()
    }

    pub fn last_part(&self) -> Result<Option<PartRecord>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT record FROM part ORDER BY end_ms DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| Ok(serde_json::from_str(&j)?)).transpose()
    }

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
        s.compliant_share = (s.cutting_s > 0.0).then(|| s.compliant_s / s.cutting_s);
        s.oil_ml_per_h = (s.cutting_s > 0.0).then(|| s.oil_ml / s.cutting_s * 3600.0);
        s.violations = self.violations_between(from_ms, to_ms)?;
        Ok(s)
    }
}
