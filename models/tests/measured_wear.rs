//! A tool whose wear runs away from what its signals say: its own measured wear, taken in
//! as it arrives, brings the predicted level, the band and the remaining life to it.

mod common;

use models::wear::{PredictError, TrainConfig, WearModel};
use models::CutRecord;

/// The test tool's true wear: 1.8 times the wear of the training tool its signals copy.
const FASTER: f64 = 1.8;

#[test]
fn measured_wear_brings_a_tool_that_wears_unlike_its_signals_to_its_truth() {
    let data = common::synthetic(4, 60);
    let model = WearModel::fit(&data, &TrainConfig::default()).unwrap();
    // Signals of training tool t1, truth far above its wear.
    let seq = &data.sequences[1];
    let truth: Vec<f64> = seq
        .usage
        .iter()
        .map(|u| 20.0 + FASTER * 8.0 * 1.15 * u.powf(0.7))
        .collect();

    let (mut plain, mut measured) = (model.new_tool("all"), model.new_tool("all"));
    // A measurement before any cut has no band to be scored against.
    assert_eq!(
        model.observe_wear(&mut measured, 20.0),
        Err(PredictError::NoCutYet)
    );
    let (mut err_plain, mut err_measured) = (0.0, 0.0);
    let (mut inside_plain, mut inside_measured, mut scored) = (0, 0, 0);
    let mut last_measured = 0.0_f64;
    for (i, (u, f)) in seq.usage.iter().zip(&seq.features).enumerate() {
        let cut = CutRecord::from_row(*u, &data.feature_names, f);
        let a = model.predict_cut(&mut plain, &cut).unwrap();
        let b = model.predict_cut(&mut measured, &cut).unwrap();
        // The level goes on from a measurement, never back below it.
        assert!(b.vb.p50 >= last_measured - 1e-9, "cut {i}: {b:?}");
        assert!(b.vb.p10 <= b.vb.p50 && b.vb.p50 <= b.vb.p90, "{b:?}");
        if i >= 20 {
            // After the first two measurements.
            err_plain += (a.vb.p50 - truth[i]).abs();
            err_measured += (b.vb.p50 - truth[i]).abs();
            inside_plain += usize::from(a.vb.p10 <= truth[i] && truth[i] <= a.vb.p90);
            inside_measured += usize::from(b.vb.p10 <= truth[i] && truth[i] <= b.vb.p90);
            scored += 1;
            // Wearing faster, it has less life left than the model alone says.
            assert!(
                b.rul.p50 <= a.rul.p50,
                "cut {i}: {:?} vs {:?}",
                b.rul,
                a.rul
            );
        }
        // Wear measured every tenth cut.
        if i % 10 == 9 {
            assert!(model.measured_now(&measured).is_none() || i > 9);
            let o = model.observe_wear(&mut measured, truth[i]).unwrap();
            assert!((o.level_after - truth[i]).abs() < 1e-9, "{o:?}");
            // The prediction as it stands now, before the next cut: from the measurement.
            let now = model.measured_now(&measured).unwrap();
            assert!((now.vb.p50 - truth[i]).abs() < 1e-9, "{now:?}");
            assert!(
                now.vb.p10 <= now.vb.p50 && now.vb.p50 <= now.vb.p90,
                "{now:?}"
            );
            assert!(now.rul.p50 <= b.rul.p50 + 1e-9, "{now:?} vs {b:?}");
            assert_eq!(o.measurements, i / 10 + 1);
            last_measured = truth[i];
        }
    }
    let (mean_plain, mean_measured) = (err_plain / scored as f64, err_measured / scored as f64);
    println!(
        "error of P50: {mean_plain:.1} -> {mean_measured:.1} µm; band covers {inside_plain} -> \
         {inside_measured} of {scored} cuts"
    );
    assert!(
        mean_measured < 0.5 * mean_plain,
        "{mean_measured} vs {mean_plain}"
    );
    assert!(inside_measured > inside_plain + scored / 4);
    // A bad measurement is refused and changes nothing.
    let before = measured.clone();
    assert!(matches!(
        model.observe_wear(&mut measured, f64::NAN),
        Err(PredictError::BadMeasurement(_))
    ));
    assert_eq!(measured, before);
}
