//! Learned wear models on engineered features, fitted with linfa.
//!
//! Every learner offered here is linear in the standardised features, so a fitted model
//! is stored as an intercept and one weight per feature, whatever produced it. That keeps
//! model files small and stable across linfa versions and makes a prediction one dot
//! product (well under the 1 ms budget per cut on a Raspberry Pi).

#[cfg(feature = "train")]
use linfa::prelude::*;
#[cfg(feature = "train")]
use linfa_elasticnet::ElasticNet;
#[cfg(feature = "train")]
use linfa_linear::LinearRegression;
#[cfg(feature = "train")]
use linfa_pls::PlsRegression;
#[cfg(feature = "train")]
use linfa_svm::Svm;
#[cfg(feature = "train")]
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::features::Standardizer;

/// Which linfa estimator fits the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "train", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Learner {
    /// Elastic net (L1 ratio 0.5), penalty chosen by inner leave-one-group-out.
    ElasticNet,
    /// Partial least squares, number of components chosen by inner leave-one-group-out.
    Pls,
    /// Linear-kernel support vector regression, C chosen by inner leave-one-group-out.
    Svr,
    /// Ordinary least squares (no hyper-parameter; overfits with many signals).
    Linear,
}

impl Learner {
    /// Candidate hyper-parameters searched by inner leave-one-group-out. The penalties
    /// are in units of the standardised target.
    pub fn grid(self, width: usize) -> Vec<f64> {
        match self {
            Learner::ElasticNet => vec![0.003, 0.01, 0.03, 0.1, 0.3],
            Learner::Pls => (1..=4).filter(|k| *k <= width).map(|k| k as f64).collect(),
            Learner::Svr => vec![0.01, 0.1, 1.0, 10.0],
            Learner::Linear => vec![0.0],
        }
    }
}

/// `ŷ = intercept + Σ w_j · z_j`, z = standardised engineered features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub standardizer: Standardizer,
    pub intercept: f64,
    pub weights: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error("learned model: no labelled rows")]
    NoRows,
    #[error("learned model: {learner:?} fit failed: {message}")]
    Fit { learner: Learner, message: String },
}

impl LinearModel {
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut y = self.intercept;
        for ((x, m), (s, w)) in row
            .iter()
            .zip(&self.standardizer.mean)
            .zip(self.standardizer.scale.iter().zip(&self.weights))
        {
            y += w * (x - m) / s;
        }
        y
    }

    /// Prediction for a row with one more input appended (the stacked prior).
    pub fn predict_with(&self, row: &[f64], last: f64) -> f64 {
        let k = row.len();
        self.predict(row)
            + self.weights[k] * (last - self.standardizer.mean[k]) / self.standardizer.scale[k]
    }

    #[cfg(feature = "train")]
    pub fn fit(
        learner: Learner,
        hyper: f64,
        rows: &[Vec<f64>],
        target: &[f64],
    ) -> Result<LinearModel, LearnError> {
        if rows.is_empty() {
            return Err(LearnError::NoRows);
        }
        let standardizer = Standardizer::fit(rows);
        let width = standardizer.mean.len();
        let n = rows.len();
        let y_mean = target.iter().sum::<f64>() / n as f64;
        let y_scale = (target.iter().map(|y| (y - y_mean).powi(2)).sum::<f64>() / n as f64)
            .sqrt()
            .max(1e-12);
        let mut x = Array2::<f64>::zeros((n, width));
        for (i, r) in rows.iter().enumerate() {
            for (j, z) in standardizer.apply(r).into_iter().enumerate() {
                x[[i, j]] = z;
            }
        }
        let y = Array1::from(
            target
                .iter()
                .map(|t| (t - y_mean) / y_scale)
                .collect::<Vec<_>>(),
        );
        let err = |e: String| LearnError::Fit {
            learner,
            message: e,
        };
        // Each learner yields (intercept, weights) in standardised-target units.
        let (b0, w): (f64, Vec<f64>) = match learner {
            Learner::ElasticNet => {
                let m = ElasticNet::params()
                    .penalty(hyper)
                    .l1_ratio(0.5)
                    .max_iterations(5000)
                    .tolerance(1e-4)
                    .fit(&Dataset::new(x, y))
                    .map_err(|e| err(e.to_string()))?;
                (m.intercept(), m.hyperplane().to_vec())
            }
            Learner::Linear => {
                let m = LinearRegression::new()
                    .fit(&Dataset::new(x, y))
                    .map_err(|e| err(e.to_string()))?;
                (m.intercept(), m.params().to_vec())
            }
            Learner::Pls => {
                let y2 = y.insert_axis(ndarray::Axis(1));
                let m = PlsRegression::params(hyper as usize)
                    .fit(&Dataset::new(x, y2))
                    .map_err(|e| err(e.to_string()))?;
                probe(width, |z| m.predict(&z).column(0).to_vec())
            }
            Learner::Svr => {
                let m = Svm::<f64, f64>::params()
                    .c_svr(hyper, Some(0.1))
                    .linear_kernel()
                    .fit(&Dataset::new(x, y))
                    .map_err(|e| err(e.to_string()))?;
                probe(width, |z| m.predict(&z).to_vec())
            }
        };
        if !b0.is_finite() || w.iter().any(|v| !v.is_finite()) {
            return Err(err("non-finite weights".into()));
        }
        Ok(LinearModel {
            standardizer,
            intercept: y_mean + y_scale * b0,
            weights: w.into_iter().map(|v| v * y_scale).collect(),
        })
    }
}

/// Read the weights of a model that is linear in its inputs by predicting at the origin
/// and at each unit vector.
#[cfg(feature = "train")]
fn probe(width: usize, predict: impl Fn(Array2<f64>) -> Vec<f64>) -> (f64, Vec<f64>) {
    let mut z = Array2::<f64>::zeros((width + 1, width));
    for j in 0..width {
        z[[j + 1, j]] = 1.0;
    }
    let p = predict(z);
    let b0 = p[0];
    (b0, p[1..].iter().map(|v| v - b0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_learner_recovers_a_linear_relation() {
        let rows: Vec<Vec<f64>> = (0..60)
            .map(|i| {
                let a = i as f64;
                vec![a, (a * 0.7).sin() * 10.0]
            })
            .collect();
        let y: Vec<f64> = rows.iter().map(|r| 3.0 + 2.0 * r[0] - 0.5 * r[1]).collect();
        for (learner, hyper) in [
            (Learner::Linear, 0.0),
            (Learner::ElasticNet, 1e-4),
            (Learner::Pls, 2.0),
            (Learner::Svr, 100.0),
        ] {
            let m = LinearModel::fit(learner, hyper, &rows, &y).unwrap();
            let rmse = (rows
                .iter()
                .zip(&y)
                .map(|(r, t)| (m.predict(r) - t).powi(2))
                .sum::<f64>()
                / y.len() as f64)
                .sqrt();
            // The SVR ignores errors inside its ε-tube (0.1 standard deviations of y).
            let tolerance = if learner == Learner::Svr { 4.0 } else { 1.0 };
            assert!(rmse < tolerance, "{learner:?}: rmse {rmse}");
        }
    }
}
