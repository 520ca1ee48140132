//! The one way a connection to a store file is opened, with one set of pragmas.
//!
//! WAL lets readers see a consistent snapshot while the writer commits, and never blocks the
//! writer. The writer's commits are `synchronous = FULL`: each (at most one per flush interval)
//! reaches the card, so a power cut loses at most the last interval, never the file.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

/// How long a connection waits for another one's lock before it reports the file busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The WAL file's size after a checkpoint, at most (bytes).
pub const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// A read-write connection; creates the file (and its directory) when missing.
pub fn open_rw(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating store directory {}", dir.display()))?;
    }
    let conn =
        Connection::open(path).with_context(|| format!("opening store {}", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // auto_vacuum only takes effect on a new file; it lets retention give pages back.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    anyhow::ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "store {}: WAL mode unavailable ({mode})",
        path.display()
    );
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The WAL grows while a reader holds an old snapshot (a long export) and is reused, not
    // shrunk, afterwards: once a checkpoint restarts it, it is cut back to this size.
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// A read-only connection, for readers beside the writer (API, fleet tailing, exports).
pub fn open_read_only(path: &Path) -> Result<Connection> {
    anyhow::ensure!(
        path.is_file(),
        "store file {} does not exist (the [store] path of the configuration)",
        path.display()
    );
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening store {} read-only", path.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}
