//! Remaining useful life: usage left until wear reaches the limit.
//!
//! The point estimate extrapolates the monotone filter's current wear level at its
//! current wear rate, i.e. at the current cutting conditions. It is then calibrated:
//! the log ratio of true to estimated remaining life on held-out training tools gives
//! the P10/P50/P90 multipliers (split-conformal on a log scale, because remaining-life
//! errors grow with the horizon).

use serde::{Deserialize, Serialize};

use crate::conformal::ConformalInterval;

/// P10 / P50 / P90 of one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

/// Usage at which a measured sequence first reaches `limit`, interpolated linearly
/// between the last measurement below and the first at or above it.
pub fn time_to_limit(usage: &[f64], target: &[Option<f64>], limit: f64) -> Option<f64> {
    let mut prev: Option<(f64, f64)> = None;
    for (u, t) in usage.iter().zip(target) {
        let Some(v) = t else { continue };
        if *v >= limit {
            return Some(match prev {
                Some((u0, v0)) if v - v0 > 0.0 => u0 + (limit - v0) / (v - v0) * (u - u0),
                _ => *u,
            });
        }
        prev = Some((*u, *v));
    }
    None
}

/// True remaining life at each row before the limit is reached (None afterwards, or
/// when the sequence never reaches the limit: its remaining life is unknown).
pub fn true_rul(usage: &[f64], target: &[Option<f64>], limit: f64) -> Vec<Option<f64>> {
    match time_to_limit(usage, target, limit) {
        Some(t) => usage
            .iter()
            .map(|u| (*u <= t).then_some(t - u))
            .collect(),
        None => vec![None; usage.len()],
    }
}

/// Uncalibrated estimate: linear extrapolation of the filtered state, capped at `cap`.
pub fn extrapolate(level: f64, rate: f64, limit: f64, cap: f64) -> f64 {
    if level >= limit {
        return 0.0;
    }
    if rate <= 0.0 {
        return cap;
    }
    ((limit - level) / rate).min(cap)
}

/// Calibration of remaining-life estimates on a log scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulCalibration {
    /// Added before taking logs so that zero remaining life stays finite (one typical
    /// usage step of the training data).
    pub offset: f64,
    /// Largest remaining life ever reported (several training lives).
    pub cap: f64,
    /// Quantiles of ln((true + offset) / (estimate + offset)).
    pub log_ratio: ConformalInterval,
}

impl RulCalibration {
    pub fn calibrate(
        estimates: &[f64],
        truths: &[f64],
        offset: f64,
        cap: f64,
        coverage: f64,
    ) -> RulCalibration {
        let r: Vec<f64> = estimates
            .iter()
            .zip(truths)
            .map(|(e, t)| ((t + offset) / (e + offset)).ln())
            .collect();
        RulCalibration {
            offset,
            cap,
            log_ratio: ConformalInterval::calibrate(&r, coverage),
        }
    }

    pub fn quantiles(&self, estimate: f64) -> Quantiles {
        let scale = |q: f64| {
            if q.is_finite() {
                ((estimate + self.offset) * q.exp() - self.offset).clamp(0.0, self.cap)
            } else if q > 0.0 {
                self.cap
            } else {
                0.0
            }
        };
        Quantiles {
            p10: scale(self.log_ratio.lower),
            p50: scale(self.log_ratio.median),
            p90: scale(self.log_ratio.upper),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_crossing_is_interpolated_and_skips_missing() {
        let u = [0.0, 10.0, 20.0, 30.0];
        let t = [Some(0.1), None, Some(0.2), Some(0.4)];
        let hit = time_to_limit(&u, &t, 0.3).unwrap();
        assert!((hit - 25.0).abs() < 1e-12);
        let rul = true_rul(&u, &t, 0.3);
        assert_eq!(rul[0], Some(25.0));
        assert_eq!(rul[3], None);
        assert!(time_to_limit(&u, &t, 1.0).is_none());
    }

    #[test]
    fn calibrated_quantiles_are_ordered() {
        let est = [10.0, 20.0, 30.0, 40.0, 50.0];
        let truth = [12.0, 18.0, 45.0, 35.0, 60.0];
        let cal = RulCalibration::calibrate(&est, &truth, 1.0, 1000.0, 0.8);
        let q = cal.quantiles(25.0);
        assert!(q.p10 <= q.p50 && q.p50 <= q.p90);
        assert_eq!(extrapolate(0.35, 0.01, 0.3, 100.0), 0.0);
        assert_eq!(extrapolate(0.1, 0.0, 0.3, 100.0), 100.0);
        assert!((extrapolate(0.1, 0.01, 0.3, 100.0) - 20.0).abs() < 1e-9);
    }
}
