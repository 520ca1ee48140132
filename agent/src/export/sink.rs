//! Rows in, file out: a chunk of rows is collected column by column (typed vectors named by
//! the dictionary), turned into one polars DataFrame and handed to polars' batched CSV or
//! Parquet writer, then dropped. Only one chunk is ever in memory.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use polars::prelude::*;

use super::dictionary::{Kind, Table};
use super::{Format, CHUNK};

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    F(f64),
    I(i64),
    B(bool),
    T(String),
    /// ms since the Unix epoch.
    Ts(i64),
}

/// `ms` as the plant's local time, RFC 3339 with its offset (`2026-12-05T22:56:38+08:00`): the
/// `*_local` columns beside each `*_utc` one, for a reader who thinks in shift times.
pub fn local(ms: i64, utc_offset_min: i64) -> String {
    let offset = chrono::FixedOffset::east_opt((utc_offset_min * 60) as i32)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&offset)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Cell {
        v.map_or(Cell::Null, Cell::F)
    }
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Cell {
        v.map_or(Cell::Null, Cell::T)
    }
}

impl From<Option<&str>> for Cell {
    fn from(v: Option<&str>) -> Cell {
        v.map_or(Cell::Null, |s| Cell::T(s.to_string()))
    }
}

/// One column of a chunk, typed as the dictionary says.
enum Data {
    F(Vec<Option<f64>>),
    I(Vec<Option<i64>>),
    B(Vec<Option<bool>>),
    T(Vec<Option<String>>),
}

impl Data {
    fn new(kind: Kind) -> Data {
        match kind {
            Kind::Float => Data::F(Vec::with_capacity(CHUNK)),
            Kind::Int | Kind::Timestamp => Data::I(Vec::with_capacity(CHUNK)),
            Kind::Bool => Data::B(Vec::with_capacity(CHUNK)),
            Kind::Text | Kind::Json => Data::T(Vec::with_capacity(CHUNK)),
        }
    }

