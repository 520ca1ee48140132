//! Per-tool online recalibration of the wear band as the tool's own measured wear arrives.
//!
//! The CV+ band is calibrated over tools: pooled over a tool population it covers 80 %, but a
//! tool that wears faster than the training tools sits outside it cut after cut (PHM 2010 c4:
//! 63.8 %), and one that wears like them is covered every time (c1: 100 %). No property of the
//! held-out tool's inputs says which it is; its measured wear does, once some arrives.
//!
//! Each side of each tool's band is scaled around its P50 by a factor of its own, updated after
//! every measurement by the adaptive-conformal rule (Gibbs and Candès 2021, in log scale):
//!
//! ```text
//! ln s_hi ← ln s_hi + γ·(above − α/2)     ln s_lo ← ln s_lo + γ·(below − α/2)
//! ```
//!
//! with α = 1 − coverage (0.2 for P10..P90): a truth above the band widens its upper side by
//! e^{γ(1−α/2)}, one inside narrows both sides by e^{−γα/2}; the factors settle where the tool's
//! own misses on each side are α/2, whatever the tool. Two sides because a tool that wears
//! faster than the training tools is missed on one side only (widening both would waste half the
//! width). A side's half-width is at least a quarter of the band's width (a band squeezed against
//! its P50 on one side cannot be scaled open), and the factors stay within 1/100..20. The
//! guarantee is per tool: over T measurements a side's miss rate differs from α/2 by at most
//! (range of ln s + γ)/(γT), so it needs measurements; a tool measured a handful of times keeps
//! roughly its CV+ band. Causal: the band at a cut uses measurements of earlier cuts only.

use serde::{Deserialize, Serialize};

use crate::rul::Quantiles;

/// Step γ of the update. 0.3: a run of misses on one side doubles that side in three
/// measurements, and a band ten times too wide on a side narrows to size in about 75 hits (a
/// quarter of a PHM 2010 cutter's cuts); 0.1 left PHM 2010's c1 and c6 at 96 and 94 %, still
/// narrowing when their lives ended.
pub const DEFAULT_STEP: f64 = 0.3;

/// One tool's recalibration state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OnlineBand {
    /// ln of the factors the band's lower and upper half-widths are multiplied by.
    pub ln_lower: f64,
    pub ln_upper: f64,
    /// Target miss rate α/2 of each side.
    pub side_miss_rate: f64,
    pub step: f64,
    /// Measurements taken into account.
    pub measurements: usize,
}

/// Range of a side's factor: 1/100 .. 20.
const LN_MIN: f64 = -4.605_170_185_988_091;
const LN_MAX: f64 = 2.995_732_273_553_991;
/// Smallest half-width of a side, as a share of the band's width.
const MIN_SIDE: f64 = 0.25;

impl OnlineBand {
    pub fn new(coverage: f64, step: f64) -> OnlineBand {
        OnlineBand {
            ln_lower: 0.0,
            ln_upper: 0.0,
            side_miss_rate: (1.0 - coverage) / 2.0,
            step,
            measurements: 0,
        }
    }

    /// The band `q` as this tool's measurements so far have recalibrated it.
    pub fn apply(&self, q: Quantiles) -> Quantiles {
        let floor = MIN_SIDE * (q.p90 - q.p10).max(0.0);
        Quantiles {
            p10: q.p50 - self.ln_lower.exp() * (q.p50 - q.p10).max(floor),
            p50: q.p50,
            p90: q.p50 + self.ln_upper.exp() * (q.p90 - q.p50).max(floor),
        }
    }

    /// A measurement `truth` at a cut whose uncorrected band was `q`.
    pub fn update(&mut self, q: Quantiles, truth: f64) {
        if !truth.is_finite() {
            return;
        }
        let b = self.apply(q);
        let (below, above) = (f64::from(truth < b.p10), f64::from(truth > b.p90));
        self.ln_lower =
            (self.ln_lower + self.step * (below - self.side_miss_rate)).clamp(LN_MIN, LN_MAX);
        self.ln_upper =
            (self.ln_upper + self.step * (above - self.side_miss_rate)).clamp(LN_MIN, LN_MAX);
        self.measurements += 1;
    }
}

