//! A large store for the export test and benchmark: the agent's own code creates the file and
//! registers the signals (`Store::open`), then samples are inserted in bulk with SQL, as the
//! agent's writer would have stored them over days (one transaction here instead of one per
//! second: the point is the size, not the writing).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection};

/// Numeric signals of the large store (their units come from the vocabulary).
pub const SIGNALS: &[&str] = &[
    "spindle.load",
    "spindle.speed",
    "mql.oil_flow",
    "spindle.power",
];

/// First sample time: 2025-03-01T00:00:00Z.
pub const T0_MS: i64 = 1_740_787_200_000;
/// Time between two samples of one signal.
pub const STEP_MS: i64 = 100;

/// Writes `dir/agent.toml` and `dir/agent.db` with `rows` samples spread over [`SIGNALS`];
/// every 1000th sample marks its signal unavailable. Returns the configuration's path.
pub fn build(dir: &Path, rows: usize) -> PathBuf {
    let db = dir.join("agent.db");
    let mut cfg = format!(
        "[agent]\nmachine_id = \"big-01\"\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n\
         [[device]]\nname = \"d\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:1\"\n",
        db.display()
    );
    for (i, s) in SIGNALS.iter().enumerate() {
        cfg += &format!(
            "  [[device.tag]]\n  name = \"t{i}\"\n  table = \"input\"\n  address = {}\n  type = \"f32\"\n  signal = \"{s}\"\n",
            2 * i
        );
    }
    let file = dir.join("agent.toml");
    std::fs::write(&file, &cfg).unwrap();
    let config = agent::config::load(&file).unwrap();
    let state = Arc::new(agent::state::State::new(&config));
    agent::store::Store::open(&config.store, &state)
        .unwrap()
        .close();
    let mut conn = Connection::open(&db).unwrap();
    let ids: Vec<i64> = SIGNALS
        .iter()
        .map(|s| {
            conn.query_row("SELECT id FROM signal WHERE name = ?1", [s], |r| r.get(0))
                .unwrap()
        })
        .collect();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare("INSERT INTO sample (signal_id, ts_ms, num, txt) VALUES (?1, ?2, ?3, NULL)")
            .unwrap();
        for i in 0..rows {
            let (s, k) = (i % ids.len(), (i / ids.len()) as i64);
            stmt.execute(params![ids[s], T0_MS + k * STEP_MS, value(i)])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    file
}

/// The value of the `i`-th inserted sample (`None`: unavailable).
pub fn value(i: usize) -> Option<f64> {
    (i % 1000 != 999).then_some((i % 977) as f64 * 0.25)
}
