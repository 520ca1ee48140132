//! Adapting a shipped tool-life prediction to one machine from that machine's own tool lives.
//!
//! A wear model trained on one data set (or a Taylor law from a catalogue) says how long a tool
//! should last at given cutting conditions; on a new machine it can be off by a factor (other
//! tool grades, coolant, rigidity). What the machine itself says is its tool changes: a tool
//! worn out after `t` minutes of cutting is one observed life; a preventive change (the CNC's
//! life counter, a planner's schedule) or a breakage says only that the tool would have lasted
//! at least `t` (right-censored).
//!
//! The model, per tool class:
//!
//! ```text
//! ln T_i = ln M_i + δ + σ·ε_i,   ε_i ~ N(0, 1)
//! ```
//!
//! `M_i` is the prior's median life at tool i's own cutting conditions (so tools cut at other
//! speeds still inform one factor), `e^δ` is this machine's *life factor* (how much longer its
//! tools last than the prior says: an update of the Taylor law's constant), and `σ` is the
//! scatter of lives between tools of the class. The prior on the factor counts as
//! `prior_weight_lives` tool lives: δ ~ N(0, σ₀²/n₀), σ₀ the typical scatter. With n worn-out
//! lives and σ = σ₀, the posterior mean of δ is n/(n + n₀) of the way from the prior (0) to the
//! machine's own mean log ratio: the *machine share* of the figure. Censored lives enter
//! through their survival probability (they push the factor up where tools outlived the prior,
//! never down), and σ is itself uncertain (a prior around σ₀, updated by the lives), so the
//! posterior is computed on a grid over (δ, σ) rather than in closed form.
//!
//! The factor's prior is tied to σ₀, not to the σ of each grid point: tied to σ, a large
//! scatter also made a far factor likely, and lives that only say "at least this long" (tools
//! changed by the CNC's life counter, never seen worn out) were explained by both at once: ten
//! changes at 3× the prior's life put the median life at 8× the prior and growing with every
//! further change. Untied, the factor settles just past the changes (1.6× the counter's
//! limit after ten), where the prior's own tail puts it.
//!
//! The remaining life of a tool in use is the posterior predictive of `T` given that it has
//! survived the minutes it has cut: its band is wide while the factor is uncertain (few
//! lives) and narrows to the class's own scatter as lives accumulate.
//!
//! The share reported for a planner: `machine_share = n / (n + n₀)`, n the lives' worth of
//! evidence: a worn-out life counts one, a censored one the part of a life it tells (its Fisher
//! information relative to an observed end: near nothing for a change long before the tools
//! of the class usually end, near one for a tool that outlived them). With n worn-out lives
//! and a known scatter this is exactly the weight of the machine's mean in the posterior mean.

use serde::{Deserialize, Serialize};

use crate::features::CutRecord;
use crate::rul::Quantiles;
use crate::wear::{PredictError, WearModel};

/// A wear model's median life (usage from new to its wear limit) for a new tool of `class`
/// cut as `cut` describes (its usage is taken as 0): the prior median life `M` of one set of
/// cutting conditions.
pub fn wear_model_life(
    model: &WearModel,
    class: &str,
    cut: &CutRecord,
) -> Result<f64, PredictError> {
    let mut fresh = model.new_tool(class);
    let mut first = cut.clone();
    first.usage = 0.0;
    let p = model.predict_cut(&mut fresh, &first)?;
    Ok(p.usage + p.rul.p50)
}

/// What the prior is worth and how lives of one class scatter, before any evidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PriorSettings {
    /// Weight of the prior in tool lives (n₀): how many of this machine's worn-out lives it
    /// takes to move the figure halfway from the prior to the machine.
    pub prior_weight_lives: f64,
    /// Typical scatter of ln(life) between tools of one class (σ's prior median).
    pub scatter: f64,
    /// Standard deviation of ln σ in σ's prior (how sure that typical scatter is).
    pub scatter_uncertainty: f64,
}

impl Default for PriorSettings {
    /// n₀ = 0.2 tool lives: the prior's factor is uncertain by about a factor of two at one
    /// standard deviation (σ/√n₀ = 0.67 with σ = 0.3), so that one or two lives of the machine
    /// carry the figure most of the way (83 % and 91 %). σ = 0.3: tool lives of one class and
    /// condition scatter by 20-40 % (a Weibull shape of 3-5), σ uncertain by a factor of 1.6.
    fn default() -> Self {
        PriorSettings {
            prior_weight_lives: 0.2,
            scatter: 0.3,
            scatter_uncertainty: 0.5,
        }
    }
}

