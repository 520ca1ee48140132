//! The alarm audit trail: every transition with its time, cause and who did it
//! (`alarm_event`), and the current state of every alarm that is not normal
//! (`alarm_current`), so a restart forgets neither an acknowledgement nor a shelving.

use anyhow::Result;
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{Reader, Tx};
use crate::condition::Severity;
use crate::records::alarm::{AlarmState, Suppression, Transition};

/// What is kept of an alarm that is not normal, to restore it after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentAlarm {
    /// The debounced condition.
    pub condition: bool,
    pub acked: bool,
    pub suppression: Suppression,
    pub severity: Severity,
    pub message: String,
    /// `None` in a row written before the store kept it.
    pub message_zh: Option<String>,
    pub source: String,
    pub source_zh: Option<String>,
    pub tier: u8,
    pub since_ms: i64,
    pub active_since_ms: Option<i64>,
    /// When it was last sent to anyone while unacknowledged (escalation counts from it).
    pub notice_ms: i64,
}

/// One stored transition, as the history API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    pub id: i64,
    #[serde(flatten)]
    pub transition: Transition,
}

/// What the history endpoint filters on.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub from_ms: i64,
    pub to_ms: i64,
    pub state: Option<AlarmState>,
    pub severity: Option<Severity>,
    /// Keys starting with this.
    pub key: Option<String>,
    pub limit: usize,
}

fn severity(r: &Row) -> rusqlite::Result<Severity> {
    Ok(Severity::parse(&r.get::<_, String>("severity")?).unwrap_or(Severity::Warning))
}

impl Tx<'_> {
    /// Transitions and the current state of the alarms they touched, in one transaction.
    pub(super) fn record_alarms(
        &self,
        transitions: &[Transition],
        current: &[(String, Option<CurrentAlarm>)],
    ) -> Result<()> {
        let mut ins = self.0.prepare_cached(
            "INSERT INTO alarm_event (ts_ms, key, state, previous, severity, message, source,
             cause, by, tier, message_zh, cause_zh, source_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for t in transitions {
            ins.execute(params![
                t.ts_ms,
                t.key,
                t.state.as_str(),
                t.previous.as_str(),
                t.severity.as_str(),
                t.message,
                t.source,
                t.cause,
                t.by,
                t.tier,
                t.message_zh,
                t.cause_zh,
                t.source_zh
            ])?;
        }
        let mut up = self.0.prepare_cached(
            "INSERT OR REPLACE INTO alarm_current (key, condition, acked, suppression,
             shelved_until_ms, severity, message, source, tier, since_ms, active_since_ms,
             notice_ms, message_zh, source_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        let mut del = self
            .0
            .prepare_cached("DELETE FROM alarm_current WHERE key = ?1")?;
        for (key, c) in current {
            match c {
                Some(c) => {
                    let (supp, until) = match c.suppression {
                        Suppression::None => ("none", None),
                        Suppression::Shelved { until_ms } => ("shelved", Some(until_ms)),
                        Suppression::OutOfService => ("out_of_service", None),
                    };
                    up.execute(params![
                        key,
                        c.condition,
                        c.acked,
                        supp,
                        until,
                        c.severity.as_str(),
                        c.message,
                        c.source,
                        c.tier,
                        c.since_ms,
                        c.active_since_ms,
                        c.notice_ms,
                        c.message_zh,
                        c.source_zh
                    ])?;
                }
                None => {
                    del.execute([key])?;
                }
            }
        }
        Ok(())
    }
}

impl Reader {
    /// The alarms that were not normal when the agent last ran.
    pub fn current_alarms(&self) -> Result<Vec<(String, CurrentAlarm)>> {
        let mut stmt = self.conn.prepare("SELECT * FROM alarm_current")?;
        let rows = stmt.query_map([], |r| {
            let suppression = match (
                r.get::<_, String>("suppression")?.as_str(),
                r.get::<_, Option<i64>>("shelved_until_ms")?,
            ) {
                ("shelved", Some(until_ms)) => Suppression::Shelved { until_ms },
                ("out_of_service", _) => Suppression::OutOfService,
                _ => Suppression::None,
            };
            Ok((
                r.get("key")?,
                CurrentAlarm {
                    condition: r.get("condition")?,
                    acked: r.get("acked")?,
                    suppression,
                    severity: severity(r)?,
                    message: r.get("message")?,
                    message_zh: r.get("message_zh")?,
                    source: r.get("source")?,
                    source_zh: r.get("source_zh")?,
                    tier: r.get("tier")?,
                    since_ms: r.get("since_ms")?,
                    active_since_ms: r.get("active_since_ms")?,
                    notice_ms: r.get("notice_ms")?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored transitions, newest first.
    pub fn alarm_history(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT * FROM alarm_event
             WHERE ts_ms >= ?1 AND ts_ms <= ?2 AND (?3 IS NULL OR state = ?3)
               AND (?4 IS NULL OR severity = ?4) AND (?5 IS NULL OR substr(key, 1, length(?5)) = ?5)
             ORDER BY ts_ms DESC, id DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                f.from_ms,
                f.to_ms,
                f.state.map(AlarmState::as_str),
                f.severity.map(Severity::as_str),
                f.key,
                f.limit as i64
            ],
            |r| {
                let state = |s: String| AlarmState::parse(&s).unwrap_or(AlarmState::Normal);
                Ok(HistoryRow {
                    id: r.get("id")?,
                    transition: Transition {
                        ts_ms: r.get("ts_ms")?,
                        key: r.get("key")?,
                        state: state(r.get("state")?),
                        previous: state(r.get("previous")?),
                        severity: severity(r)?,
                        message: r.get("message")?,
                        message_zh: r.get("message_zh")?,
                        source: r.get("source")?,
                        source_zh: r.get("source_zh")?,
                        cause: r.get("cause")?,
                        cause_zh: r.get("cause_zh")?,
                        by: r.get("by")?,
                        tier: r.get("tier")?,
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Transitions stored in total (for metrics).
    pub fn alarm_event_count(&self) -> Result<u64> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT max(id) AS n FROM alarm_event", [], |r| r.get("n"))
            .optional()?
            .flatten();
        Ok(n.unwrap_or(0) as u64)
    }
}
