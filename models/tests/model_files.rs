//! Model files round-trip, refuse other format versions, and bad CSV input names the
//! file and the column.

mod common;

use std::path::PathBuf;

use models::data::csv::{load, CsvSpec};
use models::data::DataError;
use models::model_file::{load_wear_model, ModelFileError, WearModelFile, FORMAT_VERSION};
use models::wear::{TrainConfig, WearModel};
use models::CutRecord;

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("models-test-{}-{name}", std::process::id()))
}

#[test]
fn model_file_round_trip_gives_identical_predictions() {
    let data = common::synthetic(3, 60);
    let cfg = TrainConfig::default();
    let model = WearModel::fit(&data, &cfg).unwrap();
    let file = WearModelFile::new(model.clone(), &data, cfg, 0.0, None);
    let path = temp("roundtrip.json");
    file.save(&path).unwrap();
    let loaded = load_wear_model(&path).unwrap();
    assert_eq!(loaded, model);

    let seq = &data.sequences[1];
    let (mut a, mut b) = (model.new_tool(&seq.class), loaded.new_tool(&seq.class));
    for (u, f) in seq.usage.iter().zip(&seq.features) {
        let cut = CutRecord::from_row(*u, &data.feature_names, f);
        assert_eq!(
            model.predict_cut(&mut a, &cut).unwrap(),
            loaded.predict_cut(&mut b, &cut).unwrap()
        );
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn other_format_version_is_refused_clearly() {
    let data = common::synthetic(2, 40);
    let cfg = TrainConfig::default();
    let model = WearModel::fit(&data, &cfg).unwrap();
    let mut file = WearModelFile::new(model, &data, cfg, 0.0, None);
    file.format_version = FORMAT_VERSION + 1;
    let path = temp("future.json");
    file.save(&path).unwrap();
    let err = WearModelFile::load(&path).unwrap_err();
    assert!(
        matches!(err, ModelFileError::Version { found, .. } if found == u64::from(FORMAT_VERSION) + 1)
    );
    assert!(err.to_string().contains("version"), "{err}");

    std::fs::write(
        &path,
        r#"{"format": "something-else", "format_version": 1}"#,
    )
    .unwrap();
    assert!(matches!(
        WearModelFile::load(&path).unwrap_err(),
        ModelFileError::WrongFormat { .. }
    ));
    std::fs::remove_file(&path).ok();
}

#[test]
fn predictions_are_monotone_with_ordered_quantiles() {
    let data = common::synthetic(3, 80);
    let model = WearModel::fit(&data, &TrainConfig::default()).unwrap();
    let seq = &data.sequences[0];
    let preds = model.predict_sequence(seq, &data.feature_names).unwrap();
    for w in preds.windows(2) {
        assert!(w[1].vb.p50 >= w[0].vb.p50);
    }
    for p in &preds {
        assert!(p.vb.p10 <= p.vb.p50 && p.vb.p50 <= p.vb.p90);
        assert!(p.rul.p10 <= p.rul.p50 && p.rul.p50 <= p.rul.p90);
    }
    // A cut without a required feature is an error and leaves the state unchanged.
    let mut st = model.new_tool("all");
    let before = st.clone();
    let err = model.predict_cut(&mut st, &CutRecord::new(1.0).with("feed", 0.1));
    assert!(err.is_err());
    assert_eq!(st, before);
}

fn spec() -> CsvSpec {
    CsvSpec {
        group: "tool".into(),
        order: "cut".into(),
        target: "vb".into(),
        features: None,
        class: None,
        limit: 0.3,
    }
}

#[test]
fn csv_missing_column_names_file_and_column() {
    let path = temp("missing.csv");
    std::fs::write(&path, "tool,cut,force\na,1,1.0\nb,1,2.0\n").unwrap();
    let err = load(&path, &spec()).unwrap_err();
    assert!(matches!(&err, DataError::MissingColumn { column, .. } if column == "vb"));
    let msg = err.to_string();
    assert!(msg.contains("missing.csv") && msg.contains("`vb`"), "{msg}");
    std::fs::remove_file(&path).ok();
}

#[test]
fn csv_wrong_type_names_file_and_column() {
    let path = temp("wrongtype.csv");
    std::fs::write(&path, "tool,cut,vb,force\na,1,0.1,1.0\nb,1,0.2,high\n").unwrap();
    let mut s = spec();
    s.features = Some(vec!["force".into()]);
    let err = load(&path, &s).unwrap_err();
    assert!(matches!(&err, DataError::NotNumeric { column, .. } if column == "force"));
    let msg = err.to_string();
    assert!(
        msg.contains("wrongtype.csv") && msg.contains("`force`"),
        "{msg}"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn csv_in_the_wear_shape_is_evaluated_without_code_changes() {
    let data = common::synthetic(3, 50);
    let path = temp("shape.csv");
    let mut text = String::from("tool,cut,vb,feed,force\n");
    for s in &data.sequences {
        for i in 0..s.len() {
            let vb = s.target[i].map_or(String::new(), |v| v.to_string());
            text += &format!(
                "{},{},{},{},{}\n",
                s.group, s.usage[i], vb, s.features[i][0], s.features[i][1]
            );
        }
    }
    std::fs::write(&path, text).unwrap();
    let mut s = spec();
    s.limit = 150.0;
    let loaded = load(&path, &s).unwrap();
    // The synthetic tools all cut at one feed: a column with one value is left out.
    assert_eq!(loaded.feature_names, vec!["force".to_string()]);
    assert_eq!(loaded.cleaning.dropped.len(), 1);
    assert_eq!(loaded.cleaning.dropped[0].column, "feed");
    assert!(loaded.cleaning.dropped[0]
        .reason
        .contains("same value (0.1)"));
    assert_eq!(loaded.sequences.len(), 3);
    assert_eq!(loaded.labelled_rows(), data.labelled_rows());
    let report = models::evaluate::leave_one_group_out(&loaded, &TrainConfig::default()).unwrap();
    assert_eq!(report.folds.len(), 3);
    assert!(report.overall.mean_rmse.is_finite());
    std::fs::remove_file(&path).ok();
}

/// Model files and tool states written before the CV+ intervals and the blended prior
/// (no `inner`, no `class_weight`) still load; such a state falls back to the
/// split-conformal interval, and the quantiles stay ordered.
#[test]
fn files_and_tool_states_without_inner_models_still_work() {
    let data = common::synthetic(3, 60);
    let cfg = TrainConfig::default();
    let model = WearModel::fit(&data, &cfg).unwrap();
    assert_eq!(model.inner.len(), 3);
    let file = WearModelFile::new(model.clone(), &data, cfg, 0.0, None);
    let mut json = serde_json::to_value(&file).unwrap();
    let m = json["model"].as_object_mut().unwrap();
    m.remove("inner");
    m["prior"].as_object_mut().unwrap().remove("class_weight");
    m["selection"]
        .as_object_mut()
        .unwrap()
        .remove("class_weight");
    let path = temp("before-cv-plus.json");
    std::fs::write(&path, serde_json::to_string(&json).unwrap()).unwrap();
    let old = load_wear_model(&path).unwrap();
    assert!(old.inner.is_empty());
    assert_eq!(old.prior.class_weight, 1.0);
    std::fs::remove_file(&path).ok();

    // A state persisted by an agent before this change has no inner filters.
    let seq = &data.sequences[2];
    let mut state = serde_json::to_value(model.new_tool(&seq.class)).unwrap();
    state.as_object_mut().unwrap().remove("inner");
    let mut state: models::ToolState = serde_json::from_value(state).unwrap();
    for (u, f) in seq.usage.iter().zip(&seq.features) {
        let cut = CutRecord::from_row(*u, &data.feature_names, f);
        let p = model.predict_cut(&mut state, &cut).unwrap();
        let (lo, hi) = model.vb_interval.around(p.vb.p50);
        assert_eq!(p.vb.p90, hi.max(p.vb.p50));
        assert_eq!(p.vb.p10, lo.max(0.0).min(p.vb.p50));
    }
}

/// A table as plants have them: a few empty cells, a column with one value everywhere and
/// a column that is mostly empty. The run goes through; what was imputed and left out is
/// counted in the report.
#[test]
fn csv_empty_cells_are_imputed_and_useless_columns_left_out() {
    let data = common::synthetic(3, 50);
    let path = temp("holes.csv");
    let mut text = String::from("tool,cut,vb,feed,force,spindle,coolant\n");
    for (g, s) in data.sequences.iter().enumerate() {
        for i in 0..s.len() {
            let vb = s.target[i].map_or(String::new(), |v| v.to_string());
            // Tool 0 misses force on cut 10 (carried forward from cut 9); tool 1 misses it
            // on its first two cuts (no earlier value: the training median).
            let force = if (g == 0 && i == 9) || (g == 1 && i < 2) {
                String::new()
            } else {
                s.features[i][1].to_string()
            };
            let coolant = if i % 10 == 0 { "20.5" } else { "" };
            // Feed differs between tools here, so it stays (a cutting condition).
            let feed = 0.1 + 0.02 * g as f64;
            text += &format!(
                "{},{},{vb},{feed},{force},7,{coolant}\n",
                s.group, s.usage[i]
            );
        }
    }
    std::fs::write(&path, text).unwrap();
    let mut s = spec();
    s.limit = 150.0;
    let loaded = load(&path, &s).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(
        loaded.feature_names,
        vec!["feed".to_string(), "force".into()]
    );
    let dropped: Vec<&str> = loaded
        .cleaning
        .dropped
        .iter()
        .map(|d| d.column.as_str())
        .collect();
    assert_eq!(dropped, ["spindle", "coolant"]);
    assert!(loaded.cleaning.dropped[1].reason.contains("90 %"));
    assert_eq!(loaded.cleaning.carried_forward, 1);
    assert_eq!(loaded.cleaning.median_filled, 2);
    let a = &loaded.sequences[0];
    assert_eq!(a.features[9][1], a.features[8][1]);
    assert!(loaded.sequences[1].features[0][1].is_nan());

    let report = models::evaluate::leave_one_group_out(&loaded, &TrainConfig::default()).unwrap();
    assert_eq!(report.folds.len(), 3);
    assert!(report.overall.mean_rmse.is_finite());
    assert_eq!(report.cleaning, loaded.cleaning);
    let text = models::evaluate::render(&report);
    assert!(text.contains("1 carried forward"), "{text}");
    assert!(text.contains("column `spindle` left out"), "{text}");
    // Training on the whole table imputes with its own medians.
    WearModel::fit(&loaded, &TrainConfig::default()).unwrap();
}

/// Folds fitted on several threads give the same report as one after the other, and the
/// progress callback hears of every fold once.
#[test]
fn parallel_folds_give_the_same_report() {
    use models::evaluate::{leave_one_group_out_with, EvaluateOptions};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let data = common::synthetic(4, 50);
    let cfg = TrainConfig::default();
    let calls = AtomicUsize::new(0);
    let run = |threads| {
        let opts = EvaluateOptions {
            threads,
            ..EvaluateOptions::default()
        };
        let mut r = leave_one_group_out_with(&data, &cfg, opts, &|_| {
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        // Wall times differ between runs; everything else must not.
        for f in &mut r.folds {
            f.fit_seconds = 0.0;
        }
        r
    };
    let one = run(1);
    let three = run(3);
    assert_eq!(one, three);
    assert_eq!(calls.load(Ordering::Relaxed), 8);
    let groups: Vec<&str> = one.folds.iter().map(|f| f.group.as_str()).collect();
    assert_eq!(groups, ["t0", "t1", "t2", "t3"]);
    // Per-tool coverage summary and the reference models are computed from the folds.
    let worst = one
        .folds
        .iter()
        .map(|f| f.vb.coverage80)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(one.overall.worst_coverage80, worst);
    let b = one.overall.baseline.as_ref().unwrap();
    let mean_time_only = one
        .folds
        .iter()
        .map(|f| f.baseline.as_ref().unwrap().time_only_rmse)
        .sum::<f64>()
        / 4.0;
    assert!((b.time_only_rmse - mean_time_only).abs() < 1e-12);
}