/// One recorded tool life, with what the prior predicted for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Usage at the change (minutes of cutting).
    pub used: f64,
    /// `true`: worn out (an observed end of life); `false`: censored.
    pub ended: bool,
    /// The prior's median life at this tool's cutting conditions (same unit).
    pub prior_median: f64,
}

/// One point of the posterior grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GridPoint {
    /// ln(life factor).
    pub shift: f64,
    /// Scatter σ of ln(life).
    pub scatter: f64,
    pub weight: f64,
}

/// The posterior of one class's life factor after its recorded lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adaptation {
    pub settings: PriorSettings,
    /// Recorded lives behind the figure (worn out + censored).
    pub lives: usize,
    pub worn_out: usize,
    pub censored: usize,
    /// Share of the figure from this machine's lives (0 with none, → 1 with many).
    pub machine_share: f64,
    /// Posterior P10/P50/P90 of the life factor e^δ (1 = the prior is right).
    pub life_factor: Quantiles,
    /// Posterior median of the scatter σ.
    pub scatter: f64,
    /// Grid points holding all but a negligible share of the posterior (normalised weights).
    pub posterior: Vec<GridPoint>,
}

/// Grid over δ: ±4 (a factor of 55 either way) in steps of 0.03.
const SHIFT_RANGE: f64 = 4.0;
const SHIFT_STEP: f64 = 0.03;
/// Grid over ln σ: points spanning ±3 prior standard deviations.
const SCATTER_POINTS: usize = 21;
/// Points below this share of the largest weight are dropped from the kept posterior.
const NEGLIGIBLE: f64 = 1e-5;

fn normal_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

