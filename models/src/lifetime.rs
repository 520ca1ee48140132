//! Tool life from a machine's own tool changes: a Weibull life distribution per tool class,
//! fitted by maximum likelihood with right-censoring, and the remaining life of a tool in use
//! as the conditional distribution given the life it has already survived.
//!
//! Why this model for the shop floor's labels: a tool change says how long a tool lasted
//! (minutes of cutting) and why it went, not how its wear grew. A wear-out is an observed end
//! of life; a preventive change (and a breakage, for the wear-out life) says only that the
//! tool lasted at least that long: a right-censored lifetime. Dropping censored lifetimes
//! would bias the life short (the long-lived tools are the ones changed early); treating them
//! as ends would too. The Weibull distribution is the usual one for tool-life scatter and
//! gives closed-form conditional quantiles.
//!
//! Uncertainty: with a handful of lifetimes the parameters themselves are uncertain, and the
//! plug-in fit is overconfident. The band therefore comes from a bootstrap over lifetimes:
//! each replicate refits on lifetimes drawn with replacement, and the predictive quantiles are
//! those of the mixture of the replicates' conditional distributions.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::rul::Quantiles;

/// One tool's life: usage until it was changed, and whether that change was its end of life.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    /// Tool class: lifetimes of one class are taken to be draws from one distribution.
    pub class: String,
    /// Usage at the change (e.g. minutes of cutting).
    pub used: f64,
    /// `true`: worn out (the end of life was observed); `false`: censored.
    pub ended: bool,
}

/// A two-parameter Weibull distribution: S(t) = exp(−(t/scale)^shape).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weibull {
    pub shape: f64,
    pub scale: f64,
}

impl Weibull {
    /// Maximum-likelihood fit to `(used, ended)` lifetimes with right-censoring. `None` with
    /// fewer than two observed ends or lifetimes that are not positive and finite.
    pub fn fit(lives: &[(f64, bool)]) -> Option<Weibull> {
        let d = lives.iter().filter(|(_, e)| *e).count();
        if d < 2 || lives.iter().any(|(t, _)| !(t.is_finite() && *t > 0.0)) {
            return None;
        }
        // Work on t / t_max so that t^k stays in range for any shape.
        let t_max = lives.iter().map(|(t, _)| *t).fold(0.0, f64::max);
        let x: Vec<(f64, bool)> = lives.iter().map(|(t, e)| (t / t_max, *e)).collect();
        let sum_ln_events: f64 = x.iter().filter(|(_, e)| *e).map(|(t, _)| t.ln()).sum();
        let d = d as f64;
        // Profile log-likelihood in k, with the scale at its optimum λ^k = Σ t^k / d.
        let profile = |k: f64| {
            let s: f64 = x.iter().map(|(t, _)| t.powf(k)).sum();
            d * k.ln() + (k - 1.0) * sum_ln_events - d * (s / d).ln() - d
        };
        // Golden-section search over ln k: the profile is unimodal in k. The range covers
        // every tool-life scatter reported (shape about 1 to 10) with room either side;
        // identical lifetimes drive k to the upper end.
        let (mut a, mut b) = (0.2f64.ln(), 50.0f64.ln());
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let f = |u: f64| profile(u.exp());
        let (mut c, mut e) = (b - g * (b - a), a + g * (b - a));
        let (mut fc, mut fe) = (f(c), f(e));
        for _ in 0..80 {
            if fc > fe {
                b = e;
                e = c;
                fe = fc;
                c = b - g * (b - a);
                fc = f(c);
            } else {
                a = c;
                c = e;
                fc = fe;
                e = a + g * (b - a);
                fe = f(e);
            }
        }
        let k = ((a + b) / 2.0).exp();
        let s: f64 = x.iter().map(|(t, _)| t.powf(k)).sum();
        let scale = (s / d).powf(1.0 / k) * t_max;
        Some(Weibull { shape: k, scale })
    }

