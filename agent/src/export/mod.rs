//! Exports of the store for people outside the shop floor: the remanufacturing engineer's
//! residual-life table, operations with their verdicts, and the signal history, as CSV or
//! Parquet, from the command line (`agent export`) and over HTTP (`GET /api/export`).
//!
//! Exports open the store file read-only, beside a running agent (WAL: the agent's writer is
//! never blocked), and stream: rows are read in chunks of [`CHUNK`], each chunk becomes one
//! polars DataFrame and is written (one Parquet row group, or CSV lines) before the next is
//! read, so memory stays flat however long the history. Column names and types come from
//! `dictionary.rs`, which also renders `agent/EXPORT.md`.

pub mod dictionary;
mod operations;
mod residual_life;
mod signals;
mod sink;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

pub use residual_life::LifeContext;

use crate::field::BadField;
use sink::Sink;

/// Rows per chunk: large enough that polars' per-batch costs vanish, small enough that a chunk
/// (as Rust values, then as a DataFrame, then encoded) costs ~25 MiB at its peak, measured by
/// `tests/export.rs` whatever the length of the export.
pub const CHUNK: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    ResidualLife,
    Operations,
    Signals,
}

impl What {
    pub const ALL: [What; 3] = [What::ResidualLife, What::Operations, What::Signals];

