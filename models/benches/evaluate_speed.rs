//! Wall time and peak memory of the leave-one-group-out evaluation (run with
//! `cargo bench -p models --bench evaluate_speed [-- NAME...]`, a release build; NAME is
//! any of `phm2010`, `nasa`, `synthetic`, `synthetic-clean`, default all).
//!
//! `synthetic` is the table of `models::data::synthetic` at the size of issue 17 (2,000
//! rows, 13 tools, 150 input columns, 2 % of the signal cells empty, a constant and a
//! mostly-empty column), written to a temporary file and read through the CSV path as
//! `models evaluate --csv` does; `synthetic-clean` is the same table without empty cells
//! or unusable columns. Folds run on every available core, as on the command line.
//! Peak memory is the process's high-water mark (VmHWM), so run one NAME per process to
//! read it per data set.

use std::path::PathBuf;
use std::time::Instant;

use models::data::csv::{load, CsvSpec};
use models::data::synthetic::SyntheticTable;
use models::data::{nasa, phm2010, WearDataset, DATASETS_ENV};
use models::evaluate::{leave_one_group_out_with, EvaluateOptions};
use models::wear::TrainConfig;

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn synthetic(clean: bool) -> WearDataset {
    let table = SyntheticTable {
        clean,
        ..SyntheticTable::default()
    };
    let path = std::env::temp_dir().join(format!(
        "models-bench-{}-{}.csv",
        std::process::id(),
        if clean { "clean" } else { "holes" }
    ));
    std::fs::write(&path, table.csv()).expect("temporary file");
    let spec = CsvSpec {
        group: "tool".into(),
        order: "minutes".into(),
        target: "VB".into(),
        features: None,
        class: Some("material".into()),
        limit: 0.3,
    };
    let data = load(&path, &spec).expect("synthetic table loads");
    std::fs::remove_file(&path).ok();
    data
}

fn main() {
    let dir = std::env::var_os(DATASETS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"));
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |n: &str| names.is_empty() || names.iter().any(|a| a == n);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    println!("folds on {threads} thread(s)");
    let load = |name: &str| -> Option<WearDataset> {
        match name {
            "phm2010" => dir
                .join(phm2010::FOLDER)
                .is_dir()
                .then(|| phm2010::load(&dir, None).expect("PHM 2010 loads")),
            "nasa" => dir
                .join(nasa::FOLDER)
                .is_dir()
                .then(|| nasa::load(&dir, None).expect("NASA loads")),
            "synthetic" => Some(synthetic(false)),
            _ => Some(synthetic(true)),
        }
    };
    for name in ["phm2010", "nasa", "synthetic", "synthetic-clean"] {
        if !wanted(name) {
            continue;
        }
        let Some(data) = load(name) else {
            println!(
                "{name}: SKIPPED, not found under {} (set {DATASETS_ENV})",
                dir.display()
            );
            continue;
        };
        let rows: usize = data.sequences.iter().map(|s| s.len()).sum();
        let start = Instant::now();
        let report = leave_one_group_out_with(
            &data,
            &TrainConfig::default(),
            EvaluateOptions::default(),
            &|_| {},
        )
        .expect("evaluation");
        let seconds = start.elapsed().as_secs_f64();
        let o = &report.overall;
        let b = o.baseline.clone().unwrap_or_default();
        println!(
            "{name}: {rows} rows, {} tools, {} input columns: {seconds:.2} s wall; mean RMSE {:.4} (time only {:.4}, plain linear {:.4}); pooled 80 % coverage {:.1} %, worst tool {:.1} % ({}); peak memory {} MB",
            report.folds.len(),
            data.feature_names.len(),
            o.mean_rmse,
            b.time_only_rmse,
            b.linear_rmse,
            100.0 * o.coverage80,
            100.0 * o.worst_coverage80,
            o.worst_group,
            peak_memory_mb().map_or("?".into(), |m| format!("{m:.0}")),
        );
    }
}