    /// Quantile `p` of the remaining life of a unit that has survived `used`.
    pub fn remaining_quantile(&self, used: f64, p: f64) -> f64 {
        let h = (used.max(0.0) / self.scale).powf(self.shape);
        self.scale * (h - (1.0 - p).ln()).powf(1.0 / self.shape) - used.max(0.0)
    }
}

/// The fitted life of one tool class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassLife {
    pub class: String,
    pub lifetimes: usize,
    /// Observed ends of life (worn out).
    pub ended: usize,
    pub censored: usize,
    /// The maximum-likelihood fit on all lifetimes.
    pub fit: Weibull,
    /// Bootstrap refits, for the predictive band.
    pub replicates: Vec<Weibull>,
}

impl ClassLife {
    /// Remaining life P10/P50/P90 of a tool of this class that has been used `used`.
    pub fn remaining(&self, used: f64) -> Quantiles {
        // The mixture's quantiles from a fixed, stratified grid of probabilities per
        // replicate: deterministic, and fine enough for P10 and P90.
        const GRID: usize = 40;
        let fits: &[Weibull] = if self.replicates.is_empty() {
            std::slice::from_ref(&self.fit)
        } else {
            &self.replicates
        };
        let mut draws: Vec<f64> = Vec::with_capacity(fits.len() * GRID);
        for w in fits {
            for i in 0..GRID {
                let p = (i as f64 + 0.5) / GRID as f64;
                draws.push(w.remaining_quantile(used, p));
            }
        }
        draws.sort_by(f64::total_cmp);
        let q = |p: f64| draws[((p * draws.len() as f64) as usize).min(draws.len() - 1)];
        Quantiles {
            p10: q(0.1),
            p50: q(0.5),
            p90: q(0.9),
        }
    }
}

/// Life distributions per tool class, from lifetimes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifetimeModel {
    /// Unit of `used` (and of the remaining life), e.g. `min` of cutting.
    pub unit: String,
    pub classes: Vec<ClassLife>,
    /// Classes with fewer observed ends than this are not fitted.
    pub min_ended: usize,
}

/// Bootstrap replicates per class: enough for stable P10/P90 of the mixture.
const REPLICATES: usize = 200;

impl LifetimeModel {
    /// Fits every class with at least `min_ended` (≥ 2) observed ends of life. The bootstrap
    /// is seeded, so the same lifetimes always give the same model.
    pub fn fit(lives: &[Lifetime], unit: &str, min_ended: usize) -> LifetimeModel {
        let min_ended = min_ended.max(2);
        let mut classes: Vec<&str> = lives.iter().map(|l| l.class.as_str()).collect();
        classes.sort_unstable();
        classes.dedup();
        let mut out = Vec::new();
        for class in classes {
            let data: Vec<(f64, bool)> = lives
                .iter()
                .filter(|l| l.class == class && l.used.is_finite() && l.used > 0.0)
                .map(|l| (l.used, l.ended))
                .collect();
            let ended = data.iter().filter(|(_, e)| *e).count();
            if ended < min_ended {
                continue;
            }
            let Some(fit) = Weibull::fit(&data) else {
                continue;
            };
            let mut rng = StdRng::seed_from_u64(0x6c69_6665);
            let mut replicates = Vec::with_capacity(REPLICATES);
            // Parametric bootstrap: lifetimes drawn from the fit, each censored where its
            // original was (a preventive change at c still censors a draw beyond c). A
            // resample with fewer than two ends cannot be fitted; draw again (bounded).
            for _ in 0..REPLICATES * 5 {
                if replicates.len() == REPLICATES {
                    break;
                }
                let sample: Vec<(f64, bool)> = data
                    .iter()
                    .map(|&(c, ended)| {
                        let u: f64 = rng.random_range(1e-12..1.0);
                        let t = fit.scale * (-u.ln()).powf(1.0 / fit.shape);
                        if !ended && t > c {
                            (c, false)
                        } else {
                            (t, true)
                        }
                    })
                    .collect();
                if let Some(w) = Weibull::fit(&sample) {
                    replicates.push(w);
                }
            }
            // Maximum likelihood overestimates the shape from few lifetimes (the band comes
            // out too narrow); the bootstrap measures that bias, and the replicates are moved
            // to centre on the bias-corrected shape instead of beyond the biased one.
            if !replicates.is_empty() {
                let bias = replicates.iter().map(|w| w.shape.ln()).sum::<f64>()
                    / replicates.len() as f64
                    - fit.shape.ln();
                for w in &mut replicates {
                    w.shape = (w.shape.ln() - 2.0 * bias).exp();
                }
            }
            out.push(ClassLife {
                class: class.to_string(),
                lifetimes: data.len(),
                ended,
                censored: data.len() - ended,
                fit,
                replicates,
            });
        }
        LifetimeModel {
            unit: unit.to_string(),
            classes: out,
            min_ended,
        }
    }

