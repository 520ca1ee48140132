//! Data sets: wear sequences (one per cutting tool / test case) and the bearing run.
//!
//! Every loader produces the same shape, [`WearDataset`], so the evaluation and training
//! code has one path for the named data sets and for any CSV given on the command line.

// Without the `train` feature only prediction is compiled in; the fitting code's helpers
// stay in place (one file for one model) but are unused.
#![cfg_attr(not(feature = "train"), allow(dead_code, unused_imports))]

// The loaders read CSV with polars: training only.
#[cfg(feature = "train")]
pub mod csv;
#[cfg(feature = "train")]
pub mod ims;
#[cfg(feature = "train")]
pub mod nasa;
#[cfg(feature = "train")]
pub mod phm2010;
#[cfg(feature = "train")]
pub mod table;

use std::path::{Path, PathBuf};

/// Environment variable that points at the shared data sets.
pub const DATASETS_ENV: &str = "GREEN_DATASETS";

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: file not found", path = .path.display())]
    FileNotFound { path: PathBuf },
    #[error("{path}: cannot read CSV: {message}", path = .path.display())]
    Read { path: PathBuf, message: String },
    #[error("{path}: column `{column}` not found (columns: {available})", path = .path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    #[error("{path}: column `{column}` is not numeric (read as {dtype})", path = .path.display())]
    NotNumeric {
        path: PathBuf,
        column: String,
        dtype: String,
    },
    #[error("{path}: column `{column}` is empty on line {line}", path = .path.display())]
    MissingValue {
        path: PathBuf,
        column: String,
        line: usize,
    },
    #[error("{path}: {message}", path = .path.display())]
    Invalid { path: PathBuf, message: String },
}

/// The cuts of one tool (or one test case), in order of usage.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Group label (cutter / case); leave-one-group-out holds one of these out.
    pub group: String,
    /// Tool / material class: the physics prior is fitted per class.
    pub class: String,
    /// Usage at the end of each cut (cut count or cumulative cutting minutes), increasing.
    pub usage: Vec<f64>,
    /// Per-cut feature values, `features[row][j]` in the order of `WearDataset::feature_names`.
    pub features: Vec<Vec<f64>>,
    /// Measured flank wear after the cut; `None` where it was not measured.
    pub target: Vec<Option<f64>>,
}

impl Sequence {
    pub fn len(&self) -> usize {
        self.usage.len()
    }

    pub fn is_empty(&self) -> bool {
        self.usage.is_empty()
    }
}

/// Wear sequences of several tools with a common feature layout.
#[derive(Debug, Clone)]
pub struct WearDataset {
    /// Short name (`phm2010`, `nasa-milling`, or the CSV file name).
    pub name: String,
    /// Files the data came from.
    pub sources: Vec<PathBuf>,
    pub usage_name: String,
    pub usage_unit: String,
    pub target_name: String,
    pub target_unit: String,
    pub feature_names: Vec<String>,
    /// Wear limit used for remaining-life truth (same unit as the target).
    pub limit: f64,
    pub sequences: Vec<Sequence>,
}

impl WearDataset {
    pub fn groups(&self) -> Vec<String> {
        self.sequences.iter().map(|s| s.group.clone()).collect()
    }

    /// Number of rows with a measured target.
    pub fn labelled_rows(&self) -> usize {
        self.sequences
            .iter()
            .map(|s| s.target.iter().filter(|t| t.is_some()).count())
            .sum()
    }

    /// The data set without the named group, and that group alone.
    pub fn split_out(&self, group: &str) -> (WearDataset, Sequence) {
        let mut train = self.clone();
        train.sequences.retain(|s| s.group != group);
        let test = self
            .sequences
            .iter()
            .find(|s| s.group == group)
            .cloned()
            .expect("group taken from the data set itself");
        (train, test)
    }
}

/// Locate the shared data sets: explicit option, then `GREEN_DATASETS`, then
/// `../shared/datasets` relative to the workspace root (this crate's parent).
pub fn datasets_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os(DATASETS_ENV) {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets")
}

/// One table row on its way into a sequence: (group, class, usage, features, target).
pub(crate) type Row = (String, String, f64, Vec<f64>, Option<f64>);

/// Group rows into sequences by group label, each sorted by usage.
pub(crate) fn build_sequences(path: &Path, rows: Vec<Row>) -> Result<Vec<Sequence>, DataError> {
    let mut order: Vec<String> = Vec::new();
    let mut by_group: std::collections::HashMap<String, Vec<_>> = Default::default();
    for row in rows {
        if !by_group.contains_key(&row.0) {
            order.push(row.0.clone());
        }
        by_group.entry(row.0.clone()).or_default().push(row);
    }
    let mut out = Vec::with_capacity(order.len());
    for group in order {
        let mut rows = by_group.remove(&group).unwrap_or_default();
        rows.sort_by(|a, b| a.2.total_cmp(&b.2));
        let class = rows[0].1.clone();
        if let Some(r) = rows.iter().find(|r| r.1 != class) {
            return Err(DataError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "group `{group}` has more than one class (`{class}` and `{}`); a tool keeps its class",
                    r.1
                ),
            });
        }
        let mut seq = Sequence {
            group,
            class,
            usage: Vec::with_capacity(rows.len()),
            features: Vec::with_capacity(rows.len()),
            target: Vec::with_capacity(rows.len()),
        };
        for (_, _, u, f, t) in rows {
            seq.usage.push(u);
            seq.features.push(f);
            seq.target.push(t);
        }
        out.push(seq);
    }
    Ok(out)
}
