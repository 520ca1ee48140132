//! What a measured flank wear says about a tool's life, read on measured wear curves of tools
//! that reached the wear limit: the training data's (`WearModel::references`) or a machine's
//! own worn-out tools, measured during their lives.
//!
//! A tool measured at wear `level` after `used` minutes had used, on each curve, the share of
//! that curve's life the curve took to reach `level`; its life is `used` over that share. Over
//! the curves this gives a median life and a spread. The share holds whatever the machine's
//! speed against the curves', but not whatever the shape of its wear: the simulator's tools
//! reach 0.2 mm at 81 % of their life, NASA's at 69 %, so NASA's curves read that measurement
//! as nearly twice the life left.
//!
//! A machine's own curves have its shape. They are also few, and a spread over three or five
//! curves says little about how far off a reading can be (on the simulator, whose tools all
//! wear alike, near nothing). So each own curve is read on the others at each of its
//! measurements (leave one out), and the error of those readings, ln(read life ÷ true life),
//! is kept with the share of life it was read at: a reading's band is the wider of the
//! curves' spread and the errors of the readings made at the nearest shares of life (early in
//! life, where wear hardly moves, a reading is far less sure than late).

use serde::{Deserialize, Serialize};

use crate::rul::{Quantiles, ReferenceCurve};

/// Curves it takes before a machine's own are read (P10 and P90 need at least three).
pub const MIN_CURVES: usize = 3;

/// The error of reading one measurement of a curve on the others: `share` of life used at
/// the measurement, `ln_error` = ln(read life ÷ the curve's true life).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadingError {
    pub share: f64,
    pub ln_error: f64,
}

/// Measured wear curves to read a tool's measured wear on, with the errors of reading them on
/// one another (empty for the training curves: their spread is the band).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WearCurves {
    pub curves: Vec<ReferenceCurve>,
    pub errors: Vec<ReadingError>,
}

/// Share of its life each curve had used at `level` (curves that reached it after their
/// start; none for a level that is not finite and positive).
fn shares<'a>(curves: impl IntoIterator<Item = &'a ReferenceCurve>, level: f64) -> Vec<f64> {
    if !(level.is_finite() && level > 0.0) {
        return Vec::new();
    }
    curves
        .into_iter()
        .map(|c| 1.0 - c.remaining_from(level) / c.limit_usage)
        .filter(|s| s.is_finite() && *s > 0.0)
        .collect()
}

/// Quantile `q` of sorted values, linear between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let x = q * (sorted.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    sorted[i] + f * (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i])
}

/// Median share of life used at `level` over `curves`; `None` without a curve that reached
/// it, or for a level that is not finite and positive.
pub fn life_used_at(curves: &[ReferenceCurve], level: f64) -> Option<f64> {
    let mut s = shares(curves, level);
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    Some(quantile(&s, 0.5))
}

/// The life (P10/P50/P90) of a tool measured at `level` after `used`, read on `curves` alone:
/// `used` over each curve's share at `level`. `None` with fewer than [`MIN_CURVES`] readings.
fn read_life(curves: &[ReferenceCurve], used: f64, level: f64) -> Option<Quantiles> {
    if !(used.is_finite() && used > 0.0) {
        return None;
    }
    let mut life: Vec<f64> = shares(curves, level).iter().map(|s| used / s).collect();
    if life.len() < MIN_CURVES {
        return None;
    }
    life.sort_by(f64::total_cmp);
    Some(Quantiles {
        p10: quantile(&life, 0.1),
        p50: quantile(&life, 0.5),
        p90: quantile(&life, 0.9),
    })
}

impl WearCurves {
    /// The training data's curves: the band is their spread.
    pub fn training(curves: Vec<ReferenceCurve>) -> WearCurves {
        WearCurves {
            curves,
            errors: Vec::new(),
        }
    }