    /// Appends a cell; a cell of the wrong type is a bug in an exporter, caught by its tests.
    fn push(&mut self, cell: Cell, name: &str) {
        match (self, cell) {
            (Data::F(v), Cell::F(x)) => v.push(x.is_finite().then_some(x)),
            (Data::F(v), Cell::I(x)) => v.push(Some(x as f64)),
            (Data::I(v), Cell::I(x) | Cell::Ts(x)) => v.push(Some(x)),
            (Data::B(v), Cell::B(x)) => v.push(Some(x)),
            (Data::T(v), Cell::T(x)) => v.push(Some(x)),
            (Data::F(v), Cell::Null) => v.push(None),
            (Data::I(v), Cell::Null) => v.push(None),
            (Data::B(v), Cell::Null) => v.push(None),
            (Data::T(v), Cell::Null) => v.push(None),
            (_, cell) => panic!("export column `{name}`: a {cell:?} does not fit its type"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
            Data::B(v) => v.len(),
            Data::T(v) => v.len(),
        }
    }
}

/// Timestamps: typed Datetime(ms, UTC) in Parquet; in CSV a naive Datetime printed as ISO 8601
/// with a `Z` (the values are UTC), since CSV has no time zones.
fn time_zone(format: Format) -> Option<TimeZone> {
    match format {
        Format::Parquet => Some(TimeZone::UTC),
        Format::Csv => None,
    }
}

fn dtype(kind: Kind, format: Format) -> DataType {
    match kind {
        Kind::Float => DataType::Float64,
        Kind::Int => DataType::Int64,
        Kind::Bool => DataType::Boolean,
        Kind::Text | Kind::Json => DataType::String,
        Kind::Timestamp => DataType::Datetime(TimeUnit::Milliseconds, time_zone(format)),
    }
}

pub fn schema(table: &Table, format: Format) -> Schema {
    table
        .columns
        .iter()
        .map(|c| Field::new(c.name.into(), dtype(c.kind, format)))
        .collect()
}

/// The output, shared with polars' writer so that it can be flushed (and its error seen) at
/// the end rather than lost in a drop.
#[derive(Clone)]
struct Out(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

enum Writer {
    Csv(polars::io::csv::write::BatchedWriter<Out>),
    Parquet(Box<polars::io::parquet::write::BatchedWriter<Out>>),
}

pub struct Sink {
    table: &'static Table,
    format: Format,
    columns: Vec<Data>,
    writer: Writer,
    out: Out,
    rows: u64,
}

impl Sink {
    pub fn new(table: &'static Table, format: Format, out: Box<dyn Write + Send>) -> Result<Sink> {
        let out = Out(Arc::new(Mutex::new(out)));
        let schema = schema(table, format);
        let writer = match format {
            Format::Csv => Writer::Csv(
                CsvWriter::new(out.clone())
                    // Excel takes a file without the mark for the local code page.
                    .include_bom(true)
                    .include_header(true)
                    .with_datetime_format(Some("%Y-%m-%dT%H:%M:%S%.3fZ".into()))
                    .batched(&schema)?,
            ),
            Format::Parquet => Writer::Parquet(Box::new(
                ParquetWriter::new(out.clone())
                    // Pure Rust and cheap on a Pi's CPU; every Parquet reader has it.
                    .with_compression(ParquetCompression::Snappy)
                    .batched(&schema)?,
            )),
        };
        Ok(Sink {
            table,
            format,
            columns: table.columns.iter().map(|c| Data::new(c.kind)).collect(),
            writer,
            out,
            rows: 0,
        })
    }

    /// Appends a row given in dictionary order; writes the chunk when it is full.
    pub fn push(&mut self, row: impl IntoIterator<Item = Cell>) -> Result<()> {
        let mut n = 0;
        for (i, cell) in row.into_iter().enumerate() {
            self.columns[i].push(cell, self.table.columns[i].name);
            n += 1;
        }
        assert_eq!(
            n,
            self.columns.len(),
            "an export row must fill every column"
        );
        if self.columns[0].len() >= CHUNK {
            self.write_chunk()?;
        }
        Ok(())
    }

    /// Appends a row built by column name.
    pub fn push_named(&mut self, row: Row) -> Result<()> {
        self.push(row.cells)
    }

    fn frame(&mut self) -> Result<DataFrame> {
        let format = self.format;
        let columns = self
            .columns
            .iter_mut()
            .zip(self.table.columns)
            .map(|(data, col)| {
                let name: PlSmallStr = col.name.into();
                let fresh = Data::new(col.kind);
                let series = match std::mem::replace(data, fresh) {
                    Data::F(v) => Series::new(name, v),
                    Data::B(v) => Series::new(name, v),
                    Data::T(mut v) => {
                        if format == Format::Csv {
                            v.iter_mut().flatten().for_each(formula_safe);
                        }
                        Series::new(name, v)
                    }
                    Data::I(v) if col.kind == Kind::Timestamp => Series::new(name, v)
                        .into_datetime(TimeUnit::Milliseconds, time_zone(format)),
                    Data::I(v) => Series::new(name, v),
                };
                Column::from(series)
            })
            .collect::<Vec<_>>();
        Ok(DataFrame::new_infer_height(columns)?)
    }

    fn write_chunk(&mut self) -> Result<()> {
        let n = self.columns[0].len();
        if n == 0 {
            return Ok(());
        }
        let df = self.frame()?;
        match &mut self.writer {
            Writer::Csv(w) => w.write_batch(&df)?,
            Writer::Parquet(w) => w.write_batch(&df)?,
        }
        self.rows += n as u64;
        Ok(())
    }

    /// Writes the last chunk and the file's end (header of an empty CSV, Parquet footer) and
    /// flushes. Returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.write_chunk()?;
        match &mut self.writer {
            Writer::Csv(w) => w.finish()?,
            Writer::Parquet(w) => {
                w.finish()?;
            }
        }
        self.out.flush().context("writing the export")?;
        Ok(self.rows)
    }
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or carriage
/// return before one) gets a leading `'`, which spreadsheets show as text: a tool name or an
/// operator's note typed on the shop floor must not become a formula on the remanufacturing
/// engineer's computer (OWASP, "CSV injection"). Only in CSV: Parquet cells are typed, never run.
fn formula_safe(cell: &mut String) {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        cell.insert(0, '\'');
    }
}

/// A row filled by column name (the residual-life and operation exporters: few rows, many
/// columns, and names that read like the dictionary).
pub struct Row {
    table: &'static Table,
    cells: Vec<Cell>,
}

impl Row {
    pub fn new(table: &'static Table) -> Row {
        Row {
            table,
            cells: vec![Cell::Null; table.columns.len()],
        }
    }

    /// Sets a column; a name missing from the dictionary is a bug (the exporter's tests fill
    /// every row kind).
    pub fn set(&mut self, name: &str, cell: impl Into<Cell>) -> &mut Row {
        let i = self
            .table
            .index(name)
            .unwrap_or_else(|| panic!("no column `{name}` in the dictionary"));
        self.cells[i] = cell.into();
        self
    }

    #[cfg(test)]
    pub fn get(&self, name: &str) -> &Cell {
        &self.cells[self.table.index(name).expect("a dictionary column")]
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Cell {
        Cell::F(v)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::I(v)
    }
}

impl From<u64> for Cell {
    fn from(v: u64) -> Cell {
        Cell::I(v as i64)
    }
}

impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::B(v)
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::T(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::T(v.to_string())
    }
}

impl From<Option<i64>> for Cell {
    fn from(v: Option<i64>) -> Cell {
        v.map_or(Cell::Null, Cell::I)
    }
}

impl From<Option<bool>> for Cell {
    fn from(v: Option<bool>) -> Cell {
        v.map_or(Cell::Null, Cell::B)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_times_carry_the_plants_offset() {
        assert_eq!(super::local(1_000, 480), "1970-01-01T08:00:01+08:00");
        assert_eq!(super::local(0, -90), "1969-12-31T22:30:00-01:30");
    }

    use super::formula_safe;

    #[test]
    fn cells_a_spreadsheet_would_run_are_made_text() {
        for (cell, safe) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("T1 end mill", "T1 end mill"),
            ("", ""),
        ] {
            let mut c = cell.to_string();
            formula_safe(&mut c);
            assert_eq!(c, safe);
        }
    }
}