/// Recalibrated bands over one tool's cuts: `bands[i]` the model's band at cut i, `truth[i]`
/// its measured wear if measured; measurements are used from every `every`-th measured cut
/// (1: each). Returns the band at each cut as it stood before that cut's measurement.
pub fn recalibrate(
    bands: &[Quantiles],
    truth: &[Option<f64>],
    coverage: f64,
    step: f64,
    every: usize,
) -> Vec<Quantiles> {
    let mut state = OnlineBand::new(coverage, step);
    let mut seen = 0usize;
    bands
        .iter()
        .zip(truth)
        .map(|(q, t)| {
            let out = state.apply(*q);
            if let Some(t) = t {
                if seen.is_multiple_of(every.max(1)) {
                    state.update(*q, *t);
                }
                seen += 1;
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn coverage(b: &[Quantiles], t: &[Option<f64>]) -> f64 {
        let (mut n, mut inside) = (0, 0);
        for (q, t) in b.iter().zip(t) {
            if let Some(t) = t {
                n += 1;
                inside += usize::from(q.p10 <= *t && *t <= q.p90);
            }
        }
        inside as f64 / n as f64
    }

    /// A band too narrow for one tool and too wide for another: both end near 80 %; a tool
    /// whose wear runs above its band is widened above, not below.
    #[test]
    fn each_tool_is_brought_to_its_own_coverage() {
        let mut rng = StdRng::seed_from_u64(3);
        for (noise_sd, before) in [(3.0, (0.0, 0.45)), (0.3, (0.99, 1.0))] {
            let noise = Normal::new(0.0, noise_sd).unwrap();
            let n = 300;
            // The model's band is ±1.28 (80 % for unit noise).
            let bands: Vec<Quantiles> = (0..n)
                .map(|i| {
                    let m = i as f64 * 0.1;
                    Quantiles {
                        p10: m - 1.28,
                        p50: m,
                        p90: m + 1.28,
                    }
                })
                .collect();
            let truth: Vec<Option<f64>> = (0..n)
                .map(|i| Some(i as f64 * 0.1 + noise.sample(&mut rng)))
                .collect();
            let raw = coverage(&bands, &truth);
            assert!((before.0..=before.1).contains(&raw), "{noise_sd}: {raw}");
            let out = recalibrate(&bands, &truth, 0.8, DEFAULT_STEP, 1);
            let c = coverage(&out, &truth);
            assert!((0.74..=0.86).contains(&c), "{noise_sd}: {c}");
            // P50 is never moved.
            assert!(out.iter().zip(&bands).all(|(a, b)| a.p50 == b.p50));
        }
        let bands = vec![
            Quantiles {
                p10: -1.0,
                p50: 0.0,
                p90: 1.0,
            };
            200
        ];
        let noise = Normal::new(2.0, 0.5).unwrap();
        let truth: Vec<Option<f64>> = (0..200).map(|_| Some(noise.sample(&mut rng))).collect();
        let out = recalibrate(&bands, &truth, 0.8, DEFAULT_STEP, 1);
        let last = out.last().unwrap();
        assert!(last.p90 > 2.0 && last.p10 > -1.0, "{last:?}");
        // Never below: only the upper side misses, at its α/2, so 90 % (the band is scaled
        // around P50, never moved past it).
        let c = coverage(&out, &truth);
        assert!((0.85..=0.93).contains(&c), "{c}");
    }

    #[test]
    fn a_cut_is_never_judged_by_its_own_measurement() {
        let bands = vec![
            Quantiles {
                p10: -1.0,
                p50: 0.0,
                p90: 1.0,
            };
            3
        ];
        let out = recalibrate(&bands, &[Some(5.0), None, Some(5.0)], 0.8, 0.5, 1);
        assert_eq!(out[0], bands[0]);
        // After one miss the band is wider, and stays so at an unmeasured cut.
        assert!(out[1].p90 > 1.0 && out[2] == out[1]);
        // With measurements used every second time, the third cut's is the second used.
        let sparse = recalibrate(&bands, &[Some(5.0), Some(5.0), Some(5.0)], 0.8, 0.5, 2);
        assert_eq!(sparse[1], sparse[2]);
    }
}
