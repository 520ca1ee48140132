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
pub mod synthetic;
#[cfg(feature = "train")]
pub mod table;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// What the loader did to empty cells and unusable columns (CSV tables).
    pub cleaning: Cleaning,
}

/// What was done to a table's empty cells and unusable columns, reported beside the
/// figures so that a user knows what the model was fed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cleaning {
    /// Empty feature cells filled with the same tool's previous value.
    pub carried_forward: usize,
    /// Empty feature cells with no earlier value in their tool (its first cuts): filled
    /// with the column's median over the training tools, in every fold anew.
    pub median_filled: usize,
    /// Feature columns left out, each with the reason.
    pub dropped: Vec<DroppedColumn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedColumn {
    pub column: String,
    pub reason: String,
}

impl Sequence {
    /// Fill the cells still empty (NaN) with `medians` (one per feature column); returns
    /// how many were filled.
    pub fn fill_holes(&mut self, medians: &[f64]) -> usize {
        let mut filled = 0;
        for row in &mut self.features {
            for (x, m) in row.iter_mut().zip(medians) {
                if x.is_nan() {
                    *x = *m;
                    filled += 1;
                }
            }
        }
        filled
    }

    /// Carry each column's last value forward over empty (NaN) cells, in usage order:
    /// what a sensor that dropped one reading most likely read. Causal, so the agent could
    /// do the same online. Returns how many cells were filled.
    pub fn carry_forward(&mut self) -> usize {
        let width = self.features.first().map_or(0, Vec::len);
        let mut last = vec![f64::NAN; width];
        let mut filled = 0;
        for row in &mut self.features {
            for (x, l) in row.iter_mut().zip(last.iter_mut()) {
                if x.is_nan() {
                    if !l.is_nan() {
                        *x = *l;
                        filled += 1;
                    }
                } else {
                    *l = *x;
                }
            }
        }
        filled
    }
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

    /// True if any feature cell is empty (NaN): the CSV loader leaves a tool's leading
    /// empty cells for the training median, which depends on the fold.
    pub fn has_holes(&self) -> bool {
        self.sequences
            .iter()
            .any(|s| s.features.iter().any(|r| r.iter().any(|x| x.is_nan())))
    }

    /// Median of every feature column over the present (non-NaN) cells of all tools;
    /// 0 for a column with none.
    pub fn feature_medians(&self) -> Vec<f64> {
        (0..self.feature_names.len())
            .map(|j| {
                let mut v: Vec<f64> = self
                    .sequences
                    .iter()
                    .flat_map(|s| s.features.iter().map(move |r| r[j]))
                    .filter(|x| !x.is_nan())
                    .collect();
                if v.is_empty() {
                    return 0.0;
                }
                v.sort_by(f64::total_cmp);
                let n = v.len();
                if n % 2 == 1 {
                    v[n / 2]
                } else {
                    0.5 * (v[n / 2 - 1] + v[n / 2])
                }
            })
            .collect()
    }

    /// Fill the remaining empty cells of every tool with this data set's medians (used
    /// when the whole data set is the training set); returns how many were filled.
    pub fn fill_holes_with_own_medians(&mut self) -> usize {
        if !self.has_holes() {
            return 0;
        }
        let medians = self.feature_medians();
        self.sequences
            .iter_mut()
            .map(|s| s.fill_holes(&medians))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(group: &str, column: &[f64]) -> Sequence {
        Sequence {
            group: group.into(),
            class: "all".into(),
            usage: (1..=column.len()).map(|u| u as f64).collect(),
            features: column.iter().map(|v| vec![*v, 1.0]).collect(),
            target: vec![Some(0.0); column.len()],
        }
    }

    #[test]
    fn carry_forward_fills_from_the_same_tools_previous_cut_only() {
        let nan = f64::NAN;
        let mut s = seq("a", &[nan, nan, 2.0, nan, nan, 5.0, nan]);
        assert_eq!(s.carry_forward(), 3);
        let col: Vec<f64> = s.features.iter().map(|r| r[0]).collect();
        assert!(col[0].is_nan() && col[1].is_nan());
        assert_eq!(&col[2..], &[2.0, 2.0, 2.0, 5.0, 5.0]);
        // The leading cells take the median given, the others are left alone.
        assert_eq!(s.fill_holes(&[9.0, 0.0]), 2);
        assert_eq!(s.features[0][0], 9.0);
        assert_eq!(s.features[2][0], 2.0);
    }

    /// The median a held-out tool's leading cells get comes from the training tools only.
    #[test]
    fn medians_skip_empty_cells_and_come_from_the_tools_given() {
        let nan = f64::NAN;
        let data = WearDataset {
            name: "t".into(),
            sources: vec![],
            usage_name: "cut".into(),
            usage_unit: "cuts".into(),
            target_name: "VB".into(),
            target_unit: String::new(),
            feature_names: vec!["x".into(), "one".into()],
            limit: 1.0,
            sequences: vec![
                seq("a", &[1.0, 2.0, nan]),
                seq("b", &[3.0, 4.0]),
                seq("c", &[100.0, 100.0]),
            ],
            cleaning: Cleaning::default(),
        };
        assert!(data.has_holes());
        // 1, 2, 3, 4, 100, 100 (the empty cell is not a value).
        assert_eq!(data.feature_medians(), vec![3.5, 1.0]);
        let (train, _) = data.split_out("c");
        assert_eq!(train.feature_medians(), vec![2.5, 1.0]);
        let mut all = data.clone();
        assert_eq!(all.fill_holes_with_own_medians(), 1);
        assert!(!all.has_holes());
        assert_eq!(all.sequences[0].features[2][0], 3.5);
    }
}