    pub fn name(self) -> &'static str {
        match self {
            What::ResidualLife => "residual-life",
            What::Operations => "operations",
            What::Signals => "signals",
        }
    }

    pub fn parse(s: &str) -> Result<What, BadField> {
        What::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                BadField::new(
                    "what",
                    format!("`what` must be one of residual-life, operations, signals; got `{s}`"),
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, BadField> {
        match s {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(BadField::new(
                "format",
                format!("`format` must be csv or parquet; got `{s}`"),
            )),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    pub what: What,
    pub format: Format,
    /// `from` ≤ t < `to`, ms since the Unix epoch.
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Request {
    /// From what the command line or the query string gives; an absent start is the beginning
    /// of the store, an absent end is now. `from_field` names the start in messages (`from` on
    /// the command line, `from_ms` in the API).
    pub fn parse(
        what: &str,
        format: &str,
        (from_ms, to_ms): (Option<i64>, Option<i64>),
        from_field: &'static str,
        now_ms: i64,
    ) -> Result<Request, BadField> {
        let what = What::parse(what)?;
        let format = Format::parse(format)?;
        let (from_ms, to_ms) = (from_ms.unwrap_or(0), to_ms.unwrap_or(now_ms));
        if from_ms >= to_ms {
            return Err(BadField::new(
                from_field,
                format!(
                    "the start ({}) must be before the end ({})",
                    crate::value::rfc3339(from_ms),
                    crate::value::rfc3339(to_ms)
                ),
            ));
        }
        Ok(Request {
            what,
            format,
            from_ms,
            to_ms,
        })
    }

    /// A download's file name, e.g. `vmc-01_residual-life_20250301T000000Z_20250401T000000Z.csv`.
    pub fn file_name(&self, machine_id: &str) -> String {
        let safe: String = machine_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stamp = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
                .unwrap_or_default()
        };
        format!(
            "{safe}_{}_{}_{}.{}",
            self.what.name(),
            stamp(self.from_ms),
            stamp(self.to_ms),
            self.format.extension()
        )
    }
}

/// RFC 3339 (`2025-03-01T06:00:00Z`, `...+08:00`) or a date (`2025-03-01`, midnight UTC).
pub fn parse_time(field: &'static str, s: &str) -> Result<i64, BadField> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis());
    }
    Err(BadField::new(
        field,
        format!(
            "`{field}` must be RFC 3339 (2025-03-01T06:00:00Z, 2025-03-01T14:00:00+08:00) or a date (2025-03-01); got `{s}`"
        ),
    ))
}

/// Writes one export to `out`; returns the number of rows. All of it is read in one read
/// transaction, so the file is one consistent snapshot of the store. While it lasts (a slow
/// download, say) the agent keeps writing; its WAL cannot be checkpointed past the snapshot
/// and grows by what is written meanwhile, then shrinks back: nothing is blocked or lost.
pub fn write(
    store: &Path,
    life: &LifeContext,
    req: &Request,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    let mut reader = crate::store::open_reader(store)?;
    let mut sink = Sink::new(dictionary::table(req.what), req.format, out)?;
    reader.snapshot(|r| match req.what {
        What::Signals => signals::export(r, life, req, &mut sink),
        What::Operations => operations::export(r, life, req, &mut sink),
        What::ResidualLife => residual_life::export(r, life, req, &mut sink),
    })?;
    sink.finish()
}

/// Writes an export to `out`, through a temporary file beside it renamed at the end: a failed
/// or interrupted export never leaves a partial file under the final name.
pub fn write_file(store: &Path, life: &LifeContext, req: &Request, out: &Path) -> Result<u64> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a file name", out.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.part", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("--out: creating {}", tmp.display()))?;
        let rows = write(store, life, req, Box::new(std::io::BufWriter::new(file)))?;
        std::fs::rename(&tmp, out)
            .with_context(|| format!("--out: renaming {} to {}", tmp.display(), out.display()))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `agent export`'s arguments (columns: agent/EXPORT.md).
#[derive(clap::Args)]
pub struct CliArgs {
    #[arg(long, short)]
    pub config: PathBuf,
    /// residual-life, operations or signals.
    #[arg(long)]
    pub what: String,
    /// Start, RFC 3339 or YYYY-MM-DD (UTC); default: the beginning of the store.
    #[arg(long)]
    pub from: Option<String>,
    /// End (excluded), RFC 3339 or YYYY-MM-DD (UTC); default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// csv or parquet.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Output file; `-` for standard output.
    #[arg(long)]
    pub out: PathBuf,
}

/// `agent export`: exit code 2 for bad arguments (named), 1 when the export fails.
pub fn cli(a: CliArgs) -> ExitCode {
    let times = (|| {
        Ok::<_, BadField>((
            a.from
                .as_deref()
                .map(|s| parse_time("from", s))
                .transpose()?,
            a.to.as_deref().map(|s| parse_time("to", s)).transpose()?,
        ))
    })();
    let req = match times
        .and_then(|t| Request::parse(&a.what, &a.format, t, "from", crate::value::now_ms()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --{}: {}", e.field, e.message);
            return ExitCode::from(2);
        }
    };
    let cfg = match crate::config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --config:\n{e}");
            return ExitCode::from(2);
        }
    };
    let stdout = a.out.as_os_str() == "-";
    if stdout && req.format == Format::Parquet {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() {
            eprintln!("error: --out -: Parquet is binary; give a file or pipe standard output");
            return ExitCode::from(2);
        }
    }
    if !cfg.store.path.is_file() {
        eprintln!(
            "error: --config: store file {} does not exist (its [store] path)",
            cfg.store.path.display()
        );
        return ExitCode::from(2);
    }
    let result = LifeContext::from_config(&cfg).and_then(|life| {
        if stdout {
            write(&cfg.store.path, &life, &req, Box::new(std::io::stdout()))
        } else {
            write_file(&cfg.store.path, &life, &req, &a.out)
        }
    });
    match result {
        Ok(rows) => {
            if !stdout {
                eprintln!(
                    "{} rows of {} written to {}",
                    rows,
                    req.what.name(),
                    a.out.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: export failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_export_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!(
            "agent-export-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // Opening succeeds (SQLite reads lazily); the export fails at its first read, after
        // the temporary file was created.
        let store = dir.join("agent.db");
        std::fs::write(&store, [b'x'; 4096]).unwrap();
        let life = LifeContext {
            machine_id: "m".into(),
            components: Vec::new(),
            model: None,
            assessed_ms: 0,
            utc_offset_min: 0,
        };
        let req = Request::parse("signals", "parquet", (None, None), "from", 1_000).unwrap();
        let err = write_file(&store, &life, &req, &dir.join("out.parquet")).unwrap_err();
        assert!(format!("{err:#}").contains("not a database"), "{err:#}");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["agent.db"]);
    }

    #[test]
    fn times_as_rfc3339_or_dates_and_bad_input_names_its_field() {
        assert_eq!(parse_time("from", "1970-01-02").unwrap(), 86_400_000);
        assert_eq!(
            parse_time("from", "2025-03-01T14:00:00+08:00").unwrap(),
            parse_time("from", "2025-03-01T06:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("to", "2025-03-01T06:00:00.250Z").unwrap() % 1000,
            250
        );
        assert_eq!(parse_time("to", "yesterday").unwrap_err().field, "to");
        let r = |w, f, a: Option<&str>, b: Option<&str>| {
            let t = |s: &str| parse_time("from", s).unwrap();
            Request::parse(w, f, (a.map(t), b.map(t)), "from", 1_000_000_000_000)
        };
        assert_eq!(
            r("everything", "csv", None, None).unwrap_err().field,
            "what"
        );
        assert_eq!(
            r("signals", "xlsx", None, None).unwrap_err().field,
            "format"
        );
        assert_eq!(
            r("signals", "csv", Some("2025-03-02"), Some("2025-03-01"))
                .unwrap_err()
                .field,
            "from"
        );
        let ok = r("residual-life", "parquet", None, None).unwrap();
        assert_eq!((ok.from_ms, ok.to_ms), (0, 1_000_000_000_000));
        assert_eq!(
            ok.file_name("vmc 01/a"),
            "vmc_01_a_residual-life_19700101T000000Z_20010909T014640Z.parquet"
        );
    }
}
