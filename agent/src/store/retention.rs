//! Retention: samples older than `[store] retention_days`, and operations, parts, violation
//! episodes and alarm transitions older than their own `*_retention_days`, are deleted once an
//! hour. The monitor's findings (the evidence of its alarms) and the wrong tokens' audit trail
//! are kept as long as the alarm transitions.
//!
//! In chunks of [`CHUNK`] rows, each its own short transaction, in slices of a bounded time
//! between the writer's batches: one large DELETE would hold the writer (and grow the WAL) for
//! as long as it takes on an SD card. After a pass the freed pages go back to the file system
//! (`incremental_vacuum`, also in slices) and the WAL is checkpointed; the writer's connection
//! has a `journal_size_limit`, so the WAL file is cut back once the checkpoint lets it restart.
//!
//! Tool changes (the training labels), component resets, component state, tool usage and the
//! current alarms are never deleted: they are few, and what they say stays true.
//!
//! Ages count back from the newest sample stored, or from the wall clock if that is earlier,
//! never from a wall clock alone: a Pi's clock stepped forward by a year (set by hand, a bad
//! NTP answer) must not make the whole history look old and delete it. A clock that reads
//! before this binary was built deletes nothing at all.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use rusqlite::{params, Connection};

use crate::clock::EARLIEST_MS;
use crate::config::{EventRetention, StoreSettings};
use crate::value::now_ms;

/// Rows per DELETE.
pub(super) const CHUNK: usize = 2000;

/// Pages given back per `incremental_vacuum` step (1 MiB of 4 KiB pages): each step is one
/// transaction, whose pages pass through the WAL, so a small step keeps the WAL small.
const VACUUM_PAGES: u32 = 256;

const EVERY: Duration = Duration::from_secs(3600);

/// One thing a pass deletes from: a signal's samples, or an event table.
#[derive(Debug, Clone, Copy)]
enum Target {
    Samples {
        signal_id: i64,
        cutoff: i64,
    },
    Events {
        table: Table,
        cutoff: i64,
    },
    /// The pages the deletes freed, given back to the file system.
    Vacuum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Operation,
    Part,
    Violation,
    AlarmEvent,
    AccessEvent,
    MonitorFinding,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Operation => "operation",
            Table::Part => "part",
            Table::Violation => "violation",
            Table::AlarmEvent => "alarm_event",
            Table::AccessEvent => "access_event",
            Table::MonitorFinding => "monitor_finding",
        }
    }

    /// Deletes up to `?2` of the oldest rows before `?1`, along the table's time index. An
    /// open violation episode (`end_ms` NULL) is never deleted.
    fn chunk_sql(self) -> &'static str {
        match self {
            Table::Operation => {
                "DELETE FROM operation WHERE id IN
                 (SELECT id FROM operation WHERE end_ms < ?1 ORDER BY end_ms LIMIT ?2)"
            }
            Table::Part => {
                "DELETE FROM part WHERE id IN
                 (SELECT id FROM part WHERE end_ms < ?1 ORDER BY end_ms LIMIT ?2)"
            }
            Table::Violation => {
                "DELETE FROM violation WHERE id IN
                 (SELECT id FROM violation WHERE end_ms < ?1 ORDER BY end_ms LIMIT ?2)"
            }
            Table::AlarmEvent => {
                "DELETE FROM alarm_event WHERE id IN
                 (SELECT id FROM alarm_event WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)"
            }
            Table::AccessEvent => {
                "DELETE FROM access_event WHERE id IN
                 (SELECT id FROM access_event WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)"
            }
            Table::MonitorFinding => {
                "DELETE FROM monitor_finding WHERE id IN
                 (SELECT id FROM monitor_finding WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)"
            }
        }
    }
}

/// A pass under way.
struct Pass {
    todo: VecDeque<Target>,
    /// Rows deleted so far, by table (`sample` for samples).
    deleted: BTreeMap<&'static str, u64>,
}

pub(super) struct Retention {
    samples: Duration,
    events: EventRetention,
    chunk: usize,
    next_pass: Instant,
    pass: Option<Pass>,
    /// The wall clock (a test steps it).
    wall_ms: fn() -> i64,
}

impl Retention {
    /// The first pass runs at once (the agent may have been off for a while).
    pub(super) fn new(settings: &StoreSettings) -> Retention {
        Retention {
            samples: settings.retention,
            events: settings.events.clone(),
            chunk: CHUNK,
            next_pass: Instant::now(),
            pass: None,
            wall_ms: now_ms,
        }
    }