    /// A machine's own curves, with the errors of reading each one's measurements (those
    /// after its start and before it reached the limit) on the others.
    pub fn own(curves: Vec<ReferenceCurve>) -> WearCurves {
        let mut errors = Vec::new();
        for (i, c) in curves.iter().enumerate() {
            let others = || {
                curves
                    .iter()
                    .enumerate()
                    .filter(move |(j, _)| *j != i)
                    .map(|(_, o)| o)
            };
            for (u, w) in c.usage.iter().zip(&c.wear) {
                if !(*u > 0.0 && *u < c.limit_usage) {
                    continue;
                }
                let mut read: Vec<f64> = shares(others(), *w).iter().map(|s| u / s).collect();
                if read.is_empty() {
                    continue;
                }
                read.sort_by(f64::total_cmp);
                errors.push(ReadingError {
                    share: u / c.limit_usage,
                    ln_error: (quantile(&read, 0.5) / c.limit_usage).ln(),
                });
            }
        }
        WearCurves { curves, errors }
    }

    pub fn len(&self) -> usize {
        self.curves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.curves.is_empty()
    }

    /// Median share of life used at `level` over the curves.
    pub fn life_used_at(&self, level: f64) -> Option<f64> {
        life_used_at(&self.curves, level)
    }

    /// The life of a tool measured at `level` after `used_then`: see [`life`].
    pub fn life(&self, used_then: f64, level: f64) -> Option<Quantiles> {
        life(&self.curves, &self.errors, used_then, level)
    }

    /// Remaining life at `used_now` of a tool measured at `level` after `used_then`: see
    /// [`remaining`].
    pub fn remaining(
        &self,
        used_then: f64,
        level: f64,
        used_now: f64,
        cap: f64,
    ) -> Option<Quantiles> {
        remaining(&self.curves, &self.errors, used_then, level, used_now, cap)
    }
}

/// The life (P10/P50/P90, from new) of a tool measured at `level` after `used_then`, read on
/// `curves`. P50: the median of the curves' readings. Band: the wider, on each side, of the
/// curves' spread and the reading `errors` made at the shares of life nearest this reading's
/// (a third of them, at least five). `None` with fewer than [`MIN_CURVES`] curves that reached
/// `level` after their start.
pub fn life(
    curves: &[ReferenceCurve],
    errors: &[ReadingError],
    used_then: f64,
    level: f64,
) -> Option<Quantiles> {
    let life = read_life(curves, used_then, level)?;
    let (mut lo, mut hi) = (life.p10, life.p90);
    if !errors.is_empty() {
        let share = used_then / life.p50;
        let mut near: Vec<&ReadingError> = errors.iter().collect();
        near.sort_by(|a, b| (a.share - share).abs().total_cmp(&(b.share - share).abs()));
        near.truncate((errors.len() / 3).max(5));
        let mut e: Vec<f64> = near.iter().map(|r| r.ln_error).collect();
        e.sort_by(f64::total_cmp);
        // A reading `e` too long: the true life is the reading over e^e.
        lo = lo.min(life.p50 * (-quantile(&e, 0.9)).exp());
        hi = hi.max(life.p50 * (-quantile(&e, 0.1)).exp());
    }
    Some(Quantiles {
        p10: lo,
        p50: life.p50,
        p90: hi,
    })
}