fn ln_normal_pdf(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// ln P(Z > z), accurate far in the upper tail (a censored life far beyond the prior).
fn ln_survival(z: f64) -> f64 {
    let s = normal_cdf(-z);
    if s > 1e-300 {
        s.ln()
    } else {
        // Mills ratio: P(Z > z) ≈ φ(z)/z for large z.
        ln_normal_pdf(z) - z.ln()
    }
}

impl Adaptation {
    /// The prior alone (no lives yet).
    pub fn prior(settings: PriorSettings) -> Adaptation {
        Adaptation::update(settings, &[])
    }

    /// Posterior after `evidence`. Lives with a non-positive or non-finite usage or prior
    /// median are not evidence and are skipped.
    pub fn update(settings: PriorSettings, evidence: &[Evidence]) -> Adaptation {
        let ev: Vec<(f64, bool)> = evidence
            .iter()
            .filter(|e| {
                e.used.is_finite()
                    && e.used > 0.0
                    && e.prior_median.is_finite()
                    && e.prior_median > 0.0
            })
            .map(|e| ((e.used / e.prior_median).ln(), e.ended))
            .collect();
        let n0 = settings.prior_weight_lives.max(1e-6);
        let (ln_s0, s_sd) = (
            settings.scatter.max(1e-3).ln(),
            settings.scatter_uncertainty.max(1e-3),
        );
        let shifts = (2.0 * SHIFT_RANGE / SHIFT_STEP).round() as usize + 1;
        let mut grid = Vec::with_capacity(shifts * SCATTER_POINTS);
        // The factor's prior standard deviation, σ₀/√n₀ at every σ (see the module's notes).
        let tau = settings.scatter.max(1e-3) / n0.sqrt();
        for j in 0..SCATTER_POINTS {
            let u = -3.0 + 6.0 * j as f64 / (SCATTER_POINTS - 1) as f64;
            let sigma = (ln_s0 + s_sd * u).exp();
            let ln_prior_sigma = ln_normal_pdf(u);
            for i in 0..shifts {
                let d = -SHIFT_RANGE + SHIFT_STEP * i as f64;
                let ln_prior = ln_prior_sigma + ln_normal_pdf(d / tau) - tau.ln();
                let ln_lik: f64 = ev
                    .iter()
                    .map(|&(z, ended)| {
                        let x = (z - d) / sigma;
                        if ended {
                            ln_normal_pdf(x) - sigma.ln()
                        } else {
                            ln_survival(x)
                        }
                    })
                    .sum();
                grid.push((d, sigma, ln_prior + ln_lik));
            }
        }
        let normalise = |g: &[(f64, f64, f64)]| -> Vec<GridPoint> {
            let top = g.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
            let mut pts: Vec<GridPoint> = g
                .iter()
                .map(|&(shift, scatter, lw)| GridPoint {
                    shift,
                    scatter,
                    weight: (lw - top).exp(),
                })
                .collect();
            let total: f64 = pts.iter().map(|p| p.weight).sum();
            for p in &mut pts {
                p.weight /= total;
            }
            pts
        };
        let post = normalise(&grid);
        let marginal_quantile = |key: fn(&GridPoint) -> f64, p: f64| {
            let mut v: Vec<(f64, f64)> = post.iter().map(|g| (key(g), g.weight)).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut acc = 0.0;
            for (x, w) in &v {
                acc += w;
                if acc >= p {
                    return *x;
                }
            }
            v.last().map_or(0.0, |x| x.0)
        };
        let factor = |p: f64| marginal_quantile(|g| g.shift, p).exp();
        let (shift, scatter) = (
            marginal_quantile(|g| g.shift, 0.5),
            marginal_quantile(|g| g.scatter, 0.5),
        );
        // Lives' worth of the evidence: a worn-out life is one; a censored one is the Fisher
        // information of a censored normal observation relative to an exact one, λ(λ − x) with
        // x its standardised log ratio and λ the normal hazard at x (near 0 for a change long
        // before the expected end, near 1 for one long after it).
        let worth: f64 = ev
            .iter()
            .map(|&(z, ended)| {
                if ended {
                    1.0
                } else {
                    let x = (z - shift) / scatter;
                    let hazard = (ln_normal_pdf(x) - ln_survival(x)).exp();
                    (hazard * (hazard - x)).clamp(0.0, 1.0)
                }
            })
            .sum();
        let machine_share = worth / (worth + n0);
        let top = post.iter().map(|p| p.weight).fold(0.0, f64::max);
        let mut kept: Vec<GridPoint> = post
            .iter()
            .copied()
            .filter(|p| p.weight >= NEGLIGIBLE * top)
            .collect();
        let total: f64 = kept.iter().map(|p| p.weight).sum();
        for p in &mut kept {
            p.weight /= total;
        }
        Adaptation {
            settings,
            lives: ev.len(),
            worn_out: ev.iter().filter(|e| e.1).count(),
            censored: ev.iter().filter(|e| !e.1).count(),
            machine_share,
            life_factor: Quantiles {
                p10: factor(0.1),
                p50: factor(0.5),
                p90: factor(0.9),
            },
            scatter,
            posterior: kept,
        }
    }

    /// Share of the figure that is still the prior's.
    pub fn prior_share(&self) -> f64 {
        1.0 - self.machine_share
    }

    /// The posterior predictive of the life of a tool whose prior median life is
    /// `prior_median`: one log-normal per grid point.
    fn components(&self, prior_median: f64) -> Vec<LogNormal> {
        let m = prior_median.ln();
        self.posterior
            .iter()
            .map(|p| LogNormal {
                mean: m + p.shift,
                sd: p.scatter,
                weight: p.weight,
            })
            .collect()
    }

    /// Remaining life P10/P50/P90 of a tool whose prior median life at its conditions is
    /// `prior_median`, given it has been used `used` (same unit): the posterior predictive of
    /// its life conditional on having survived so far. `None` for a prior median that is not
    /// positive and finite.
    pub fn remaining(&self, prior_median: f64, used: f64) -> Option<Quantiles> {
        if !(prior_median.is_finite() && prior_median > 0.0) {
            return None;
        }
        Some(remaining_of(
            &self.components(prior_median),
            used,
            prior_median,
        ))
    }

    /// As [`remaining`](Self::remaining), for a tool whose own measured wear also reads its
    /// life as `reading` (P10/P50/P90 of its life, `wear_curves::life`): the class's
    /// predictive life times the reading taken as a log-normal likelihood (median its P50,
    /// spread its P10–P90), so a sure reading governs and an unsure one (early in life, where
    /// wear hardly moves) leans on the class's lives. `None` for a prior median or a reading
    /// that is not positive, finite and ordered.
    pub fn remaining_with_reading(
        &self,
        prior_median: f64,
        used: f64,
        reading: Quantiles,
    ) -> Option<Quantiles> {
        if !(prior_median.is_finite() && prior_median > 0.0) {
            return None;
        }
        let ok = |x: f64| x.is_finite() && x > 0.0;
        let ordered = reading.p10 <= reading.p50 && reading.p50 <= reading.p90;
        if !(ok(reading.p10) && ok(reading.p50) && ok(reading.p90) && ordered) {
            return None;
        }
        // P10..P90 of a normal spans 2 × 1.2816 standard deviations; a reading as narrow as
        // nothing is held to a 1 % scatter (it is still a reading on a few curves).
        let (m, sd) = (
            reading.p50.ln(),
            ((reading.p90 / reading.p10).ln() / (2.0 * 1.281_551_565_5)).max(0.01),
        );
        let mut parts: Vec<LogNormal> = self
            .components(prior_median)
            .into_iter()
            .map(|c| {
                let joint = (c.sd * c.sd + sd * sd).sqrt();
                let precision = 1.0 / (c.sd * c.sd) + 1.0 / (sd * sd);
                LogNormal {
                    mean: (c.mean / (c.sd * c.sd) + m / (sd * sd)) / precision,
                    sd: precision.sqrt().recip(),
                    // How likely the reading is under this component, on the log scale
                    // until normalised (far components underflow otherwise).
                    weight: c.weight.ln() + ln_normal_pdf((m - c.mean) / joint) - joint.ln(),
                }
            })
            .collect();
        let top = parts
            .iter()
            .map(|c| c.weight)
            .fold(f64::NEG_INFINITY, f64::max);
        for c in &mut parts {
            c.weight = (c.weight - top).exp();
        }
        let total: f64 = parts.iter().map(|c| c.weight).sum();
        for c in &mut parts {
            c.weight /= total;
        }
        Some(remaining_of(&parts, used, prior_median))
    }
}

/// One log-normal part of a life distribution: ln T ~ N(mean, sd²), with its weight.
#[derive(Debug, Clone, Copy)]
struct LogNormal {
    mean: f64,
    sd: f64,
    weight: f64,
}

/// P(T > t) over the parts.
fn survival(parts: &[LogNormal], t: f64) -> f64 {
    if t <= 0.0 {
        return 1.0;
    }
    let z = t.ln();
    parts
        .iter()
        .map(|p| p.weight * normal_cdf(-(z - p.mean) / p.sd))
        .sum()
}

/// Remaining life P10/P50/P90 at `used` of a life distributed as `parts`, conditional on
/// T > used; `scale` (a typical life) bounds the search.
fn remaining_of(parts: &[LogNormal], used: f64, scale: f64) -> Quantiles {
    let used = used.max(0.0);
    let alive = survival(parts, used);
    // P(T > used + r | T > used) = 1 − p, solved for r by bisection on ln(used + r).
    let q = |p: f64| -> f64 {
        if alive <= 0.0 {
            return 0.0;
        }
        let target = (1.0 - p) * alive;
        let (mut lo, mut hi) = (
            used.max(scale * 1e-4).ln(),
            (used + scale).ln() + SHIFT_RANGE + 8.0,
        );
        if survival(parts, lo.exp()) <= target {
            return 0.0;
        }
        for _ in 0..44 {
            let mid = 0.5 * (lo + hi);
            if survival(parts, mid.exp()) > target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (0.5 * (lo + hi)).exp() - used
    };
    Quantiles {
        p10: q(0.1).max(0.0),
        p50: q(0.5).max(0.0),
        p90: q(0.9).max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn known_scatter(n0: f64) -> PriorSettings {
        // σ as good as known: the conjugate normal result must come out.
        PriorSettings {
            prior_weight_lives: n0,
            scatter: 0.3,
            scatter_uncertainty: 1e-3,
        }
    }

    #[test]
    fn with_no_lives_the_prior_is_the_figure() {
        let a = Adaptation::prior(PriorSettings::default());
        assert_eq!(a.lives, 0);
        assert_eq!(a.machine_share, 0.0);
        assert!(
            (a.life_factor.p50 - 1.0).abs() < 0.03,
            "{:?}",
            a.life_factor
        );
        // A new tool's median life is the prior's; the band is wide (the factor is unknown).
        let q = a.remaining(10.0, 0.0).unwrap();
        assert!((q.p50 - 10.0).abs() < 0.3, "{q:?}");
        assert!(q.p90 / q.p10 > 4.0, "{q:?}");
    }

    #[test]
    fn worn_out_lives_move_the_factor_as_the_conjugate_update_says() {
        // Prior says 10 min; the machine's tools last 30 (δ = ln 3).
        let n0 = 0.5;
        for n in 1..=4usize {
            let ev: Vec<Evidence> = (0..n)
                .map(|_| Evidence {
                    used: 30.0,
                    ended: true,
                    prior_median: 10.0,
                })
                .collect();
            let a = Adaptation::update(known_scatter(n0), &ev);
            let share = n as f64 / (n as f64 + n0);
            assert!(
                (a.machine_share - share).abs() < 0.01,
                "{n}: {}",
                a.machine_share
            );
            let expected = (share * 3f64.ln()).exp();
            assert!(
                (a.life_factor.p50 / expected - 1.0).abs() < 0.03,
                "{n}: {:?} against {expected}",
                a.life_factor
            );
            assert_eq!((a.lives, a.worn_out, a.censored), (n, n, 0));
        }
    }

    #[test]
    fn censored_lives_push_the_factor_up_and_count_less_than_an_end() {
        let s = PriorSettings::default();
        let censored = Adaptation::update(
            s,
            &[Evidence {
                used: 25.0,
                ended: false,
                prior_median: 10.0,
            }],
        );
        let ended = Adaptation::update(
            s,
            &[Evidence {
                used: 25.0,
                ended: true,
                prior_median: 10.0,
            }],
        );
        // Outlived the prior by 2.5×: the factor is at least about that.
        assert!(censored.life_factor.p50 > 2.0, "{:?}", censored.life_factor);
        assert!(censored.machine_share < ended.machine_share);
        assert!(censored.machine_share > 0.0);
        // A preventive change long before the prior's life says nearly nothing.
        let early = Adaptation::update(
            s,
            &[Evidence {
                used: 2.0,
                ended: false,
                prior_median: 10.0,
            }],
        );
        assert!(
            (early.life_factor.p50 - 1.0).abs() < 0.1,
            "{:?}",
            early.life_factor
        );
        assert!(early.machine_share < 0.1, "{}", early.machine_share);
    }

    #[test]
    fn changes_by_the_life_counter_alone_settle_just_past_it() {
        // A shop that changes every tool at its CNC limit (3× the prior's life) and never sees
        // one worn out: the tools last at least that long, and nothing says how much longer
        // but the prior. The factor must settle past the limit, not run away with each change.
        let at_limit = |n: usize| {
            let ev: Vec<Evidence> = (0..n)
                .map(|_| Evidence {
                    used: 30.0,
                    ended: false,
                    prior_median: 10.0,
                })
                .collect();
            Adaptation::update(PriorSettings::default(), &ev)
        };
        let (five, ten) = (at_limit(5), at_limit(10));
        for a in [&five, &ten] {
            assert!(
                a.life_factor.p50 > 3.0 && a.life_factor.p50 < 6.0,
                "{:?}",
                a.life_factor
            );
        }
        assert!(
            ten.life_factor.p50 / five.life_factor.p50 < 1.15,
            "{:?} then {:?}",
            five.life_factor,
            ten.life_factor
        );
        // A new tool's median life lies past the limit, within twice it.
        let life = ten.remaining(10.0, 0.0).unwrap().p50;
        assert!(life > 30.0 && life < 60.0, "{life}");
    }

    /// Two worn-out lives of 28 and 33 min where the prior said 10.
    fn two_lives_of_about_30_min() -> Adaptation {
        Adaptation::update(
            PriorSettings::default(),
            &[
                Evidence {
                    used: 28.0,
                    ended: true,
                    prior_median: 10.0,
                },
                Evidence {
                    used: 33.0,
                    ended: true,
                    prior_median: 10.0,
                },
            ],
        )
    }

    #[test]
    fn remaining_life_is_conditional_and_ordered() {
        let a = two_lives_of_about_30_min();
        let mut last = f64::INFINITY;
        // (Within the lives seen: far beyond them a log-normal's hazard falls again.)
        for used in [0.0, 10.0, 20.0, 30.0] {
            let q = a.remaining(10.0, used).unwrap();
            assert!(q.p10 <= q.p50 && q.p50 <= q.p90, "{used}: {q:?}");
            assert!(q.p50 < last && q.p50 > 0.0, "{used}: {q:?}");
            last = q.p50;
        }
        // At another speed the prior says 5 min: the same factor applies.
        let here = a.remaining(10.0, 0.0).unwrap().p50;
        let there = a.remaining(5.0, 0.0).unwrap().p50;
        assert!((here / there - 2.0).abs() < 0.02, "{here} {there}");
        assert!(a.remaining(0.0, 1.0).is_none() && a.remaining(f64::NAN, 1.0).is_none());
    }

    /// The band is honest: over many simulated machines whose tools last a random factor
    /// longer than the prior, the 80 % band for the next tool covers its life about 80 % of
    /// the time after 0, 1, 2 and 5 lives, and the median error shrinks as lives accrue.
    #[test]
    fn the_band_covers_the_next_life_at_every_amount_of_evidence() {
        let s = PriorSettings::default();
        let mut rng = StdRng::seed_from_u64(7);
        let unit = Normal::new(0.0, 1.0).unwrap();
        let trials = 300;
        let mut abs_err_by_n = Vec::new();
        for n in [0usize, 1, 2, 5] {
            let (mut inside, mut abs_err) = (0, 0.0);
            for _ in 0..trials {
                // Machine factor drawn from the prior itself; scatter near the prior's.
                let sigma =
                    (s.scatter.ln() + s.scatter_uncertainty * 0.5 * unit.sample(&mut rng)).exp();
                let delta = s.scatter / s.prior_weight_lives.sqrt() * unit.sample(&mut rng);
                let life = |m: f64, rng: &mut StdRng| m * (delta + sigma * unit.sample(rng)).exp();
                let ev: Vec<Evidence> = (0..n)
                    .map(|k| {
                        let m = 8.0 + k as f64;
                        Evidence {
                            used: life(m, &mut rng),
                            ended: true,
                            prior_median: m,
                        }
                    })
                    .collect();
                let a = Adaptation::update(s, &ev);
                let next = life(10.0, &mut rng);
                let q = a.remaining(10.0, 0.0).unwrap();
                inside += usize::from(q.p10 <= next && next <= q.p90);
                abs_err += (q.p50 / next).ln().abs();
            }
            let cov = inside as f64 / trials as f64;
            assert!((0.73..=0.87).contains(&cov), "{n} lives: coverage {cov}");
            abs_err_by_n.push(abs_err / trials as f64);
        }
        assert!(
            abs_err_by_n.windows(2).all(|w| w[1] < w[0]),
            "{abs_err_by_n:?}"
        );
    }

    #[test]
    fn a_reading_of_the_tools_own_wear_weighs_by_how_sure_it_is() {
        // Two lives of about 30 min; this tool's wear reads its life at 40 min.
        let a = two_lives_of_about_30_min();
        let used = 20.0;
        let lives = a.remaining(10.0, used).unwrap();
        let read = |spread: f64| {
            a.remaining_with_reading(
                10.0,
                used,
                Quantiles {
                    p10: 40.0 / spread,
                    p50: 40.0,
                    p90: 40.0 * spread,
                },
            )
            .unwrap()
        };
        // A sure reading governs, an unsure one leaves the lives' figure nearly as it was,
        // and one between lands between.
        let sure = read(1.01);
        assert!((sure.p50 - 20.0).abs() < 0.5, "{sure:?}");
        assert!(sure.p90 - sure.p10 < 2.0, "{sure:?}");
        let unsure = read(20.0);
        assert!(
            (unsure.p50 - lives.p50).abs() < 0.1 * lives.p50,
            "{unsure:?} {lives:?}"
        );
        let between = read(1.3);
        assert!(
            between.p50 > lives.p50 && between.p50 < 20.0,
            "{between:?} {lives:?}"
        );
        assert!(between.p10 <= between.p50 && between.p50 <= between.p90);
        // Narrower than either alone.
        assert!(
            between.p90 - between.p10 < lives.p90 - lives.p10,
            "{between:?} {lives:?}"
        );
        // Not a reading.
        for bad in [
            Quantiles {
                p10: f64::NAN,
                p50: 40.0,
                p90: 50.0,
            },
            Quantiles {
                p10: 0.0,
                p50: 40.0,
                p90: 50.0,
            },
            Quantiles {
                p10: 45.0,
                p50: 40.0,
                p90: 50.0,
            },
        ] {
            assert!(
                a.remaining_with_reading(10.0, used, bad).is_none(),
                "{bad:?}"
            );
        }
    }
}
