//! Any CSV in the shape of the wear data sets: one row per cut, a group column (tool),
//! an order column (usage), a target column (wear, may be empty) and feature columns.

use std::path::Path;

use super::table::Table;
use super::{build_sequences, Cleaning, DataError, DroppedColumn, WearDataset};

/// A feature column with more than this share of empty cells is left out: what is left
/// would be mostly imputed values, which carry no information about wear.
pub const MAX_EMPTY_SHARE: f64 = 0.5;

/// How to read a wear table from a CSV file.
#[derive(Debug, Clone)]
pub struct CsvSpec {
    pub group: String,
    pub order: String,
    pub target: String,
    /// Feature columns; `None` means every numeric column except group, order, target, class.
    pub features: Option<Vec<String>>,
    /// Optional tool / material class column (the physics prior is fitted per class).
    pub class: Option<String>,
    pub limit: f64,
}

pub fn load(path: &Path, spec: &CsvSpec) -> Result<WearDataset, DataError> {
    let table = Table::read(path)?;
    let group = table.string_column(&spec.group)?;
    let usage = table.f64_column(&spec.order)?;
    let target = table.f64_column_opt(&spec.target)?;
    let class = match &spec.class {
        Some(c) => table.string_column(c)?,
        None => vec!["all".to_string(); table.height()],
    };
    let reserved = [
        Some(spec.group.as_str()),
        Some(spec.order.as_str()),
        Some(spec.target.as_str()),
        spec.class.as_deref(),
    ];
    let feature_names: Vec<String> = match &spec.features {
        Some(f) => f.clone(),
        None => table
            .column_names()
            .into_iter()
            .filter(|n| !reserved.contains(&Some(n.as_str())) && table.is_numeric(n))
            .collect(),
    };
    // Columns that cannot inform a model are left out with a note rather than stopping
    // the run: mostly empty ones, and ones with a single value in every row (they would
    // only duplicate the intercept; in the physics prior they make the fit singular).
    let mut cleaning = Cleaning::default();
    let mut names = Vec::with_capacity(feature_names.len());
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(feature_names.len());
    for name in feature_names {
        let column = table.f64_column_opt(&name)?;
        let present: Vec<f64> = column.iter().flatten().copied().collect();
        let empty = 1.0 - present.len() as f64 / column.len().max(1) as f64;
        let reason = if empty > MAX_EMPTY_SHARE {
            Some(format!("{:.0} % of its cells are empty", 100.0 * empty))
        } else if present.iter().all(|v| *v == present[0]) {
            Some(format!("the same value ({}) in every row", present[0]))
        } else {
            None
        };
        match reason {
            Some(reason) => cleaning.dropped.push(DroppedColumn {
                column: name,
                reason,
            }),
            None => {
                names.push(name);
                // NaN marks an empty cell until it is imputed.
                columns.push(column.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect());
            }
        }
    }
    let feature_names = names;
    if feature_names.is_empty() {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "no usable feature column ({} left out as empty or constant)",
                cleaning.dropped.len()
            ),
        });
    }
    let rows = (0..table.height())
        .map(|i| {
            (
                group[i].clone(),
                class[i].clone(),
                usage[i],
                columns.iter().map(|c| c[i]).collect(),
                target[i],
            )
        })
        .collect();
    let mut sequences = build_sequences(path, rows)?;
    // Empty cells: the tool's previous value where it has one (sequences are in usage
    // order by now); cells before a tool's first value stay NaN for the training median,
    // which the evaluation takes in every fold from the training tools only.
    cleaning.carried_forward = sequences.iter_mut().map(|s| s.carry_forward()).sum();
    cleaning.median_filled = sequences
        .iter()
        .flat_map(|s| &s.features)
        .map(|r| r.iter().filter(|x| x.is_nan()).count())
        .sum();
    if sequences.len() < 2 {
        return Err(DataError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "column `{}` has {} group(s); leave-one-group-out needs at least 2",
                spec.group,
                sequences.len()
            ),
        });
    }
    Ok(WearDataset {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "csv".into()),
        sources: vec![path.to_path_buf()],
        usage_name: spec.order.clone(),
        usage_unit: spec.order.clone(),
        target_name: spec.target.clone(),
        target_unit: String::new(),
        feature_names,
        limit: spec.limit,
        sequences,
        cleaning,
    })
}