/// Remaining life (P10/P50/P90, each within 0..`cap`) at `used_now` of a tool measured at
/// `level` after `used_then`, on `curves`: its [`life`] less `used_now`.
pub fn remaining(
    curves: &[ReferenceCurve],
    errors: &[ReadingError],
    used_then: f64,
    level: f64,
    used_now: f64,
    cap: f64,
) -> Option<Quantiles> {
    let life = life(curves, errors, used_then, level)?;
    let left = |t: f64| (t - used_now).clamp(0.0, cap);
    Some(Quantiles {
        p10: left(life.p10),
        p50: left(life.p50),
        p90: left(life.p90),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool that wears fast at first, slowly mid-life and fast again towards the limit
    /// (0.3), over `life` minutes, measured every `every` minutes.
    fn curve(life: f64, every: f64) -> ReferenceCurve {
        let shape = |s: f64| 0.3 * (0.55 * (1.0 - (-12.0 * s).exp()) + 0.45 * s.powi(4));
        let mut usage = vec![0.0];
        let mut wear = vec![Some(0.0)];
        let mut u = every;
        while u < life {
            usage.push(u);
            wear.push(Some(shape(u / life)));
            u += every;
        }
        usage.push(life);
        wear.push(Some(0.3));
        ReferenceCurve::from_measurements(&usage, &wear, 0.3, None).unwrap()
    }

    #[test]
    fn a_reading_on_curves_of_the_same_shape_gives_the_life() {
        // Measured every minute: piecewise-linear readings come near the smooth shape.
        let own = WearCurves::own(vec![curve(20.0, 1.0), curve(30.0, 1.0), curve(25.0, 1.0)]);
        assert!(!own.errors.is_empty());
        // A tool of 40 min measured at 30 min (75 % of its life).
        let level = 0.3 * (0.55 * (1.0 - (-12.0f64 * 0.75).exp()) + 0.45 * 0.75f64.powi(4));
        let r = own.remaining(30.0, level, 30.0, 1e3).unwrap();
        assert!((r.p50 - 10.0).abs() < 0.5, "{r:?}");
        assert!(r.p10 <= r.p50 && r.p50 <= r.p90, "{r:?}");
        // Read later, the minutes cut since come off.
        let later = own.remaining(30.0, level, 33.0, 1e3).unwrap();
        assert!((r.p50 - later.p50 - 3.0).abs() < 1e-9, "{later:?}");
        assert!((own.life_used_at(level).unwrap() - 0.75).abs() < 0.02);
    }

    #[test]
    fn early_readings_get_the_wider_band_their_errors_earned() {
        // Curves measured coarsely: early on, interpolation from (0, 0) misreads the fast
        // first wear, and the leave-one-out errors there are large; late, they are small.
        let own = WearCurves::own(vec![
            curve(20.0, 7.0),
            curve(30.0, 9.0),
            curve(25.0, 6.0),
            curve(35.0, 11.0),
        ]);
        let early_err = own
            .errors
            .iter()
            .filter(|e| e.share < 0.35)
            .map(|e| e.ln_error.abs())
            .fold(0.0, f64::max);
        assert!(early_err > 0.1, "{:?}", own.errors);
        let width = |share: f64| {
            let level = 0.3 * (0.55 * (1.0 - (-12.0 * share).exp()) + 0.45 * share.powi(4));
            let r = own
                .remaining(40.0 * share, level, 40.0 * share, 1e3)
                .unwrap();
            (r.p90 - r.p10) / 40.0
        };
        assert!(width(0.2) > width(0.8), "{} {}", width(0.2), width(0.8));
        // The training path keeps the curves' spread alone.
        let training = WearCurves::training(own.curves.clone());
        let level = 0.3 * (0.55 * (1.0 - (-12.0f64 * 0.2).exp()) + 0.45 * 0.2f64.powi(4));
        let t = training.remaining(8.0, level, 8.0, 1e3).unwrap();
        let o = own.remaining(8.0, level, 8.0, 1e3).unwrap();
        assert_eq!(t.p50, o.p50);
        assert!(o.p90 - o.p10 >= t.p90 - t.p10);
    }

    #[test]
    fn too_few_curves_or_a_bad_reading_read_nothing() {
        let two = WearCurves::own(vec![curve(20.0, 5.0), curve(30.0, 5.0)]);
        assert!(two.remaining(10.0, 0.15, 10.0, 1e3).is_none());
        let three = WearCurves::own(vec![curve(20.0, 5.0), curve(30.0, 5.0), curve(25.0, 5.0)]);
        for (used, level) in [(10.0, f64::NAN), (10.0, 0.0), (0.0, 0.15), (f64::NAN, 0.15)] {
            assert!(
                three.remaining(used, level, 10.0, 1e3).is_none(),
                "{used} {level}"
            );
        }
        assert!(three.life_used_at(-1.0).is_none());
    }
}
