//! Tools: usage counters and the latest prediction per tool in service (`tool_usage`, written
//! at most once a second), and the tool changes the shop floor reports (`tool_change`: the
//! labels, one per tool life).

use anyhow::{Context, Result};
use models::ToolState;
use rusqlite::{params, Row};

use super::{Reader, Tx};
use crate::records::operation::OperationRecord;
use crate::records::tool::{ChangeReason, Counters, Prediction, ToolChange, WearMeasurement};

/// One tool in service as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUsage {
    pub tool_id: String,
    pub counters: Counters,
    /// The wear model's state for this tool.
    pub model_state: Option<ToolState>,
    pub prediction: Option<Prediction>,
}

/// A tool life from the store: a change with the last operation the tool cut before it (which
/// tells its class), if there was one.
#[derive(Debug, Clone)]
pub struct Lifetime {
    pub change: ToolChange,
    pub last_operation: Option<OperationRecord>,
}

fn change(r: &Row) -> rusqlite::Result<(ToolChange, String, Option<String>)> {
    let reason: String = r.get("reason")?;
    Ok((
        ToolChange {
            id: r.get("id")?,
            tool_id: r.get("tool_id")?,
            ts_ms: r.get("ts_ms")?,
            // Unknown reasons cannot be written (the API checks them); read as preventive, the
            // cautious label (censored).
            reason: ChangeReason::parse(&reason).unwrap_or(ChangeReason::Preventive),
            censored: r.get("censored")?,
            measured_vb_mm: r.get("measured_vb_mm")?,
            by: r.get("by")?,
            counters: Counters::default(),
            prediction: None,
        },
        r.get("counters")?,
        r.get("prediction")?,
    ))
}

/// The JSON columns of a change row, parsed (a prediction that cannot be read is dropped: it
/// is evidence, not the label).
fn finish(
    (mut c, counters, prediction): (ToolChange, String, Option<String>),
) -> Result<ToolChange> {
    c.counters = serde_json::from_str(&counters)
        .with_context(|| format!("tool change {} of {}: counters", c.id, c.tool_id))?;
    c.prediction = prediction.and_then(|p| serde_json::from_str(&p).ok());
    Ok(c)
}

impl Tx<'_> {
    pub(super) fn save_tool_usage(&self, rows: &[ToolUsage], now_ms: i64) -> Result<()> {
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO tool_usage (tool_id, counters, model_state, prediction, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(tool_id) DO UPDATE SET counters = ?2, model_state = ?3,
             prediction = ?4, updated_ms = ?5",
        )?;
        for t in rows {
            stmt.execute(params![
                t.tool_id,
                serde_json::to_string(&t.counters)?,
                t.model_state
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                t.prediction
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                now_ms
            ])?;
        }
        Ok(())
    }

    /// Stores a tool change and ends the tool's stored usage (it starts afresh); returns the
    /// change's id.
    pub fn insert_tool_change(&self, c: &ToolChange) -> Result<i64> {
        self.0.execute(
            "INSERT INTO tool_change (tool_id, ts_ms, reason, censored, measured_vb_mm, counters,
             prediction, by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.tool_id,
                c.ts_ms,
                c.reason.as_str(),
                c.censored,
                c.measured_vb_mm,
                serde_json::to_string(&c.counters)?,
                c.prediction
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()?,
                c.by
            ],
        )?;
        let id = self.0.last_insert_rowid();
        self.0
            .execute("DELETE FROM tool_usage WHERE tool_id = ?1", [&c.tool_id])?;
        // The wear measured during the life the change ends belongs to that life.
        self.0.execute(
            "UPDATE tool_wear SET change_id = ?1 WHERE tool_id = ?2 AND change_id IS NULL",
            params![id, c.tool_id],
        )?;
        Ok(id)
    }

    /// Stores a flank wear measured during a tool's life; returns its id.
    pub fn insert_wear_measurement(&self, m: &WearMeasurement) -> Result<i64> {
        self.0.execute(
            "INSERT INTO tool_wear (tool_id, ts_ms, by, measured_vb_mm, counters, wear_check)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                m.tool_id,
                m.ts_ms,
                m.by,
                m.measured_vb_mm,
                serde_json::to_string(&m.counters)?,
                m.check.as_ref().map(serde_json::to_string).transpose()?,
            ],
        )?;
        Ok(self.0.last_insert_rowid())
    }
}