    pub fn class(&self, class: &str) -> Option<&ClassLife> {
        self.classes.iter().find(|c| c.class == class)
    }
}

/// Leave-one-out check over the observed ends of each class: the held-out tool's total life
/// against the band predicted for a new tool by a model fitted on the others.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaveOneOut {
    pub class: String,
    /// Held-out ends that could be predicted (the rest had too few ends left to fit).
    pub n: usize,
    /// Share of held-out lives inside P10..P90.
    pub coverage_80: f64,
    /// Root-mean-square error of P50 against the held-out life.
    pub rmse: f64,
    /// Mean of P50 − truth (negative: the model says the tool goes early).
    pub bias: f64,
}

pub fn leave_one_out(lives: &[Lifetime], min_ended: usize) -> Vec<LeaveOneOut> {
    let mut classes: Vec<&str> = lives.iter().map(|l| l.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut out = Vec::new();
    for class in classes {
        let (mut n, mut inside, mut se, mut sum) = (0usize, 0usize, 0.0, 0.0);
        for (i, held) in lives.iter().enumerate() {
            if held.class != class || !held.ended {
                continue;
            }
            let rest: Vec<Lifetime> = lives
                .iter()
                .enumerate()
                .filter(|(j, l)| *j != i && l.class == class)
                .map(|(_, l)| l.clone())
                .collect();
            let model = LifetimeModel::fit(&rest, "", min_ended);
            let Some(c) = model.class(class) else {
                continue;
            };
            let q = c.remaining(0.0);
            n += 1;
            inside += usize::from(q.p10 <= held.used && held.used <= q.p90);
            se += (q.p50 - held.used).powi(2);
            sum += q.p50 - held.used;
        }
        if n > 0 {
            out.push(LeaveOneOut {
                class: class.to_string(),
                n,
                coverage_80: inside as f64 / n as f64,
                rmse: (se / n as f64).sqrt(),
                bias: sum / n as f64,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weibull draws by inversion.
    fn draws(w: Weibull, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let u: f64 = rng.random_range(1e-12..1.0);
                w.scale * (-u.ln()).powf(1.0 / w.shape)
            })
            .collect()
    }

    #[test]
    fn recovers_known_parameters_from_complete_lifetimes() {
        let truth = Weibull {
            shape: 3.0,
            scale: 40.0,
        };
        let lives: Vec<(f64, bool)> = draws(truth, 2000, 1)
            .into_iter()
            .map(|t| (t, true))
            .collect();
        let w = Weibull::fit(&lives).unwrap();
        assert!((w.shape - 3.0).abs() < 0.15, "{w:?}");
        assert!((w.scale - 40.0).abs() < 1.0, "{w:?}");
    }

    #[test]
    fn censoring_is_used_not_dropped() {
        // Preventive changes at 30 min: every tool still running then is censored there.
        let truth = Weibull {
            shape: 3.0,
            scale: 40.0,
        };
        let lives: Vec<(f64, bool)> = draws(truth, 2000, 2)
            .into_iter()
            .map(|t| if t > 30.0 { (30.0, false) } else { (t, true) })
            .collect();
        let with = Weibull::fit(&lives).unwrap();
        assert!((with.scale - 40.0).abs() < 2.0, "{with:?}");
        assert!((with.shape - 3.0).abs() < 0.3, "{with:?}");
        // Dropping the censored ones (or counting them as ends) gets the life far too short.
        let ends: Vec<(f64, bool)> = lives.iter().copied().filter(|(_, e)| *e).collect();
        let dropped = Weibull::fit(&ends).unwrap();
        assert!(dropped.scale < 30.0, "{dropped:?}");
        assert!(
            Weibull::fit(&[(10.0, true), (12.0, false)]).is_none(),
            "one end"
        );
    }

    #[test]
    fn remaining_life_is_conditional_on_survival() {
        let w = Weibull {
            shape: 3.0,
            scale: 40.0,
        };
        // New tool: the remaining-life quantiles are the life quantiles.
        let med = w.remaining_quantile(0.0, 0.5);
        assert!((med - 40.0 * std::f64::consts::LN_2.powf(1.0 / 3.0)).abs() < 1e-9);
        // A tool that has survived longer has less left, but never a negative amount.
        let mut last = f64::INFINITY;
        for used in [0.0, 10.0, 30.0, 50.0, 80.0] {
            let r = w.remaining_quantile(used, 0.5);
            assert!(r > 0.0 && r < last, "{used}: {r}");
            last = r;
        }
        // P(T > used + r | T > used) = 0.5 at the conditional median.
        let (used, r) = (30.0, w.remaining_quantile(30.0, 0.5));
        let s = |t: f64| (-(t / w.scale).powf(w.shape)).exp();
        assert!((s(used + r) / s(used) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn bootstrap_bands_are_calibrated_on_held_out_lives() {
        // A few lifetimes per class, as a machine has after some weeks: the band for the next
        // tool must cover its life about as often as it says.
        for (n, shape) in [(3, 4.0), (4, 4.0), (5, 4.0), (6, 4.0), (10, 2.0)] {
            let truth = Weibull { shape, scale: 30.0 };
            let mut inside = 0;
            let trials = 200;
            for k in 0..trials {
                let all = draws(truth, n + 1, 100 + k);
                let lives: Vec<Lifetime> = all[..n]
                    .iter()
                    .map(|&t| Lifetime {
                        class: "c".into(),
                        used: t,
                        ended: true,
                    })
                    .collect();
                let m = LifetimeModel::fit(&lives, "min", 3);
                let q = m.class("c").unwrap().remaining(0.0);
                assert!(q.p10 < q.p50 && q.p50 < q.p90);
                inside += usize::from(q.p10 <= all[n] && all[n] <= q.p90);
            }
            let coverage = inside as f64 / trials as f64;
            println!(
                "80 % band, {n} lifetimes, shape {shape}: next tool inside {:.1} %",
                coverage * 100.0
            );
            assert!((0.7..=0.9).contains(&coverage), "{n} lifetimes: {coverage}");
        }
    }

    #[test]
    fn classes_with_too_few_ends_are_not_fitted() {
        let l = |class: &str, used: f64, ended: bool| Lifetime {
            class: class.into(),
            used,
            ended,
        };
        let lives = [
            l("a", 10.0, true),
            l("a", 12.0, true),
            l("a", 11.0, true),
            l("b", 20.0, true),
            l("b", 25.0, false),
        ];
        let m = LifetimeModel::fit(&lives, "min", 3);
        assert!(m.class("a").is_some() && m.class("b").is_none());
        let loo = leave_one_out(&lives, 2);
        assert_eq!(loo.len(), 1);
        assert_eq!(loo[0].n, 3);
    }
}
