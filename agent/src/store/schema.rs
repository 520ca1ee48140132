//! The schema of the store's files as numbered migrations, run at start.
//!
//! A file records the version it is at; opening it runs the migrations after that version, each
//! in its own transaction with the version bump, so a crash mid-upgrade leaves the file at the
//! last whole step. A file from a newer agent is refused with a message (an older agent cannot
//! know what the newer columns mean), never opened and damaged.
//!
//! Migrations are only ever appended. A released migration is never edited: a file in the field
//! may already be past it. `tests/fixtures/store-v1.sql` is a store written by the agent before
//! the migrations existed (version 1: samples only, the other tables created by each module as
//! it first wrote); the test in this file upgrades it.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension};

/// One step: the version it brings a file to, what it does (for the log), and its SQL.
pub struct Migration {
    pub version: i64,
    pub what: &'static str,
    pub sql: &'static str,
}

/// The agent's store file (`[store] path`).
pub const STORE: &[Migration] = &[
    Migration {
        version: 1,
        what: "signals and their samples",
        sql: "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signal (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL,
    unit TEXT NOT NULL
);
-- One row per stored change. num holds numbers and bools (0/1), txt holds text; both NULL marks
-- the moment the signal became unavailable. The primary key serves both history reads and the
-- per-signal retention delete, so no second index costs writes.
CREATE TABLE IF NOT EXISTS sample (
    signal_id INTEGER NOT NULL REFERENCES signal(id),
    ts_ms INTEGER NOT NULL,
    num REAL,
    txt TEXT,
    PRIMARY KEY (signal_id, ts_ms)
) WITHOUT ROWID;",
    },
    Migration {
        // Before version 2 these tables were created by the modules that wrote them, each on
        // its own connection, so a file of version 1 may have any of them or none.
        version: 2,
        what: "operations, parts, violations, tool usage and changes, component life, alarm audit",
        sql: "
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
CREATE TABLE IF NOT EXISTS tool_usage (
    tool_id TEXT PRIMARY KEY,
    counters TEXT NOT NULL,           -- Counters as JSON
    model_state TEXT,                 -- the wear model's ToolState as JSON
    prediction TEXT,                  -- the latest Prediction as JSON
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_change (
    id INTEGER PRIMARY KEY,
    tool_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,             -- worn_out | broken | preventive
    by TEXT NOT NULL,                 -- who reported it (the token's or the login's name)
    censored INTEGER NOT NULL,        -- preventive: the tool's life end was not observed
    measured_vb_mm REAL,
    counters TEXT NOT NULL,           -- usage at the change
    prediction TEXT                   -- the last prediction before the change
);
CREATE INDEX IF NOT EXISTS tool_change_ts ON tool_change(ts_ms);
CREATE TABLE IF NOT EXISTS component_life (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,              -- the spindle bearing's monitor, the service history (JSON)
    updated_ms INTEGER NOT NULL
);
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
);",
    },
    Migration {
        // Episodes are updated and closed by their rule and start (the writer is asynchronous,
        // so the evaluator never learns a row id); this finds the open one without a scan.
        version: 3,
        what: "violation episodes found by rule and start",
        sql:
            "CREATE INDEX IF NOT EXISTS violation_episode ON violation(profile, rule_id, start_ms);",
    },
    Migration {
        // One name per concept from the API to the export: an operation's means are named as
        // the export names them.
        version: 4,
        what:
            "operation figures named as in the export (speed_mean_rpm, spindle_load_mean_pct, ...)",
        sql: "
UPDATE operation SET record = json_remove(
    json_set(record,
        '$.speed_mean_rpm', json_extract(record, '$.speed_rpm'),
        '$.feed_mean_mm_min', json_extract(record, '$.feed_mm_min'),
        '$.vc_mean_m_min', json_extract(record, '$.vc_m_min'),
        '$.fz_mean_mm', json_extract(record, '$.fz_mm'),
        '$.spindle_load_mean_pct', json_extract(record, '$.load_mean_pct'),
        '$.spindle_load_max_pct', json_extract(record, '$.load_max_pct'),
        '$.spindle_power_mean_kw', json_extract(record, '$.power_mean_kw'),
        '$.spindle_power_max_kw', json_extract(record, '$.power_max_kw')),
    '$.speed_rpm', '$.feed_mm_min', '$.vc_m_min', '$.fz_mm', '$.load_mean_pct',
    '$.load_max_pct', '$.power_mean_kw', '$.power_max_kw')
WHERE json_type(record, '$.speed_rpm') IS NOT NULL;",
    },
    Migration {
        // Compliance counts judged cutting only. Before, a cut with no cooling mode known was
        // recorded `compliant` (a false pass); it becomes `no_data`, judged for none of its
        // time. Other cuts had a profile judging them throughout, as far as anyone can tell now.
        version: 5,
        what: "operations and parts say how much of their cutting was judged",
        sql: "
UPDATE operation SET record = json_set(record,
    '$.judged_s', CASE WHEN json_extract(record, '$.cooling_mode') IS NULL THEN 0.0
                       ELSE json_extract(record, '$.cutting_s') END,
    '$.compliant_s', CASE WHEN json_extract(record, '$.cooling_mode') IS NULL THEN 0.0
                          ELSE json_extract(record, '$.compliant_s') END,
    '$.verdict', CASE WHEN json_extract(record, '$.cooling_mode') IS NULL THEN 'no_data'
                      ELSE json_extract(record, '$.verdict') END)
WHERE json_type(record, '$.judged_s') IS NULL;
UPDATE part SET record = json_set(record, '$.judged_s', json_extract(record, '$.cutting_s'))
WHERE json_type(record, '$.judged_s') IS NULL;",
    },
    Migration {
        // The audit trail of counter steps the plausibility guards refused to count.
        version: 6,
        what: "counter events (jumps not counted, counters gone back)",
        sql: "
CREATE TABLE IF NOT EXISTS counter_event (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    counter TEXT NOT NULL,            -- service-history | operations | component:<name>
    signal TEXT NOT NULL,
    kind TEXT NOT NULL,               -- jump | backwards
    from_value REAL NOT NULL,
    to_value REAL NOT NULL,
    max_step REAL,                    -- a jump: the most the signal could have changed
    used REAL,                        -- a counter component: life used, counted on from to_value
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS counter_event_ts ON counter_event(ts_ms);
CREATE INDEX IF NOT EXISTS counter_event_counter ON counter_event(counter, id);",
    },
    Migration {
        // Reads of the episodes that overlap a window (an operation, a summary) look only at
        // episodes starting within the longest episode's length before the window (its
        // length from the second index, at once); retention deletes closed episodes by
        // their end.
        version: 7,
        what: "violation episodes found by their end and their length",
        sql: "
CREATE INDEX IF NOT EXISTS violation_end ON violation(end_ms);
CREATE INDEX IF NOT EXISTS violation_length ON violation(end_ms - start_ms);",
    },
    Migration {
        // The audit trail of wrong tokens (the HTTP server's back-off), kept as long as the
        // alarm transitions.
        version: 8,
        what: "access events (wrong tokens)",
        sql: "
CREATE TABLE IF NOT EXISTS access_event (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    peer TEXT,                        -- the client's address
    via TEXT NOT NULL,                -- login | bearer <path>
    name TEXT,                        -- the name given at the login form
    count INTEGER NOT NULL,           -- wrong tokens in a row from the address
    locked_s INTEGER NOT NULL         -- the wait now imposed on the address
);
CREATE INDEX IF NOT EXISTS access_event_ts ON access_event(ts_ms);",
    },
    Migration {
        // Process monitoring: the envelope each operation was learned to look like (one per
        // program and operation: the one that judges, replaced when a new tool or an edited
        // program has been learned), so that a restart does not learn again; and what the
        // detectors found, on the operation (its key and start) they found it in.
        version: 9,
        what: "process monitoring envelopes and findings",
        sql: "
CREATE TABLE IF NOT EXISTS monitor_envelope (
    program TEXT NOT NULL,
    operation TEXT NOT NULL,
    tool_id TEXT,
    signal TEXT NOT NULL,
    learned_ms INTEGER NOT NULL,
    envelope TEXT NOT NULL,           -- the Envelope as JSON: one schema, in Rust
    PRIMARY KEY (program, operation)
);
CREATE TABLE IF NOT EXISTS monitor_finding (
    id INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    program TEXT NOT NULL,
    operation TEXT NOT NULL,
    tool_id TEXT,
    operation_start_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,               -- breakage | missing_tool | overload | wear_drift
    time_into_s REAL NOT NULL,
    position REAL NOT NULL,
    signal TEXT NOT NULL,
    measured REAL NOT NULL,
    expected REAL NOT NULL,
    lower REAL NOT NULL,
    upper REAL NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_finding_ts ON monitor_finding(ts_ms);
CREATE INDEX IF NOT EXISTS monitor_finding_operation
    ON monitor_finding(program, operation, operation_start_ms);",
    },
    Migration {
        // The cycles an operation's next envelope is being learned from, one row per program
        // and operation, so that a restart goes on from them; the row goes when the envelope
        // is learned.
        version: 10,
        what: "process monitoring envelopes being learned",
        sql: "
CREATE TABLE IF NOT EXISTS monitor_learning (
    program TEXT NOT NULL,
    operation TEXT NOT NULL,
    tool_id TEXT,
    signal TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    learning TEXT NOT NULL,           -- the Learning as JSON: one schema, in Rust
    PRIMARY KEY (program, operation)
);",
    },
    Migration {
        // Messages for people in Simplified Chinese beside the English, for the alarm audit
        // trail, the violation episodes, the counter events and the monitor's findings. Rows
        // from before stay NULL:
        // their Chinese was never written, and none is made up afterwards (the API answers
        // null).
        version: 11,
        what: "alarm, violation, counter event and finding messages in Chinese (message_zh)",
        sql: "
ALTER TABLE alarm_event ADD COLUMN message_zh TEXT;
ALTER TABLE alarm_event ADD COLUMN cause_zh TEXT;
ALTER TABLE alarm_event ADD COLUMN source_zh TEXT;
ALTER TABLE alarm_current ADD COLUMN message_zh TEXT;
ALTER TABLE alarm_current ADD COLUMN source_zh TEXT;
ALTER TABLE violation ADD COLUMN message_zh TEXT;
ALTER TABLE counter_event ADD COLUMN message_zh TEXT;
ALTER TABLE monitor_finding ADD COLUMN message_zh TEXT;",
    },
    Migration {
        version: 12,
        what: "flank wear measured during a tool's life (tool_wear)",
        sql: "
CREATE TABLE IF NOT EXISTS tool_wear (
    id INTEGER PRIMARY KEY,
    tool_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    by TEXT NOT NULL,                 -- who measured it (the token's or the login's name)
    measured_vb_mm REAL NOT NULL,
    counters TEXT NOT NULL,           -- usage when measured
    wear_check TEXT,                  -- the measurement against the predicted wear (JSON)
    change_id INTEGER                 -- the tool change that ended this life; NULL in service
);
CREATE INDEX IF NOT EXISTS tool_wear_tool ON tool_wear(tool_id, change_id);",
    },
];

/// The MQTT outbox file (`[mqtt] outbox_path`), kept apart from the store: it is written only
/// while the broker is away, and may be deleted without losing the machine's history.
pub const OUTBOX: &[Migration] = &[Migration {
    version: 1,
    what: "messages waiting for the broker, sequence and cursors",
    sql: "
CREATE TABLE IF NOT EXISTS outbox (
    pos INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    cursor TEXT,            -- producer position this message carries, e.g. operation:412
    cursor_id INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
}];

/// The version a list of migrations brings a file to.
pub fn latest(migrations: &[Migration]) -> i64 {
    migrations.last().map_or(0, |m| m.version)
}

/// The version a file is at: `meta.schema_version`, or 0 for a file without one (new, or an
/// outbox from before versions, whose tables version 1 creates if missing).
fn version(conn: &Connection) -> Result<i64> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    // The store's meta holds text, the outbox's integers; either reads as text.
    let v: Option<String> = conn
        .query_row(
            "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v {
        None => Ok(0),
        Some(v) => v
            .parse()
            .with_context(|| format!("schema_version `{v}` is not a number")),
    }
}

/// Refuses a file written by a newer agent, with a message: checked on a read-only
/// connection before anything is written to the file (not even the journal mode in its
/// header).
pub fn refuse_newer(conn: &Connection, migrations: &[Migration], what: &str) -> Result<()> {
    let v = version(conn)?;
    let latest = latest(migrations);
    anyhow::ensure!(
        v <= latest,
        "{what} has schema version {v}, written by a newer agent; this agent reads versions \
         up to {latest}. Run the newer agent, or move the file aside to start a new one"
    );
    Ok(())
}

/// Brings a file to the latest version of `migrations`; returns the version it was at.
/// `what` names the file in messages.
pub fn migrate(conn: &mut Connection, migrations: &[Migration], what: &str) -> Result<i64> {
    let from = version(conn)?;
    let latest = latest(migrations);
    anyhow::ensure!(
        from <= latest,
        "{what} has schema version {from}, written by a newer agent; this agent reads versions \
         up to {latest}. Run the newer agent, or move the file aside to start a new one"
    );
    for m in migrations.iter().filter(|m| m.version > from) {
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql)
            .with_context(|| format!("{what}: migration {} ({})", m.version, m.what))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [m.version],
        )?;
        tx.commit()?;
        if from > 0 {
            tracing::info!(
                "{what}: upgraded to schema version {}: {}",
                m.version,
                m.what
            );
        }
    }
    Ok(from)
}