    fn start(&self, conn: &Connection) -> Result<Pass> {
        let wall = (self.wall_ms)();
        if wall < EARLIEST_MS {
            anyhow::bail!(
                "the clock reads {wall} ms, before this agent was built: nothing is deleted \
                 until the clock is set"
            );
        }
        // Every signal the file knows, also those no longer configured: their samples age too.
        let signals: Vec<i64> = conn
            .prepare("SELECT id FROM signal ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // The newest sample, one index lookup per signal.
        let mut newest = None::<i64>;
        let mut stmt = conn.prepare("SELECT max(ts_ms) FROM sample WHERE signal_id = ?1")?;
        for id in &signals {
            let ts: Option<i64> = stmt.query_row([id], |r| r.get(0))?;
            newest = newest.max(ts);
        }
        let now = newest.map_or(wall, |n| n.min(wall));
        let cutoff = |d: Duration| now - d.as_millis() as i64;
        let mut todo: VecDeque<Target> = signals
            .into_iter()
            .map(|signal_id| Target::Samples {
                signal_id,
                cutoff: cutoff(self.samples),
            })
            .collect();
        let e = &self.events;
        for (table, keep) in [
            (Table::Operation, e.operations),
            (Table::Part, e.parts),
            (Table::Violation, e.violations),
            (Table::AlarmEvent, e.alarm_events),
            // The audit trail of wrong tokens, as long as the alarms' own.
            (Table::AccessEvent, e.alarm_events),
            // A finding is the evidence of a monitor alarm: kept as long as its transitions.
            // (The envelopes are never deleted: one per operation, replaced when learned again.)
            (Table::MonitorFinding, e.alarm_events),
        ] {
            todo.push_back(Target::Events {
                table,
                cutoff: cutoff(keep),
            });
        }
        todo.push_back(Target::Vacuum);
        Ok(Pass {
            todo,
            deleted: BTreeMap::new(),
        })
    }

    /// Deletes one chunk; whether the target is done.
    fn step(&self, conn: &Connection, t: Target, pass: &mut Pass) -> Result<bool> {
        let (table, n) = match t {
            Target::Samples { signal_id, cutoff } => (
                "sample",
                conn.prepare_cached(
                    "DELETE FROM sample WHERE signal_id = ?1 AND ts_ms IN
                     (SELECT ts_ms FROM sample WHERE signal_id = ?1 AND ts_ms < ?2
                      ORDER BY ts_ms LIMIT ?3)",
                )?
                .execute(params![signal_id, cutoff, self.chunk as i64])?,
            ),
            Target::Events { table, cutoff } => (
                table.name(),
                conn.prepare_cached(table.chunk_sql())?
                    .execute(params![cutoff, self.chunk as i64])?,
            ),
            Target::Vacuum => {
                if pass.deleted.values().all(|n| *n == 0) {
                    return Ok(true);
                }
                conn.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))?;
                let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
                return Ok(free == 0);
            }
        };
        *pass.deleted.entry(table).or_default() += n as u64;
        Ok(n < self.chunk)
    }

    /// Works on the pass for at most `slice` (starting one when due); rows deleted are added
    /// to `deleted`. A failure is logged and the pass given up until the next one.
    pub(super) fn run_slice(&mut self, conn: &Connection, slice: Duration, deleted: &AtomicU64) {
        if self.pass.is_none() {
            if Instant::now() < self.next_pass {
                return;
            }
            self.next_pass = Instant::now() + EVERY;
            match self.start(conn) {
                Ok(p) => self.pass = Some(p),
                Err(e) => {
                    tracing::warn!("store: retention could not start: {e:#}");
                    return;
                }
            }
        }
        let Some(mut pass) = self.pass.take() else {
            return;
        };
        let started = Instant::now();
        while let Some(&t) = pass.todo.front() {
            let before: u64 = pass.deleted.values().sum();
            match self.step(conn, t, &mut pass) {
                Ok(done) => {
                    if done {
                        pass.todo.pop_front();
                    }
                }
                Err(e) => {
                    tracing::warn!("store: retention failed, retried in an hour: {e:#}");
                    return;
                }
            }
            deleted.fetch_add(
                pass.deleted.values().sum::<u64>() - before,
                Ordering::Relaxed,
            );
            if started.elapsed() >= slice {
                self.pass = Some(pass);
                return;
            }
        }
        if pass.deleted.values().any(|n| *n > 0) {
            // The WAL holds the deletes' pages: move them into the file now, without waiting
            // for readers (a long export); the next checkpoint that can restart the WAL cuts it
            // back to `journal_size_limit`.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!("store: checkpoint after retention failed: {e}");
            }
            let what: Vec<String> = pass
                .deleted
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| format!("{n} {t}"))
                .collect();
            tracing::info!("store: retention removed {}", what.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{connection, schema};

    fn count(conn: &Connection, t: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn old_rows_of_every_table_go_in_chunks_and_recent_ones_stay() {
        retention_with_the_clock("retention", now_ms);
    }

    /// The wall clock a year ahead (set by hand, a bad NTP answer) or an hour behind deletes
    /// exactly what the right clock does: ages count from the newest sample.
    #[test]
    fn a_wall_clock_stepped_forward_or_back_deletes_no_more() {
        retention_with_the_clock("retention-year", || now_ms() + 365 * 86_400_000);
        retention_with_the_clock("retention-hour", || now_ms() - 3_600_000);
    }

    #[test]
    fn a_clock_before_the_build_deletes_nothing() {
        let (_, _, cfg) = crate::store::test_store("retention-1970");
        let path = cfg.store.path.with_file_name("r.db");
        let mut conn = connection::open_rw(&path).unwrap();
        schema::migrate(&mut conn, schema::STORE, "t").unwrap();
        conn.execute_batch(
            "INSERT INTO signal (id, name, device, unit) VALUES (1, 'a', 'd', '');
             INSERT INTO sample (signal_id, ts_ms, num) VALUES (1, 1000, 1.0);",
        )
        .unwrap();
        let mut r = Retention::new(&cfg.store);
        r.wall_ms = || 86_400_000 * 400; // early 1971
        r.run_slice(&conn, Duration::from_secs(1), &AtomicU64::new(0));
        assert_eq!(count(&conn, "sample"), 1);
    }

    fn retention_with_the_clock(name: &str, wall_ms: fn() -> i64) {
        let (_, _, cfg) = crate::store::test_store(name);
        let path = cfg.store.path.with_file_name("retention.db");
        let mut conn = connection::open_rw(&path).unwrap();
        schema::migrate(&mut conn, schema::STORE, "t").unwrap();
        let now = now_ms();
        let day = 86_400_000;
        conn.execute_batch(
            "INSERT INTO signal (id, name, device, unit) VALUES (1, 'a', 'd', ''), (2, 'gone', 'd', '')",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for i in 0..95 {
            // 75 old (days 10 and before), 20 recent, for both signals.
            let ts = if i < 75 { now - 10 * day - i } else { now - i };
            for sig in [1, 2] {
                tx.execute(
                    "INSERT INTO sample (signal_id, ts_ms, num) VALUES (?1, ?2, 1.0)",
                    params![sig, ts],
                )
                .unwrap();
            }
            tx.execute(
                "INSERT INTO operation (start_ms, end_ms, record) VALUES (?1, ?1, '{}')",
                [if i < 30 { now - 400 * day } else { now - day }],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO alarm_event (ts_ms, key, state, previous, severity, message,
                 source, cause, by, tier) VALUES (?1, 'k', 's', 'p', 'warning', '', '', '', '', 0)",
                [if i < 40 { now - 400 * day } else { now - day }],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO monitor_finding (ts_ms, program, operation, tool_id,
                 operation_start_ms, kind, time_into_s, position, signal, measured, expected,
                 lower, upper, message)
                 VALUES (?1, 'O1', 'OP10', 'T1', ?1, 'breakage', 1.0, 0.5, 'spindle.load', 2.0,
                         20.0, 16.0, 24.0, '')",
                [if i < 25 { now - 400 * day } else { now - day }],
            )
            .unwrap();
        }
        // An episode that started long ago and is still open stays.
        tx.execute(
            "INSERT INTO violation (rule_id, profile, standard, severity, start_ms, end_ms,
             limit_text, unit, source, verified, message)
             VALUES ('r', 'p', 's', 'warning', ?1, NULL, '', '', '', 0, ''),
                    ('r', 'p', 's', 'warning', ?1, ?1, '', '', '', 0, '')",
            [now - 4000 * day],
        )
        .unwrap();
        tx.commit().unwrap();

        let settings = StoreSettings {
            retention: Duration::from_secs(86_400),
            events: EventRetention {
                operations: Duration::from_secs(300 * 86_400),
                parts: Duration::from_secs(300 * 86_400),
                violations: Duration::from_secs(300 * 86_400),
                alarm_events: Duration::from_secs(300 * 86_400),
            },
            ..cfg.store.clone()
        };
        let mut r = Retention::new(&settings);
        r.chunk = 10;
        r.wall_ms = wall_ms;
        let deleted = AtomicU64::new(0);
        // No time at all per slice: one chunk per call, so the pass takes many calls.
        let mut calls = 0;
        loop {
            r.run_slice(&conn, Duration::ZERO, &deleted);
            calls += 1;
            if r.pass.is_none() {
                break;
            }
            assert!(calls < 1000, "the pass never ends");
        }
        assert!(calls > 15, "chunked: {calls} calls");
        assert_eq!(count(&conn, "sample"), 40, "20 recent rows of each signal");
        assert_eq!(count(&conn, "operation"), 65);
        assert_eq!(count(&conn, "alarm_event"), 55);
        assert_eq!(count(&conn, "monitor_finding"), 70);
        assert_eq!(count(&conn, "violation"), 1, "the open episode stays");
        assert_eq!(deleted.load(Ordering::Relaxed), 150 + 30 + 40 + 25 + 1);
        // Not due again for an hour.
        r.run_slice(&conn, Duration::ZERO, &deleted);
        assert!(r.pass.is_none());
    }
}
