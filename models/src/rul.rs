//! Remaining useful life: usage left until wear reaches the limit.
//!
//! The point estimate maps the tool's present (filtered) wear level onto the measured
//! wear curves of the training tools: each of them took some usage to go from this level
//! to the limit. Those usages are rescaled to the present cutting conditions with the
//! extended Taylor law (ratio of its tool lives at the two sets of conditions) and their
//! median is the estimate. Wear curves are S-shaped (break-in, steady, accelerating);
//! reading remaining life off real curves at the same wear level follows that shape,
//! where extrapolating the present rate or a single power law does not.
//!
//! The estimate is then calibrated: the log ratio of true to estimated remaining life on
//! held-out training tools gives the P10/P50/P90 multipliers (split-conformal on a log
//! scale, because remaining-life errors grow with the horizon).

use serde::{Deserialize, Serialize};

use crate::conformal::ConformalInterval;

/// P10 / P50 / P90 of one quantity. A remaining life may have no upper bound (a trend
/// that may not grow never reaches its threshold): that is `f64::INFINITY`, which JSON
/// cannot hold, so it is written as `null` and read back as infinity (a stored state with
/// an unbounded P90 must load again, not be dropped).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quantiles {
    #[serde(with = "unbounded")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, required = true))]
    pub p10: f64,
    #[serde(with = "unbounded")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, required = true))]
    pub p50: f64,
    #[serde(with = "unbounded")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<f64>, required = true))]
    pub p90: f64,
}

/// `null` in JSON for +infinity (no bound), both ways.
mod unbounded {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
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
        Some(t) => usage.iter().map(|u| (*u <= t).then_some(t - u)).collect(),
        None => vec![None; usage.len()],
    }
}

/// A training tool's measured wear curve, kept to read remaining life off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceCurve {
    /// Usage of the measured points.
    pub usage: Vec<f64>,
    /// Running maximum of the measured wear (wear does not decrease).
    pub wear: Vec<f64>,
    /// Usage at which this tool reached the limit.
    pub limit_usage: f64,
    /// Taylor-law tool life at this tool's cutting conditions (None: no rescaling).
    pub taylor_life: Option<f64>,
}

impl ReferenceCurve {
    /// Curve of a measured tool that reached `limit`; None if it never did.
    pub fn from_measurements(
        usage: &[f64],
        target: &[Option<f64>],
        limit: f64,
        taylor_life: Option<f64>,
    ) -> Option<ReferenceCurve> {
        let limit_usage = time_to_limit(usage, target, limit)?;
        let mut u = Vec::new();
        let mut w: Vec<f64> = Vec::new();
        for (x, t) in usage.iter().zip(target) {
            if let Some(t) = t {
                let m = w.last().map_or(*t, |l: &f64| l.max(*t));
                u.push(*x);
                w.push(m);
            }
        }
        Some(ReferenceCurve {
            usage: u,
            wear: w,
            limit_usage,
            taylor_life: taylor_life.filter(|l| l.is_finite() && *l > 0.0),
        })
    }

    /// Usage this tool took from wear `level` to the limit.
    pub fn remaining_from(&self, level: f64) -> f64 {
        let at = match self.wear.iter().position(|w| *w >= level) {
            // Below the first measurement: the tool was that worn from the start.
            Some(0) => self.usage[0],
            Some(i) => {
                let (u0, w0) = (self.usage[i - 1], self.wear[i - 1]);
                let (u1, w1) = (self.usage[i], self.wear[i]);
                u0 + (level - w0) / (w1 - w0) * (u1 - u0)
            }
            None => self.limit_usage,
        };
        (self.limit_usage - at).max(0.0)
    }
}

/// Uncalibrated estimate: median over reference tools of the usage they took from
/// `level` to the limit, rescaled to the present conditions by Taylor life ratios.
pub fn estimate(
    references: &[ReferenceCurve],
    level: f64,
    limit: f64,
    taylor_life_now: Option<f64>,
    cap: f64,
) -> f64 {
    if level >= limit || references.is_empty() {
        return if level >= limit { 0.0 } else { cap };
    }
    let mut r: Vec<f64> = references
        .iter()
        .map(|c| {
            let scale = match (taylor_life_now, c.taylor_life) {
                (Some(now), Some(then)) => now / then,
                _ => 1.0,
            };
            c.remaining_from(level) * scale
        })
        .collect();
    r.sort_by(f64::total_cmp);
    let n = r.len();
    let m = if n % 2 == 1 {
        r[n / 2]
    } else {
        0.5 * (r[n / 2 - 1] + r[n / 2])
    };
    m.min(cap)
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
        let scale =
            |q: f64| ((estimate + self.offset) * q.exp() - self.offset).clamp(0.0, self.cap);
        // P50 is the estimate itself (already a median over reference tools); shifting
        // it by the median calibration ratio would import the bias of the inner folds,
        // whose models saw one tool fewer.
        let p50 = estimate.clamp(0.0, self.cap);
        Quantiles {
            p10: scale(self.log_ratio.lower).min(p50),
            p50,
            p90: scale(self.log_ratio.upper).max(p50),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unbounded P90 is written as null and read back as infinity.
    #[test]
    fn unbounded_quantiles_round_trip_through_json() {
        let q = Quantiles {
            p10: 2.5,
            p50: 40.0,
            p90: f64::INFINITY,
        };
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(text, r#"{"p10":2.5,"p50":40.0,"p90":null}"#);
        assert_eq!(serde_json::from_str::<Quantiles>(&text).unwrap(), q);
    }

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
    }

    #[test]
    fn remaining_life_is_read_off_reference_curves() {
        // Tool A: 10 µm per cut from 0; tool B: 5 µm per cut. Limit 100.
        let u: Vec<f64> = (0..=20).map(f64::from).collect();
        let a: Vec<Option<f64>> = u.iter().map(|x| Some(10.0 * x)).collect();
        let b: Vec<Option<f64>> = u.iter().map(|x| Some(5.0 * x)).collect();
        let ca = ReferenceCurve::from_measurements(&u, &a, 100.0, Some(10.0)).unwrap();
        let cb = ReferenceCurve::from_measurements(&u, &b, 100.0, Some(20.0)).unwrap();
        assert!((ca.remaining_from(50.0) - 5.0).abs() < 1e-9);
        assert!((cb.remaining_from(50.0) - 10.0).abs() < 1e-9);
        // Median of 5 and 10 without rescaling.
        assert!((estimate(&[ca.clone(), cb.clone()], 50.0, 100.0, None, 1e3) - 7.5).abs() < 1e-9);
        // At conditions whose Taylor life is 10, B's 10 cuts shrink to 5.
        assert!((estimate(&[ca, cb], 50.0, 100.0, Some(10.0), 1e3) - 5.0).abs() < 1e-9);
        assert_eq!(estimate(&[], 120.0, 100.0, None, 1e3), 0.0);
    }
}
