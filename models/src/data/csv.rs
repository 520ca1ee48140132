//! Any CSV in the shape of the wear data sets: one row per cut, a group column (tool),
//! an order column (usage), a target column (wear, may be empty) and feature columns.

use std::path::Path;

use super::table::Table;
use super::{build_sequences, DataError, WearDataset};

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
    let columns: Vec<Vec<f64>> = feature_names
        .iter()
        .map(|n| table.f64_column(n))
        .collect::<Result<_, _>>()?;
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
    let sequences = build_sequences(path, rows)?;
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
    })
}
