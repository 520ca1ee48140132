//! Split-conformal prediction intervals.
//!
//! Why split-conformal rather than a bootstrap ensemble: with two or three training tools
//! the dominant error is the difference *between* tools (one cutter wears faster than the
//! others), not the sampling noise of the regression weights. A bootstrap over rows only
//! sees the latter and gives intervals that are far too narrow. Conformal calibration on
//! residuals of tools that were held out of the fit (inner leave-one-group-out over the
//! training tools) measures the between-tool error directly and carries a finite-sample
//! coverage guarantee when tools are exchangeable. Rows of one tool are not independent,
//! so the guarantee is per tool, and with few tools the realised coverage is noisy; the
//! evaluation reports it per fold.
//!
//! The wear model uses these quantiles in the CV+ form (`wear::combined::cv_plus_interval`):
//! each held-out residual is added to the prediction of the inner model that produced it,
//! not to the final model's, because the inner models saw one tool fewer and err more.

use serde::{Deserialize, Serialize};

/// Stand-in for an infinite interval bound.
pub const UNBOUNDED: f64 = 1e300;

/// Quantiles of calibration residuals (truth − prediction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConformalInterval {
    /// Nominal coverage of the interval, e.g. 0.8 for P10..P90.
    pub coverage: f64,
    /// Residual quantile at (1 − coverage)/2 (finite-sample corrected).
    pub lower: f64,
    /// Median residual.
    pub median: f64,
    /// Residual quantile at (1 + coverage)/2 (finite-sample corrected).
    pub upper: f64,
    /// Number of calibration residuals.
    pub n: usize,
}

impl ConformalInterval {
    /// `residuals` are truth − prediction on data the model was not fitted to.
    pub fn calibrate(residuals: &[f64], coverage: f64) -> ConformalInterval {
        let mut r: Vec<f64> = residuals
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        r.sort_by(f64::total_cmp);
        let n = r.len();
        if n == 0 {
            // Nothing to calibrate on: an interval as wide as the numbers allow (kept
            // finite so that model files stay valid JSON).
            return ConformalInterval {
                coverage,
                lower: -UNBOUNDED,
                median: 0.0,
                upper: UNBOUNDED,
                n,
            };
        }
        let alpha = 1.0 - coverage;
        // k-th smallest with k = ⌊(n+1)·α/2⌋ and ⌈(n+1)·(1−α/2)⌉ (1-based): the standard
        // finite-sample correction, clamped to the observed range.
        let k_lo = (((n + 1) as f64) * alpha / 2.0).floor() as usize;
        let k_hi = (((n + 1) as f64) * (1.0 - alpha / 2.0)).ceil() as usize;
        let lower = r[k_lo.clamp(1, n) - 1];
        let upper = r[k_hi.clamp(1, n) - 1];
        let median = if n % 2 == 1 {
            r[n / 2]
        } else {
            0.5 * (r[n / 2 - 1] + r[n / 2])
        };
        ConformalInterval {
            coverage,
            lower,
            median,
            upper,
            n,
        }
    }

    /// (lower, upper) bounds around a point prediction.
    pub fn around(&self, prediction: f64) -> (f64, f64) {
        (prediction + self.lower, prediction + self.upper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    /// Calibrate on one synthetic sample, check coverage on a fresh one.
    #[test]
    fn covers_eighty_percent_of_new_points() {
        let mut rng = StdRng::seed_from_u64(42);
        let noise = Normal::new(0.0, 3.0).unwrap();
        let f = |x: f64| 2.0 * x + 1.0;
        let calib: Vec<f64> = (0..500).map(|_| noise.sample(&mut rng)).collect();
        let ci = ConformalInterval::calibrate(&calib, 0.8);
        assert_eq!(ci.n, 500);
        let mut inside = 0;
        let trials = 20_000;
        for i in 0..trials {
            let x = i as f64 * 0.01;
            let y = f(x) + noise.sample(&mut rng);
            let (lo, hi) = ci.around(f(x));
            if lo <= y && y <= hi {
                inside += 1;
            }
        }
        let cov = inside as f64 / trials as f64;
        assert!((0.77..=0.85).contains(&cov), "coverage {cov}");
        // Normal quantiles ±1.2816σ
        assert!((ci.upper - 3.0 * 1.2816).abs() < 0.6 && (ci.lower + 3.0 * 1.2816).abs() < 0.6);
    }

    #[test]
    fn small_samples_widen_to_the_extremes() {
        let ci = ConformalInterval::calibrate(&[-1.0, 0.0, 2.0], 0.8);
        assert_eq!((ci.lower, ci.upper), (-1.0, 2.0));
    }
}
