//! NASA Ames milling data (Agogino & Goebel 2007): 16 cases, a few runs each.
//!
//! Target: VB (mm), missing on some runs (kept in the sequence, skipped as targets).
//! Usage: cumulative cutting time (min). Features: depth of cut, feed, material code.
//! Class for the physics prior: the material (cast iron / steel).

use std::path::Path;

use super::table::Table;
use super::{build_sequences, DataError, WearDataset};

pub const FOLDER: &str = "nasa_milling";
pub const FILE: &str = "process_info.csv";

/// ISO 3685: flank wear limit VB_B = 0.3 mm for uniform wear (default tool-life criterion).
pub const ISO3685_VB_LIMIT_MM: f64 = 0.3;

pub fn load(dir: &Path, limit: Option<f64>) -> Result<WearDataset, DataError> {
    let path = dir.join(FOLDER).join(FILE);
    let table = Table::read(&path)?;
    let case = table.string_column("case")?;
    table.f64_column("run")?;
    let time = table.f64_column("time")?;
    let vb = table.f64_column_opt("VB")?;
    let feature_names = vec!["DOC".to_string(), "feed".into(), "material".into()];
    let columns: Vec<Vec<f64>> = feature_names
        .iter()
        .map(|n| table.f64_column(n))
        .collect::<Result<_, _>>()?;
    let class = table.string_column("material_name")?;

    // Rows stay in file order where times are equal (the sort in build_sequences is stable).
    let rows = (0..table.height())
        .map(|i| {
            (
                case[i].clone(),
                class[i].clone(),
                time[i],
                columns.iter().map(|c| c[i]).collect(),
                vb[i],
            )
        })
        .collect();
    let sequences = build_sequences(&path, rows)?;
    Ok(WearDataset {
        name: "nasa-milling".into(),
        sources: vec![path],
        usage_name: "time".into(),
        usage_unit: "min".into(),
        target_name: "VB".into(),
        target_unit: "mm".into(),
        feature_names,
        limit: limit.unwrap_or(ISO3685_VB_LIMIT_MM),
        sequences,
        cleaning: Default::default(),
    })
}