/// Checks that a file (opened read-only) is at the latest version: readers never migrate.
pub fn check_current(conn: &Connection, migrations: &[Migration], what: &str) -> Result<()> {
    let v = version(conn)?;
    let latest = latest(migrations);
    anyhow::ensure!(
        v == latest,
        "{what} has schema version {v}; this agent reads version {latest}{}",
        if v < latest {
            " (start the agent once, or run any command that opens it read-write, to upgrade it)"
        } else {
            " (written by a newer agent)"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_dump(sql: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        // A dump lists tables by name, children before parents.
        conn.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        conn.execute_batch(sql).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        conn
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn versions_are_numbered_one_by_one() {
        for list in [STORE, OUTBOX] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version, i as i64 + 1, "{}", m.what);
            }
        }
    }

    #[test]
    fn a_store_written_before_migrations_is_upgraded_and_keeps_its_rows() {
        let mut conn = from_dump(include_str!("../../tests/fixtures/store-v1.sql"));
        let count = |c: &Connection, t: &str| -> i64 {
            c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        let before: Vec<(String, i64)> = tables(&conn)
            .into_iter()
            .map(|t| (t.clone(), count(&conn, &t)))
            .collect();
        assert_eq!(migrate(&mut conn, STORE, "fixture").unwrap(), 1);
        assert_eq!(version(&conn).unwrap(), latest(STORE));
        for (t, n) in before {
            if t != "meta" {
                assert_eq!(count(&conn, &t), n, "{t}: rows kept");
            }
        }
        // The operations' figures carry their new names, with their values.
        let (old, new): (i64, i64) = conn
            .query_row(
                "SELECT count(*) FILTER (WHERE json_type(record, '$.speed_rpm') IS NOT NULL),
                        count(*) FILTER (WHERE json_extract(record, '$.speed_mean_rpm') > 0)
                 FROM operation",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(old, 0);
        assert!(new > 0);
        // Migrating again is a no-op.
        assert_eq!(migrate(&mut conn, STORE, "fixture").unwrap(), latest(STORE));
    }

    #[test]
    fn a_version_1_file_without_the_lazily_created_tables_gets_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(STORE[0].sql).unwrap();
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')", [])
            .unwrap();
        migrate(&mut conn, STORE, "t").unwrap();
        let t = tables(&conn);
        for want in [
            "operation",
            "tool_change",
            "alarm_current",
            "component_reset",
            "counter_event",
            "access_event",
            "tool_wear",
        ] {
            assert!(t.iter().any(|x| x == want), "{want} in {t:?}");
        }
    }

    #[test]
    fn version_11_adds_the_chinese_messages_and_leaves_older_rows_without() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &STORE[..10], "t").unwrap();
        assert_eq!(version(&conn).unwrap(), 10);
        conn.execute_batch(
            "INSERT INTO alarm_event (ts_ms, key, state, previous, severity, message, source,
                 cause, by, tier)
             VALUES (1, 'k', 'active_unacked', 'normal', 'warning', 'old', 's', 'c', 'system', 0);
             INSERT INTO alarm_current (key, condition, acked, suppression, severity, message,
                 source, tier, since_ms, notice_ms)
             VALUES ('k', 1, 0, 'none', 'warning', 'old', 's', 0, 1, 1);
             INSERT INTO violation (rule_id, profile, standard, severity, start_ms, limit_text,
                 unit, source, verified, message)
             VALUES ('r', 'p', 'S', 'warning', 1, 'l', 'u', 's', 0, 'old');
             INSERT INTO counter_event (ts_ms, counter, signal, kind, from_value, to_value,
                 message)
             VALUES (1, 'operations', 'mql.oil_total', 'jump', 1, 2, 'old');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn, &STORE[..11], "t").unwrap(), 10);
        assert_eq!(version(&conn).unwrap(), 11);
        for table in ["alarm_event", "alarm_current", "violation", "counter_event"] {
            let (en, zh): (String, Option<String>) = conn
                .query_row(
                    &format!("SELECT message, message_zh FROM {table}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((en.as_str(), zh), ("old", None), "{table}");
        }
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('monitor_finding')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(columns.iter().any(|c| c == "message_zh"), "{columns:?}");
        let zh: (Option<String>, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT e.cause_zh, e.source_zh, c.source_zh FROM alarm_event e, alarm_current c",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(zh, (None, None, None));
    }

    #[test]
    fn a_newer_file_is_refused_and_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(STORE[0].sql).unwrap();
        conn.execute("INSERT INTO meta VALUES ('schema_version', '99')", [])
            .unwrap();
        let err = migrate(&mut conn, STORE, "store x.db")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("schema version 99") && err.contains("newer agent"),
            "{err}"
        );
        assert_eq!(version(&conn).unwrap(), 99);
        assert!(!tables(&conn).iter().any(|t| t == "operation"));
    }

    #[test]
    fn an_outbox_from_before_versions_is_adopted() {
        let mut conn = from_dump(include_str!("../../tests/fixtures/outbox-v1.sql"));
        let rows = |c: &Connection| -> i64 {
            c.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
                .unwrap()
        };
        let n = rows(&conn);
        assert!(n > 0);
        assert_eq!(migrate(&mut conn, OUTBOX, "outbox").unwrap(), 0);
        assert_eq!(rows(&conn), n);
        assert_eq!(version(&conn).unwrap(), 1);
    }
}
