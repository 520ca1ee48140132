//! Training and prediction speed on PHM 2010 (run with
//! `cargo bench -p models --bench phm2010_speed`, a release build).
//!
//! Prints the wall time to fit the wear model on all three cutters (the same fit as
//! `models train phm2010`, including the inner leave-one-cutter-out that chooses the
//! penalty and calibrates the intervals), and the time to predict one cut (feature
//! transform, prior, learned model, filter, intervals, remaining life).

use std::path::PathBuf;
use std::time::Instant;

use models::data::{phm2010, DATASETS_ENV};
use models::wear::{TrainConfig, WearModel};
use models::CutRecord;

fn main() {
    let dir = std::env::var_os(DATASETS_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"));
    if !dir.join(phm2010::FOLDER).is_dir() {
        println!(
            "SKIPPED: {} not found (set {DATASETS_ENV})",
            dir.join(phm2010::FOLDER).display()
        );
        return;
    }
    let start = Instant::now();
    let data = phm2010::load(&dir, None).expect("PHM 2010 loads");
    let load_s = start.elapsed().as_secs_f64();
    let cfg = TrainConfig::default();

    let runs = 5;
    let mut fit_s = Vec::with_capacity(runs);
    let mut model = None;
    for _ in 0..runs {
        let t = Instant::now();
        model = Some(WearModel::fit(&data, &cfg).expect("fit"));
        fit_s.push(t.elapsed().as_secs_f64());
    }
    let model = model.expect("at least one run");
    fit_s.sort_by(f64::total_cmp);

    // Predict every cut of every cutter as new tools, timing each cut.
    let cuts: Vec<(String, Vec<CutRecord>)> = data
        .sequences
        .iter()
        .map(|s| {
            (
                s.class.clone(),
                s.usage
                    .iter()
                    .zip(&s.features)
                    .map(|(u, f)| CutRecord::from_row(*u, &data.feature_names, f))
                    .collect(),
            )
        })
        .collect();
    let mut per_cut = Vec::new();
    for _ in 0..3 {
        for (class, seq) in &cuts {
            let mut state = model.new_tool(class);
            for cut in seq {
                let t = Instant::now();
                let p = model.predict_cut(&mut state, cut).expect("predict");
                per_cut.push(t.elapsed().as_secs_f64());
                std::hint::black_box(p);
            }
        }
    }
    per_cut.sort_by(f64::total_cmp);
    let mean = per_cut.iter().sum::<f64>() / per_cut.len() as f64;
    let pct = |p: f64| per_cut[((per_cut.len() - 1) as f64 * p) as usize];

    println!("PHM 2010 speed (release build, this machine)");
    println!("  load CSVs (polars, lazy join): {:.3} s", load_s);
    println!(
        "  fit on 3 cutters x 315 cuts ({} inputs): median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs (target < 2 s)",
        model.feature_names().len(),
        fit_s[runs / 2],
        fit_s[0],
        fit_s[runs - 1]
    );
    println!(
        "  predict one cut: mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {} cuts (target < 1 ms)",
        mean * 1e6,
        pct(0.5) * 1e6,
        pct(0.99) * 1e6,
        per_cut[per_cut.len() - 1] * 1e6,
        per_cut.len()
    );
}
