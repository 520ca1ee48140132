//! The alarm audit trail: every transition with its time, cause and who did it, plus the
//! current state of every alarm that is not normal, so a restart forgets neither an
//! acknowledgement nor a shelving. Lives in the agent's store file, on its own connection
//! (WAL lets it write beside the sample writer); the schema is created if missing, so this
//! module never depends on the store's schema version.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::engine::{Engine, Entry};
use super::lifecycle::Lifecycle;
use crate::condition::Severity;
use crate::records::alarm::{AlarmState, Suppression, Transition};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alarm_event (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    previous TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    source TEXT NOT NULL,
    cause TEXT NOT NULL,
    by TEXT NOT NULL,
    tier INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_event_ts ON alarm_event (ts_ms);
CREATE TABLE IF NOT EXISTS alarm_current (
    key TEXT PRIMARY KEY,
    condition INTEGER NOT NULL,
    acked INTEGER NOT NULL,
    suppression TEXT NOT NULL,
    shelved_until_ms INTEGER,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    source TEXT NOT NULL,
    tier INTEGER NOT NULL,
    since_ms INTEGER NOT NULL,
    active_since_ms INTEGER,
    notice_ms INTEGER NOT NULL
);
-- Component life counters reset by maintenance: life used = counter - baseline.
CREATE TABLE IF NOT EXISTS component_reset (
    id INTEGER PRIMARY KEY,
    component TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    baseline REAL NOT NULL,
    by TEXT NOT NULL
);
";

/// One stored transition, as the history API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

pub struct Audit {
    conn: Connection,
}

pub fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

pub fn parse_severity(s: &str) -> Option<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .find(|x| severity_str(*x) == s)
}

