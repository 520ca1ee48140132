//! A store file SQLite cannot read as a database (a torn SD card, a file overwritten by
//! something else) is moved aside at start, with its WAL, so a fresh store can begin and the
//! old one stays for whoever wants to rescue it (`sqlite3 FILE .recover`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::ErrorCode;

/// Whether opening failed because the file is damaged or not a database at all: SQLite says
/// it is malformed, not a database, or shorter than its own header says (truncated). A newer
/// schema, a permission, a full disk or a failing card (other I/O errors) never move a file.
pub(super) fn is_corrupt(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| match c.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(f, _)) => {
                matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
                    || f.extended_code == rusqlite::ffi::SQLITE_IOERR_SHORT_READ
            }
            _ => false,
        })
}

/// Renames `path` to `<path>.corrupt-<UTC time>` and its WAL with it (the WAL belongs to the
/// file: opening the moved file finds it); the shared-memory index is rebuilt from them and is
/// removed. Returns where the file went.
pub(super) fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = chrono::DateTime::from_timestamp_millis(crate::value::now_ms())
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| "unknown-time".into());
    let with = |p: &Path, suffix: &str| {
        let mut s = p.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut to = with(path, &format!(".corrupt-{stamp}"));
    // Two damaged files within one second (a restart loop): never overwrite the first.
    let mut n = 1;
    while to.exists() {
        n += 1;
        to = with(path, &format!(".corrupt-{stamp}-{n}"));
    }
    std::fs::rename(path, &to)
        .with_context(|| format!("renaming {} to {}", path.display(), to.display()))?;
    let wal = with(path, "-wal");
    if wal.exists() {
        std::fs::rename(&wal, with(&to, "-wal"))
            .with_context(|| format!("renaming {}", wal.display()))?;
    }
    let _ = std::fs::remove_file(with(path, "-shm"));
    Ok(to)
}
