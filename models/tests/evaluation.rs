//! The real evaluation protocols on the shared data sets (skipped when absent).
//! The stricter targets are reported by `models evaluate`; these tests guard against
//! regressions past the published baselines.

mod common;

use models::data::{nasa, phm2010};
use models::evaluate::{leave_one_group_out, render};
use models::wear::TrainConfig;

#[test]
fn phm2010_leave_one_cutter_out_beats_random_forest() {
    let Some(dir) = common::datasets(phm2010::FOLDER) else {
        return;
    };
    let data = phm2010::load(&dir, None).unwrap();
    assert_eq!(data.sequences.len(), 3);
    assert!(data.sequences.iter().all(|s| s.len() == 315));
    let report = leave_one_group_out(&data, &TrainConfig::default()).unwrap();
    println!("{}", render(&report));
    assert_eq!(report.folds.len(), 3);
    // Random forest on the same features: about 15/19/27 µm, mean ≈ 20 µm.
    assert!(
        report.overall.mean_rmse < 20.0,
        "mean RMSE {:.2} µm is worse than the random-forest baseline",
        report.overall.mean_rmse
    );
    let cov = report.overall.coverage80;
    assert!(
        (0.65..=0.95).contains(&cov),
        "80 % interval coverage {cov:.3}"
    );
    // Every held-out cutter reaches 150 µm, so every fold scores remaining life.
    assert!(report.folds.iter().all(|f| f.rul.is_some()));
}

#[test]
fn nasa_leave_one_case_out_beats_sensor_free_linear_model() {
    let Some(dir) = common::datasets(nasa::FOLDER) else {
        return;
    };
    let data = nasa::load(&dir, None).unwrap();
    assert_eq!(data.sequences.len(), 16);
    // Runs without VB stay in their sequence.
    let rows: usize = data.sequences.iter().map(|s| s.len()).sum();
    assert!(data.labelled_rows() < rows);
    let report = leave_one_group_out(&data, &TrainConfig::default()).unwrap();
    println!("{}", render(&report));
    // Sensor-free linear model on time, DOC, feed, material: about 0.107 mm.
    assert!(
        report.overall.mean_rmse < 0.107,
        "mean RMSE {:.4} mm",
        report.overall.mean_rmse
    );
    let cov = report.overall.coverage80;
    assert!(
        (0.65..=0.95).contains(&cov),
        "80 % interval coverage {cov:.3}"
    );
}

#[test]
fn ims_bearing_onset_precedes_failure() {
    let Some(dir) = common::datasets(models::data::ims::FOLDER) else {
        return;
    };
    let run = models::data::ims::load(&dir, "Bearing 1").unwrap();
    // The two near-zero records after the rig stopped are dropped.
    assert_eq!(run.vibration.len(), 980);
    let report = models::evaluate::bearing_run(&run, Default::default(), None);
    println!("{}", models::evaluate::render_bearing(&report));
    let onset = report.onset_hours.expect("bearing 1 degrades visibly");
    assert!(
        onset > 24.0 && onset < report.run_hours - 12.0,
        "onset {onset}"
    );
    let rul = report.rul.expect("estimates after onset");
    assert!(rul.n > 100 && rul.mae.is_finite());
    // The band spans fits over several recent windows and a range of failure levels; a
    // band from one fit's residual bootstrap alone covered 6 % here. (In-sample: the
    // range was set with this, the only failed bearing, in view; see models/README.md.)
    assert!(
        (0.6..=0.97).contains(&rul.coverage80),
        "80 % band coverage {:.3}",
        rul.coverage80
    );
}
