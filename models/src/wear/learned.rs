//! Learned wear models on engineered features, fitted with linfa.
//!
//! Every learner offered here is linear in the standardised features, so a fitted model
//! is stored as an intercept and one weight per feature, whatever produced it. That keeps
//! model files small and stable across linfa versions and makes a prediction one dot
//! product (well under the 1 ms budget per cut on a Raspberry Pi).

#[cfg(feature = "train")]
use linfa::prelude::*;
#[cfg(feature = "train")]
use linfa_linear::LinearRegression;
#[cfg(feature = "train")]
use linfa_pls::PlsRegression;
#[cfg(feature = "train")]
use linfa_svm::Svm;
#[cfg(feature = "train")]
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

#[cfg(feature = "train")]
use super::enet::{GramProblem, Solver};
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
        let mut models = Self::fit_path(learner, &[hyper], rows, target, None)?;
        Ok(models.pop().expect("one model per hyper-parameter"))
    }

    /// One model per hyper-parameter, all on the same rows. The elastic net solves its
    /// penalties as one path with warm starts (`enet`); the other learners fit each value
    /// on its own.
    ///
    /// `screen`: keep at most this many columns, those with the largest absolute
    /// correlation with the target on these rows, before the elastic net (the others get
    /// weight 0). The last column is always kept: the wear model stacks the physics
    /// prior's prediction there. Screening uses the training rows only, so inside a
    /// leave-one-group-out it is redone in every fold.
    #[cfg(feature = "train")]
    pub fn fit_path(
        learner: Learner,
        hypers: &[f64],
        rows: &[Vec<f64>],
        target: &[f64],
        screen: Option<usize>,
    ) -> Result<Vec<LinearModel>, LearnError> {
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
        let fitted: Vec<(f64, Vec<f64>)> = match learner {
            Learner::ElasticNet => {
                // As linfa did: the intercept is the target's mean, the weights are fitted
                // to the centred target (the standardised columns have mean 0).
                let b0 = y.mean().unwrap_or(0.0);
                let yc = y.mapv(|v| v - b0);
                let keep = screen.and_then(|k| screened_columns(&x, &yc, k));
                let problem = match &keep {
                    Some(cols) => GramProblem::new(&x.select(Axis(1), cols), &yc),
                    None => GramProblem::new(&x, &yc),
                };
                problem
                    .path(ENET, hypers)
                    .into_iter()
                    .map(|w| match &keep {
                        Some(cols) => {
                            let mut full = vec![0.0; width];
                            for (c, v) in cols.iter().zip(w) {
                                full[*c] = v;
                            }
                            (b0, full)
                        }
                        None => (b0, w),
                    })
                    .collect()
            }
            Learner::Linear => {
                let m = LinearRegression::new()
                    .fit(&Dataset::new(x, y))
                    .map_err(|e| err(e.to_string()))?;
                vec![(m.intercept(), m.params().to_vec())]
            }
            Learner::Pls => hypers
                .iter()
                .map(|h| {
                    let y2 = y.clone().insert_axis(ndarray::Axis(1));
                    let m = PlsRegression::params(*h as usize)
                        .fit(&Dataset::new(x.clone(), y2))
                        .map_err(|e| err(e.to_string()))?;
                    Ok(probe(width, |z| m.predict(&z).column(0).to_vec()))
                })
                .collect::<Result<_, LearnError>>()?,
            Learner::Svr => hypers
                .iter()
                .map(|h| {
                    let m = Svm::<f64, f64>::params()
                        .c_svr(*h, Some(0.1))
                        .linear_kernel()
                        .fit(&Dataset::new(x.clone(), y.clone()))
                        .map_err(|e| err(e.to_string()))?;
                    Ok(probe(width, |z| m.predict(&z).to_vec()))
                })
                .collect::<Result<_, LearnError>>()?,
        };
        // OLS has no hyper-parameter: the same fit for every value asked for.
        let fitted = if fitted.len() == 1 && hypers.len() > 1 {
            vec![fitted[0].clone(); hypers.len()]
        } else {
            fitted
        };
        fitted
            .into_iter()
            .map(|(b0, w)| {
                if !b0.is_finite() || w.iter().any(|v| !v.is_finite()) {
                    return Err(err("non-finite weights".into()));
                }
                Ok(LinearModel {
                    standardizer: standardizer.clone(),
                    intercept: y_mean + y_scale * b0,
                    weights: w.into_iter().map(|v| v * y_scale).collect(),
                })
            })
            .collect()
    }
}

/// Settings of the elastic net: L1 share 0.5; tolerance and iteration cap as the linfa
/// fit used before, so the figures did not move with the solver.
#[cfg(feature = "train")]
const ENET: Solver = Solver {
    l1_ratio: 0.5,
    tolerance: 1e-4,
    max_iterations: 5000,
};

/// Columns to keep when there are more than `keep`: the largest |xⱼ·y| (with standardised
/// columns, the largest absolute correlation with the target), plus the last column;
/// `None` when nothing needs dropping.
#[cfg(feature = "train")]
fn screened_columns(x: &Array2<f64>, y: &Array1<f64>, keep: usize) -> Option<Vec<usize>> {
    let p = x.ncols();
    if keep == 0 || p <= keep {
        return None;
    }
    let score = x.t().dot(y).mapv(f64::abs);
    let mut order: Vec<usize> = (0..p - 1).collect();
    order.sort_by(|a, b| score[*b].total_cmp(&score[*a]).then(a.cmp(b)));
    let mut cols: Vec<usize> = order.into_iter().take(keep.saturating_sub(1)).collect();
    cols.push(p - 1);
    cols.sort_unstable();
    Some(cols)
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