impl Reader {
    /// Every tool in service, by id.
    pub fn tool_usage(&self) -> Result<Vec<ToolUsage>> {
        let mut stmt = self.conn.prepare(
            "SELECT tool_id, counters, model_state, prediction FROM tool_usage ORDER BY tool_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>("tool_id")?,
                r.get::<_, String>("counters")?,
                r.get::<_, Option<String>>("model_state")?,
                r.get::<_, Option<String>>("prediction")?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (tool_id, counters, state, prediction) = row?;
            out.push(ToolUsage {
                counters: serde_json::from_str(&counters)
                    .with_context(|| format!("tool {tool_id}: stored counters"))?,
                // A model state or prediction from another model version is started afresh.
                model_state: state.and_then(|s| serde_json::from_str(&s).ok()),
                prediction: prediction.and_then(|p| serde_json::from_str(&p).ok()),
                tool_id,
            });
        }
        Ok(out)
    }

    /// The wear measured during one life of a tool, oldest first: the life the change
    /// `change_id` ended, or (`None`) its present life.
    pub fn wear_measurements(
        &self,
        tool_id: &str,
        change_id: Option<i64>,
    ) -> Result<Vec<WearMeasurement>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, tool_id, ts_ms, by, measured_vb_mm, counters, wear_check FROM tool_wear
             WHERE tool_id = ?1 AND change_id IS ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![tool_id, change_id], |r| {
            Ok((
                WearMeasurement {
                    id: r.get("id")?,
                    tool_id: r.get("tool_id")?,
                    ts_ms: r.get("ts_ms")?,
                    by: r.get("by")?,
                    measured_vb_mm: r.get("measured_vb_mm")?,
                    counters: Counters::default(),
                    check: None,
                },
                r.get::<_, String>("counters")?,
                r.get::<_, Option<String>>("wear_check")?,
            ))
        })?;
        rows.map(|row| {
            let (mut m, counters, check) = row?;
            m.counters = serde_json::from_str(&counters)
                .with_context(|| format!("wear measurement {} of {}: counters", m.id, m.tool_id))?;
            // A check that cannot be read is dropped: the measurement is what was recorded.
            m.check = check.and_then(|c| serde_json::from_str(&c).ok());
            Ok(m)
        })
        .collect()
    }

    /// The newest `limit` tool changes, newest first.
    pub fn recent_tool_changes(&self, limit: usize) -> Result<Vec<ToolChange>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM tool_change ORDER BY ts_ms DESC, id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], change)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// Tool changes in [from, to), oldest first.
    pub fn tool_changes_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<ToolChange>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM tool_change WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY ts_ms, id",
        )?;
        let rows = stmt.query_map([from_ms, to_ms], change)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// Tool changes with an id above `after`, oldest first, at most `limit` (fleet tailing).
    pub fn tool_changes_after(&self, after: i64, limit: usize) -> Result<Vec<ToolChange>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT * FROM tool_change WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows = stmt.query_map(params![after, limit as i64], change)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// The newest tool change's id (0 when there is none).
    pub fn newest_tool_change(&self) -> Result<i64> {
        Ok(self.conn.query_row(
            "SELECT coalesce(max(id), 0) AS id FROM tool_change",
            [],
            |r| r.get("id"),
        )?)
    }

    /// Every tool life in the store, oldest first, with the operation that tells its class.
    pub fn lifetimes(&self) -> Result<Vec<Lifetime>> {
        let mut stmt = self
            .conn
            .prepare("SELECT * FROM tool_change ORDER BY ts_ms, id")?;
        let changes: Vec<ToolChange> = stmt
            .query_map([], change)?
            .map(|r| finish(r?))
            .collect::<Result<_>>()?;
        changes
            .into_iter()
            .map(|c| {
                Ok(Lifetime {
                    last_operation: self.last_operation_of_tool(&c.tool_id, c.ts_ms)?,
                    change: c,
                })
            })
            .collect()
    }
}
