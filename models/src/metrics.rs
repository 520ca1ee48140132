//! Error measures used in the evaluation.

use serde::{Deserialize, Serialize};

pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    if pred.is_empty() {
        return f64::NAN;
    }
    (pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len() as f64)
        .sqrt()
}

pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    if pred.is_empty() {
        return f64::NAN;
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / pred.len() as f64
}

/// Share of truths inside [lo, hi].
pub fn coverage(lo: &[f64], hi: &[f64], truth: &[f64]) -> f64 {
    if truth.is_empty() {
        return f64::NAN;
    }
    let inside = lo
        .iter()
        .zip(hi)
        .zip(truth)
        .filter(|((l, h), t)| *l <= *t && *t <= *h)
        .count();
    inside as f64 / truth.len() as f64
}

/// PHM08 data-challenge score (Saxena et al. 2008), summed over predictions:
/// d = predicted − true RUL; early (d < 0) costs exp(−d/13) − 1, late (d ≥ 0) costs
/// exp(d/10) − 1, so late predictions are punished harder. Lower is better.
pub fn phm08_score(pred: &[f64], truth: &[f64]) -> f64 {
    pred.iter()
        .zip(truth)
        .map(|(p, t)| {
            let d = p - t;
            if d < 0.0 {
                (-d / 13.0).exp() - 1.0
            } else {
                (d / 10.0).exp() - 1.0
            }
        })
        .sum()
}

/// Scores of one set of predictions with 80 % intervals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub n: usize,
    pub rmse: f64,
    pub mae: f64,
    pub coverage80: f64,
    /// Mean width P90 − P10 (coverage alone rewards wide intervals).
    #[serde(default)]
    pub width80: f64,
}

impl Scores {
    pub fn of(p50: &[f64], p10: &[f64], p90: &[f64], truth: &[f64]) -> Scores {
        Scores {
            n: truth.len(),
            rmse: rmse(p50, truth),
            mae: mae(p50, truth),
            coverage80: coverage(p10, p90, truth),
            width80: p90.iter().zip(p10).map(|(h, l)| h - l).sum::<f64>()
                / truth.len().max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phm08_is_asymmetric() {
        assert_eq!(phm08_score(&[10.0], &[10.0]), 0.0);
        let late = phm08_score(&[20.0], &[10.0]);
        let early = phm08_score(&[0.0], &[10.0]);
        assert!((late - (1f64.exp() - 1.0)).abs() < 1e-12);
        assert!((early - ((10.0f64 / 13.0).exp() - 1.0)).abs() < 1e-12);
        assert!(late > early);
    }

    #[test]
    fn basic_errors() {
        assert!((rmse(&[1.0, 3.0], &[2.0, 2.0]) - 1.0).abs() < 1e-12);
        assert!((mae(&[1.0, 4.0], &[2.0, 2.0]) - 1.5).abs() < 1e-12);
        assert_eq!(coverage(&[0.0, 0.0], &[1.0, 1.0], &[0.5, 2.0]), 0.5);
    }
}
