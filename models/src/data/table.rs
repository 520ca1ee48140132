//! Reading CSV tables with polars and moving columns out as plain vectors.
//!
//! polars and linfa depend on different `ndarray` versions, so nothing polars-typed
//! leaves this module: callers get `Vec<f64>` / `Vec<String>` and errors that name the
//! file and the column.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::DataError;

/// A CSV file loaded into memory (all columns, types inferred from every row).
pub struct Table {
    path: PathBuf,
    df: DataFrame,
}

/// Lazily scan a CSV file (header row, types inferred from the whole file).
pub fn scan_csv(path: &Path) -> Result<LazyFrame, DataError> {
    if !path.is_file() {
        return Err(DataError::FileNotFound {
            path: path.to_path_buf(),
        });
    }
    let pl_path = PlRefPath::try_from_path(path).map_err(|e| read_error(path, e))?;
    LazyCsvReader::new(pl_path)
        .with_has_header(true)
        .with_infer_schema_length(None)
        .finish()
        .map_err(|e| read_error(path, e))
}

pub(crate) fn read_error(path: &Path, source: PolarsError) -> DataError {
    DataError::Read {
        path: path.to_path_buf(),
        message: source.to_string(),
    }
}

impl Table {
    /// Read the whole file.
    pub fn read(path: &Path) -> Result<Table, DataError> {
        let df = scan_csv(path)?.collect().map_err(|e| read_error(path, e))?;
        Ok(Table {
            path: path.to_path_buf(),
            df,
        })
    }

    /// Wrap a frame that was produced from `path` (e.g. by a lazy join).
    pub fn from_frame(path: &Path, df: DataFrame) -> Table {
        Table {
            path: path.to_path_buf(),
            df,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn height(&self) -> usize {
        self.df.height()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.df
            .get_column_names()
            .into_iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// True when the column holds numbers (integers, floats) or booleans.
    pub fn is_numeric(&self, name: &str) -> bool {
        self.df
            .column(name)
            .map(|c| c.dtype().is_primitive_numeric() || c.dtype().is_bool())
            .unwrap_or(false)
    }

    fn column(&self, name: &str) -> Result<&Column, DataError> {
        self.df.column(name).map_err(|_| DataError::MissingColumn {
            path: self.path.clone(),
            column: name.to_string(),
            available: self.column_names().join(", "),
        })
    }

    /// A numeric column; empty cells become `None`. Text that is not a number is an error.
    pub fn f64_column_opt(&self, name: &str) -> Result<Vec<Option<f64>>, DataError> {
        let column = self.column(name)?;
        let dtype = column.dtype().clone();
        if !(dtype.is_primitive_numeric() || dtype.is_bool() || dtype.is_null()) {
            return Err(DataError::NotNumeric {
                path: self.path.clone(),
                column: name.to_string(),
                dtype: dtype.to_string(),
            });
        }
        let series = column
            .as_materialized_series()
            .strict_cast(&DataType::Float64)
            .map_err(|_| DataError::NotNumeric {
                path: self.path.clone(),
                column: name.to_string(),
                dtype: dtype.to_string(),
            })?;
        let ca = series.f64().map_err(|e| read_error(&self.path, e))?;
        Ok(ca.iter().map(|v| v.filter(|x| x.is_finite())).collect())
    }

    /// A numeric column that must have a value in every row.
    pub fn f64_column(&self, name: &str) -> Result<Vec<f64>, DataError> {
        self.f64_column_opt(name)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| DataError::MissingValue {
                    path: self.path.clone(),
                    column: name.to_string(),
                    // +2: one for the header line, one because people count from 1.
                    line: i + 2,
                })
            })
            .collect()
    }

    /// Any column rendered as text (used for group and class labels).
    pub fn string_column(&self, name: &str) -> Result<Vec<String>, DataError> {
        let column = self.column(name)?;
        let series = column
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|e| read_error(&self.path, e))?;
        let ca = series.str().map_err(|e| read_error(&self.path, e))?;
        ca.iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(str::to_string)
                    .ok_or_else(|| DataError::MissingValue {
                        path: self.path.clone(),
                        column: name.to_string(),
                        line: i + 2,
                    })
            })
            .collect()
    }
}
