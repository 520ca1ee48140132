//! Reference models scored on the same folds as the wear model, so that a user sees what
//! the model adds over a simpler one fitted on the same training tools:
//!
//! - **time only**: least squares of wear on usage u and ln(1 + u), nothing else — the
//!   figure any tool-life counter could give;
//! - **plain linear**: an elastic net on usage and the raw input columns as they are in the
//!   table (no per-tool baseline, no smoothing, no integral, no physics prior, no filter),
//!   its penalty chosen on the same grid by the same inner leave-one-group-out.
//!
//! Both predict every cut of the held-out tool from that cut's row alone.

// Without the `train` feature only the scores' type is needed (model files carry them).
#![cfg_attr(not(feature = "train"), allow(dead_code, unused_imports))]

use serde::{Deserialize, Serialize};

use crate::data::{Sequence, WearDataset};
use crate::metrics::{mae, rmse};
use crate::wear::learned::{LearnError, Learner, LinearModel};

/// Scores of the reference models on one held-out tool (or their means over folds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineScores {
    pub time_only_rmse: f64,
    pub time_only_mae: f64,
    pub linear_rmse: f64,
    pub linear_mae: f64,
    /// Penalty the inner leave-one-group-out chose for the plain linear model (in the
    /// means over folds: the mean of the folds' choices).
    pub linear_penalty: f64,
}

impl BaselineScores {
    /// Mean of each figure over folds (as the model's mean RMSE is).
    pub fn mean(folds: &[&BaselineScores]) -> BaselineScores {
        let n = folds.len().max(1) as f64;
        let m = |f: fn(&BaselineScores) -> f64| folds.iter().map(|b| f(b)).sum::<f64>() / n;
        BaselineScores {
            time_only_rmse: m(|b| b.time_only_rmse),
            time_only_mae: m(|b| b.time_only_mae),
            linear_rmse: m(|b| b.linear_rmse),
            linear_mae: m(|b| b.linear_mae),
            // Finite, because reports go into model files as JSON, which has no NaN.
            linear_penalty: m(|b| b.linear_penalty),
        }
    }
}

fn time_row(u: f64) -> Vec<f64> {
    vec![u, u.max(0.0).ln_1p()]
}

fn raw_row(u: f64, features: &[f64]) -> Vec<f64> {
    let mut r = Vec::with_capacity(features.len() + 1);
    r.push(u);
    r.extend_from_slice(features);
    r
}

/// Labelled rows of some tools, built by `row`.
fn labelled(
    tools: &[&Sequence],
    row: &dyn Fn(&Sequence, usize) -> Vec<f64>,
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for s in tools {
        for (i, t) in s.target.iter().enumerate() {
            if let Some(t) = t {
                x.push(row(s, i));
                y.push(*t);
            }
        }
    }
    (x, y)
}

#[cfg(feature = "train")]
/// Score both reference models on `test`, fitted on `train` (no empty cells left in
/// either: the evaluation imputes before it calls this).
pub fn score(train: &WearDataset, test: &Sequence) -> Result<BaselineScores, LearnError> {
    let tools: Vec<&Sequence> = train
        .sequences
        .iter()
        .filter(|s| s.target.iter().any(Option::is_some))
        .collect();
    let time = |s: &Sequence, i: usize| time_row(s.usage[i]);
    let raw = |s: &Sequence, i: usize| raw_row(s.usage[i], &s.features[i]);
    let (tx, ty) = labelled(&[test], &time);
    let (rx, _) = labelled(&[test], &raw);

    let (x, y) = labelled(&tools, &time);
    let m = LinearModel::fit(Learner::Linear, 0.0, &x, &y)?;
    let time_pred: Vec<f64> = tx.iter().map(|r| m.predict(r)).collect();

    // Penalty of the plain elastic net: pooled RMSE over the held-out training tools of
    // an inner leave-one-group-out, as the wear model chooses its own.
    let grid = Learner::ElasticNet.grid(0);
    let mut sq = vec![0.0; grid.len()];
    for k in 0..tools.len() {
        let others: Vec<&Sequence> = tools
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, s)| *s)
            .collect();
        let (x, y) = labelled(&others, &raw);
        let (hx, hy) = labelled(&tools[k..=k], &raw);
        let models = LinearModel::fit_path(Learner::ElasticNet, &grid, &x, &y, None)?;
        for (s, m) in sq.iter_mut().zip(&models) {
            *s += hx
                .iter()
                .zip(&hy)
                .map(|(r, t)| (m.predict(r) - t).powi(2))
                .sum::<f64>();
        }
    }
    let best = (0..grid.len())
        .min_by(|a, b| sq[*a].total_cmp(&sq[*b]))
        .expect("grid is never empty");
    let (x, y) = labelled(&tools, &raw);
    let m = LinearModel::fit(Learner::ElasticNet, grid[best], &x, &y)?;
    let linear_pred: Vec<f64> = rx.iter().map(|r| m.predict(r)).collect();

    Ok(BaselineScores {
        time_only_rmse: rmse(&time_pred, &ty),
        time_only_mae: mae(&time_pred, &ty),
        linear_rmse: rmse(&linear_pred, &ty),
        linear_mae: mae(&linear_pred, &ty),
        linear_penalty: grid[best],
    })
}

#[cfg(all(test, feature = "train"))]
mod tests {
    use super::*;

    fn tool(name: &str, rate: f64, signal_gain: f64) -> Sequence {
        let usage: Vec<f64> = (1..=60).map(f64::from).collect();
        let target: Vec<Option<f64>> = usage.iter().map(|u| Some(rate * u)).collect();
        // One column that reads the wear (through a per-tool gain) and one of noise.
        let features = usage
            .iter()
            .map(|u| vec![signal_gain * rate * u, (u * 1.7).sin()])
            .collect();
        Sequence {
            group: name.into(),
            class: "all".into(),
            usage,
            features,
            target,
        }
    }

    /// Tools wearing at different rates: usage alone cannot tell them apart, a column
    /// that follows wear can, so the plain linear model beats time only by far.
    #[test]
    fn a_signal_that_follows_wear_beats_time_only() {
        let data = WearDataset {
            name: "t".into(),
            sources: vec![],
            usage_name: "cut".into(),
            usage_unit: "cuts".into(),
            target_name: "VB".into(),
            target_unit: String::new(),
            feature_names: vec!["signal".into(), "noise".into()],
            limit: 100.0,
            sequences: vec![
                tool("a", 1.0, 1.0),
                tool("b", 2.0, 1.0),
                tool("c", 3.0, 1.0),
                tool("d", 1.5, 1.0),
            ],
            cleaning: Default::default(),
        };
        let (train, test) = data.split_out("d");
        let s = score(&train, &test).unwrap();
        // Time only predicts the mean rate 2: off by 0.5·u, RMSE ≈ 0.5·√(mean u²) ≈ 17.6.
        assert!((s.time_only_rmse - 17.6).abs() < 1.5, "{s:?}");
        assert!(s.linear_rmse < 0.2 * s.time_only_rmse, "{s:?}");
        assert!(s.linear_mae <= s.linear_rmse + 1e-12);
    }
}