impl Audit {
    pub fn open(path: &Path) -> Result<Audit> {
        let conn = Connection::open(path)
            .with_context(|| format!("opening the alarm audit trail in {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Audit { conn })
    }

    /// Stores transitions and the current state of the alarms they touched, in one
    /// transaction (the trail and the current state never disagree).
    pub fn record(&mut self, transitions: &[Transition], engine: &Engine) -> Result<()> {
        if transitions.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO alarm_event (ts_ms, key, state, previous, severity, message, source,
                 cause, by, tier) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut up = tx.prepare_cached(
                "INSERT OR REPLACE INTO alarm_current (key, condition, acked, suppression,
                 shelved_until_ms, severity, message, source, tier, since_ms, active_since_ms,
                 notice_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM alarm_current WHERE key = ?1")?;
            for t in transitions {
                ins.execute(params![
                    t.ts_ms,
                    t.key,
                    t.state.as_str(),
                    t.previous.as_str(),
                    severity_str(t.severity),
                    t.message,
                    t.source,
                    t.cause,
                    t.by,
                    t.tier
                ])?;
                match engine.entry(&t.key) {
                    Some(e) if e.life.state() != AlarmState::Normal => {
                        let (supp, until) = match e.life.suppression {
                            Suppression::None => ("none", None),
                            Suppression::Shelved { until_ms } => ("shelved", Some(until_ms)),
                            Suppression::OutOfService => ("out_of_service", None),
                        };
                        up.execute(params![
                            t.key,
                            e.life.condition,
                            e.life.acked,
                            supp,
                            until,
                            severity_str(e.severity),
                            e.message,
                            e.source,
                            e.tier,
                            e.since_ms,
                            e.active_since_ms,
                            e.notice_ms
                        ])?;
                    }
                    _ => {
                        del.execute([&t.key])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The alarms that were not normal when the agent last ran.
    pub fn load(&self) -> Result<Vec<(String, Entry)>> {
        let mut stmt = self.conn.prepare(
            "SELECT key, condition, acked, suppression, shelved_until_ms, severity, message,
             source, tier, since_ms, active_since_ms, notice_ms FROM alarm_current",
        )?;
        let rows = stmt.query_map([], |r| {
            let suppression = match (r.get::<_, String>(3)?.as_str(), r.get::<_, Option<i64>>(4)?) {
                ("shelved", Some(until_ms)) => Suppression::Shelved { until_ms },
                ("out_of_service", _) => Suppression::OutOfService,
                _ => Suppression::None,
            };
            let life = Lifecycle {
                condition: r.get(1)?,
                acked: r.get(2)?,
                suppression,
            };
            let severity = parse_severity(&r.get::<_, String>(5)?).unwrap_or(Severity::Warning);
            Ok((
                r.get::<_, String>(0)?,
                Entry {
                    raw: life.condition,
                    raw_since_ms: r.get(9)?,
                    life,
                    severity,
                    message: r.get(6)?,
                    source: r.get(7)?,
                    tier: r.get(8)?,
                    since_ms: r.get(9)?,
                    active_since_ms: r.get(10)?,
                    notice_ms: r.get(11)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stored transitions, newest first.
    pub fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, ts_ms, key, state, previous, severity, message, source, cause, by, tier
             FROM alarm_event
             WHERE ts_ms >= ?1 AND ts_ms <= ?2 AND (?3 IS NULL OR state = ?3)
               AND (?4 IS NULL OR severity = ?4) AND (?5 IS NULL OR substr(key, 1, length(?5)) = ?5)
             ORDER BY ts_ms DESC, id DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                f.from_ms,
                f.to_ms,
                f.state.map(AlarmState::as_str),
                f.severity.map(severity_str),
                f.key,
                f.limit as i64
            ],
            |r| {
                let state = |s: String| AlarmState::parse(&s).unwrap_or(AlarmState::Normal);
                Ok(HistoryRow {
                    id: r.get(0)?,
                    transition: Transition {
                        ts_ms: r.get(1)?,
                        key: r.get(2)?,
                        state: state(r.get(3)?),
                        previous: state(r.get(4)?),
                        severity: parse_severity(&r.get::<_, String>(5)?)
                            .unwrap_or(Severity::Warning),
                        message: r.get(6)?,
                        source: r.get(7)?,
                        cause: r.get(8)?,
                        by: r.get(9)?,
                        tier: r.get(10)?,
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a component counter reset.
    pub fn reset_component(
        &mut self,
        name: &str,
        baseline: f64,
        by: &str,
        ts_ms: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO component_reset (component, ts_ms, baseline, by) VALUES (?1, ?2, ?3, ?4)",
            params![name, ts_ms, baseline, by],
        )?;
        Ok(())
    }

    /// The latest baseline of every component that was ever reset.
    pub fn component_baselines(&self) -> Result<Vec<(String, f64, i64, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT component, baseline, ts_ms, by FROM component_reset c
             WHERE id = (SELECT max(id) FROM component_reset WHERE component = c.component)",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Transitions stored in total (for metrics).
    pub fn count(&self) -> Result<u64> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT max(id) FROM alarm_event", [], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(n.unwrap_or(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::lifecycle::Action;
    use crate::condition::Condition;
    use crate::config::AlarmSettings;

    fn cond(key: &str, active: bool, severity: Severity) -> Condition {
        Condition {
            key: key.into(),
            active,
            severity,
            message: format!("{key} msg"),
            source: "test".into(),
        }
    }

    fn engine() -> Engine {
        Engine::new(
            AlarmSettings {
                on_delay: Duration::ZERO,
                off_delay: Duration::ZERO,
                ..AlarmSettings::default()
            },
            0,
        )
    }

    #[test]
    fn the_trail_and_the_current_state_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!(
            "audit-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("agent.db");
        {
            let mut a = Audit::open(&db).unwrap();
            let mut e = engine();
            let t = e.tick(
                1000,
                &[
                    cond("a", true, Severity::Critical),
                    cond("b", true, Severity::Warning),
                ],
            );
            a.record(&t, &e).unwrap();
            let t = e.act("a", Action::Acknowledge, "anna", 2000).unwrap();
            a.record(&[t], &e).unwrap();
            let t = e
                .act("b", Action::Shelve { until_ms: 99_000 }, "bob", 3000)
                .unwrap();
            a.record(&[t], &e).unwrap();
            let t = e.tick(4000, &[cond("a", true, Severity::Critical)]);
            a.record(&t, &e).unwrap(); // b clears while shelved: still shelved, no transition
            assert!(t.is_empty());
        }
        // A new process: a fresh connection, a fresh engine.
        let a = Audit::open(&db).unwrap();
        let mut e = engine();
        for (k, entry) in a.load().unwrap() {
            e.restore(k, entry);
        }
        let v = e.views();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0].key.as_str(), v[0].state),
            ("a", AlarmState::ActiveAcked)
        );
        assert_eq!((v[1].key.as_str(), v[1].state), ("b", AlarmState::Shelved));
        assert_eq!(v[1].shelved_until_ms, Some(99_000));

        let all = HistoryFilter {
            from_ms: 0,
            to_ms: i64::MAX,
            limit: 100,
            ..Default::default()
        };
        let h = a.history(&all).unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].transition.by, "bob", "newest first");
        assert_eq!(h[1].transition.cause, "acknowledged");
        let crit = a
            .history(&HistoryFilter {
                severity: Some(Severity::Critical),
                ..all.clone()
            })
            .unwrap();
        assert_eq!(crit.len(), 2);
        let acked = a
            .history(&HistoryFilter {
                state: Some(AlarmState::ActiveAcked),
                ..all.clone()
            })
            .unwrap();
        assert_eq!(acked.len(), 1);
        let window = a
            .history(&HistoryFilter {
                from_ms: 1500,
                to_ms: 2500,
                ..all
            })
            .unwrap();
        assert_eq!(window.len(), 1);
        assert_eq!(a.count().unwrap(), 4);
    }
}
