//! Physics prior: an extended-Taylor wear law fitted per tool / material class.
//!
//! Machining textbooks give tool life as the extended Taylor equation
//! `v · T^n · f^a · d^b = C`. The matching wear-growth law, used here, is
//!
//! ```text
//! VB(u) = K · (1 + u)^m · Π_j c_j^q_j
//! ```
//!
//! with usage `u` (cuts or minutes) and constant cutting conditions `c_j` (feed, depth of
//! cut, speed...). Setting VB = limit gives the extended Taylor life
//! `1 + T = (limit / (K Π c_j^q_j))^(1/m)`, i.e. `T ∝ c_j^(-q_j/m)`: the Taylor exponents
//! are `q_j / m`. `(1 + u)` rather than `u` keeps a fresh tool (u = 0) finite.
//!
//! It is fitted as a generalised linear model (normal errors, log link) with linfa's
//! `TweedieRegressor`, so measured zeros (fresh tools) stay in the fit, unlike least
//! squares on log VB.

use std::collections::BTreeMap;

#[cfg(feature = "train")]
use linfa::prelude::*;
#[cfg(feature = "train")]
use linfa_linear::{Link, TweedieRegressor};
#[cfg(feature = "train")]
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// One fitted law.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaylorLaw {
    pub ln_k: f64,
    /// Usage exponent m.
    pub m: f64,
    /// Condition exponents q_j by condition name (conditions that did not vary in the
    /// class's training data have none).
    pub exponents: BTreeMap<String, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum TaylorError {
    #[error("physics prior: {0} labelled rows are too few to fit")]
    TooFewRows(usize),
    #[error("physics prior: condition `{0}` must be positive for a power law")]
    NonPositive(String),
    #[error("physics prior: GLM fit failed: {0}")]
    Fit(String),
}

impl TaylorLaw {
    /// Fit to (usage, conditions, VB) rows. `names` label the condition columns.
    #[cfg(feature = "train")]
    pub fn fit(
        names: &[String],
        usage: &[f64],
        conditions: &[Vec<f64>],
        vb: &[f64],
    ) -> Result<TaylorLaw, TaylorError> {
        let n = usage.len();
        if n < 3 {
            return Err(TaylorError::TooFewRows(n));
        }
        // Only conditions that vary (in log) in these rows can have an exponent.
        let mut used = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let col: Vec<f64> = conditions.iter().map(|r| r[j]).collect();
            if col.iter().any(|v| *v <= 0.0) {
                return Err(TaylorError::NonPositive(name.clone()));
            }
            let first = col[0].ln();
            if col.iter().any(|v| (v.ln() - first).abs() > 1e-9) {
                used.push(j);
            }
        }
        let width = 1 + used.len();
        let mut x = Array2::<f64>::zeros((n, width));
        for i in 0..n {
            x[[i, 0]] = usage[i].max(0.0).ln_1p();
            for (k, j) in used.iter().enumerate() {
                x[[i, k + 1]] = conditions[i][*j].ln();
            }
        }
        // linfa's GLM minimises the summed deviance with L-BFGS from ln(mean y); with
        // targets in µm or covariates far from zero the first line search already fails
        // and the start is returned. Fit on centred, scaled covariates and a target
        // scaled to mean 1/√n (so the summed deviance is O(1) whatever n is), then map
        // the coefficients back.
        let y_scale = vb.iter().map(|v| v.max(0.0)).sum::<f64>() / (n as f64).sqrt();
        if y_scale <= 0.0 {
            return Err(TaylorError::Fit("all wear values are zero".into()));
        }
        let mut centre = vec![0.0; width];
        let mut spread = vec![1.0; width];
        for k in 0..width {
            let col = x.column(k);
            let m = col.sum() / n as f64;
            let sd = (col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
            centre[k] = m;
            spread[k] = if sd > 1e-12 { sd } else { 1.0 };
        }
        for i in 0..n {
            for k in 0..width {
                x[[i, k]] = (x[[i, k]] - centre[k]) / spread[k];
            }
        }
        let y = Array1::from(vb.iter().map(|v| v.max(0.0) / y_scale).collect::<Vec<_>>());
        let glm = TweedieRegressor::params()
            .power(0.0)
            .link(Link::Log)
            .alpha(0.0)
            .max_iter(1000)
            .tol(1e-10)
            .fit(&Dataset::new(x, y))
            .map_err(|e| TaylorError::Fit(e.to_string()))?;
        if glm.coef.iter().all(|c| *c == 0.0) {
            // L-BFGS gave back its starting point: the fit did not run.
            return Err(TaylorError::Fit(
                "the optimiser did not move from its start".into(),
            ));
        }
        let coef: Vec<f64> = (0..width).map(|k| glm.coef[k] / spread[k]).collect();
        let intercept =
            y_scale.ln() + glm.intercept - (0..width).map(|k| coef[k] * centre[k]).sum::<f64>();
        if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
            return Err(TaylorError::Fit("non-finite coefficients".into()));
        }
        Ok(TaylorLaw {
            ln_k: intercept,
            m: coef[0],
            exponents: used
                .iter()
                .enumerate()
                .map(|(k, j)| (names[*j].clone(), coef[k + 1]))
                .collect(),
        })
    }

    fn ln_scale(&self, names: &[String], conditions: &[f64]) -> f64 {
        let mut s = self.ln_k;
        for (name, c) in names.iter().zip(conditions) {
            if let Some(q) = self.exponents.get(name) {
                s += q * c.max(1e-300).ln();
            }
        }
        s
    }

    /// Predicted wear after `usage` at the given conditions.
    pub fn predict(&self, names: &[String], conditions: &[f64], usage: f64) -> f64 {
        (self.ln_scale(names, conditions) + self.m * usage.max(0.0).ln_1p()).exp()
    }

    /// Wear rate dVB/du at `usage`.
    pub fn rate(&self, names: &[String], conditions: &[f64], usage: f64) -> f64 {
        self.m * self.predict(names, conditions, usage) / (1.0 + usage.max(0.0))
    }

    /// Usage at which the law reaches `limit` (extended Taylor tool life), if it grows.
    pub fn life(&self, names: &[String], conditions: &[f64], limit: f64) -> Option<f64> {
        if self.m <= 0.0 || limit <= 0.0 {
            return None;
        }
        let ln_one_plus_t = (limit.ln() - self.ln_scale(names, conditions)) / self.m;
        Some((ln_one_plus_t.exp() - 1.0).max(0.0))
    }
}

/// Laws per class plus one pooled law for classes not seen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaylorPrior {
    pub conditions: Vec<String>,
    pub per_class: BTreeMap<String, TaylorLaw>,
    pub pooled: TaylorLaw,
    /// Weight of the class's own law against the pooled law, w·class + (1−w)·pooled.
    /// A class law is fitted on a few tools (high variance); the pooled law shares its
    /// exponents across classes (bias when classes differ). The weight is chosen by the
    /// inner leave-one-group-out; files written before it existed used the class law only.
    #[serde(default = "one")]
    pub class_weight: f64,
}

/// The weight of files written before the blend: the class law alone.
pub(super) fn one() -> f64 {
    1.0
}

/// Candidate class weights searched by the inner leave-one-group-out.
pub const CLASS_WEIGHTS: [f64; 5] = [1.0, 0.75, 0.5, 0.25, 0.0];

/// The prior for one class: its own law blended with the pooled law.
#[derive(Debug, Clone, Copy)]
pub struct BlendedLaw<'a> {
    pub class: &'a TaylorLaw,
    pub pooled: &'a TaylorLaw,
    pub weight: f64,
}

impl BlendedLaw<'_> {
    /// The one law in play where the blend is not a mix: the class law at weight 1 (or
    /// where the class is the pooled law), the pooled law at weight 0.
    fn single(&self) -> Option<&TaylorLaw> {
        if self.weight >= 1.0 || std::ptr::eq(self.class, self.pooled) {
            Some(self.class)
        } else if self.weight <= 0.0 {
            Some(self.pooled)
        } else {
            None
        }
    }

    pub fn predict(&self, names: &[String], conditions: &[f64], usage: f64) -> f64 {
        match self.single() {
            Some(law) => law.predict(names, conditions, usage),
            None => {
                self.weight * self.class.predict(names, conditions, usage)
                    + (1.0 - self.weight) * self.pooled.predict(names, conditions, usage)
            }
        }
    }

    pub fn rate(&self, names: &[String], conditions: &[f64], usage: f64) -> f64 {
        match self.single() {
            Some(law) => law.rate(names, conditions, usage),
            None => {
                self.weight * self.class.rate(names, conditions, usage)
                    + (1.0 - self.weight) * self.pooled.rate(names, conditions, usage)
            }
        }
    }

    /// Usage at which the blend reaches `limit`. Both laws grow monotonically where
    /// they have a life, so the blend's life lies between theirs; it is found by
    /// bisection on ln(1 + u).
    pub fn life(&self, names: &[String], conditions: &[f64], limit: f64) -> Option<f64> {
        if let Some(law) = self.single() {
            return law.life(names, conditions, limit);
        }
        let a = self.class.life(names, conditions, limit)?;
        let b = self.pooled.life(names, conditions, limit)?;
        let (mut lo, mut hi) = (a.min(b).ln_1p(), a.max(b).ln_1p());
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.predict(names, conditions, mid.exp() - 1.0) < limit {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some((0.5 * (lo + hi)).exp() - 1.0)
    }
}

/// A labelled row for the prior: (class, usage, conditions, VB).
pub type PriorRow = (String, f64, Vec<f64>, f64);

impl TaylorPrior {
    /// Conditions that are not positive everywhere (e.g. a coded 0/1 column) are left
    /// out of the power law.
    #[cfg(feature = "train")]
    pub fn fit(conditions: &[String], rows: &[PriorRow]) -> Result<TaylorPrior, TaylorError> {
        let positive: Vec<usize> = (0..conditions.len())
            .filter(|j| rows.iter().all(|r| r.2[*j] > 0.0))
            .collect();
        let names: Vec<String> = positive.iter().map(|j| conditions[*j].clone()).collect();
        let pick = |r: &PriorRow| positive.iter().map(|j| r.2[*j]).collect::<Vec<f64>>();

        let fit_rows = |subset: &[&PriorRow]| {
            let usage: Vec<f64> = subset.iter().map(|r| r.1).collect();
            let cond: Vec<Vec<f64>> = subset.iter().map(|r| pick(r)).collect();
            let vb: Vec<f64> = subset.iter().map(|r| r.3).collect();
            TaylorLaw::fit(&names, &usage, &cond, &vb)
        };
        let all: Vec<&PriorRow> = rows.iter().collect();
        let pooled = fit_rows(&all)?;
        let mut per_class = BTreeMap::new();
        let classes: std::collections::BTreeSet<&String> = rows.iter().map(|r| &r.0).collect();
        for class in classes {
            let subset: Vec<&PriorRow> = rows.iter().filter(|r| &r.0 == class).collect();
            // A class too small or too degenerate to fit keeps the pooled law.
            if let Ok(law) = fit_rows(&subset) {
                per_class.insert(class.clone(), law);
            }
        }
        Ok(TaylorPrior {
            conditions: names,
            per_class,
            pooled,
            class_weight: 1.0,
        })
    }

    pub fn law(&self, class: &str) -> BlendedLaw<'_> {
        BlendedLaw {
            class: self.per_class.get(class).unwrap_or(&self.pooled),
            pooled: &self.pooled,
            weight: self.class_weight,
        }
    }

    /// Condition values in the prior's order, picked from the model's condition list.
    pub fn select(&self, all_names: &[String], all_values: &[f64]) -> Vec<f64> {
        self.conditions
            .iter()
            .map(|n| {
                all_names
                    .iter()
                    .position(|m| m == n)
                    .map_or(1.0, |j| all_values[j])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Synthetic wear from known parameters, 3 % multiplicative noise.
    #[test]
    fn recovers_known_parameters() {
        let (ln_k, m, q_feed, q_doc) = (-3.0_f64, 0.6, 0.8, 0.3);
        let names = vec!["feed".to_string(), "doc".into()];
        let mut rng = StdRng::seed_from_u64(7);
        let (mut usage, mut cond, mut vb) = (vec![], vec![], vec![]);
        for feed in [0.1_f64, 0.2, 0.4] {
            for doc in [0.5_f64, 1.0, 2.0] {
                for t in 0..40 {
                    let u = t as f64 * 2.0;
                    let clean = (ln_k + m * u.ln_1p()).exp() * feed.powf(q_feed) * doc.powf(q_doc);
                    let noise = 1.0 + 0.03 * (rng.random::<f64>() * 2.0 - 1.0);
                    usage.push(u);
                    cond.push(vec![feed, doc]);
                    vb.push(clean * noise);
                }
            }
        }
        let law = TaylorLaw::fit(&names, &usage, &cond, &vb).unwrap();
        assert!((law.ln_k - ln_k).abs() < 0.05, "ln K = {}", law.ln_k);
        assert!((law.m - m).abs() < 0.02, "m = {}", law.m);
        assert!((law.exponents["feed"] - q_feed).abs() < 0.03);
        assert!((law.exponents["doc"] - q_doc).abs() < 0.03);

        // Tool life from the fitted law reaches the limit.
        let c = [0.2, 1.0];
        let t = law.life(&names, &c, 0.3).unwrap();
        assert!((law.predict(&names, &c, t) - 0.3).abs() < 1e-9);
        // Extended Taylor: life scales as feed^(-q/m).
        let t2 = law.life(&names, &[0.4, 1.0], 0.3).unwrap();
        let expected = ((1.0 + t) * 2f64.powf(-law.exponents["feed"] / law.m)) - 1.0;
        assert!((t2 - expected).abs() < 1e-6 * t2.max(1.0));
    }

    #[test]
    fn prior_keeps_a_law_per_class() {
        let mut rows = Vec::new();
        for (class, ln_k) in [("iron", -2.0_f64), ("steel", -1.0)] {
            for u in 0..30 {
                let u = u as f64;
                rows.push((
                    class.to_string(),
                    u,
                    vec![1.0],
                    (ln_k + 0.5 * u.ln_1p()).exp(),
                ));
            }
        }
        let prior = TaylorPrior::fit(&["material".to_string()], &rows).unwrap();
        assert!((prior.law("iron").class.ln_k + 2.0).abs() < 1e-3);
        assert!((prior.law("steel").class.ln_k + 1.0).abs() < 1e-3);
        // unknown class falls back to the pooled law
        assert_eq!(prior.law("titanium").class, &prior.pooled);
    }

    #[test]
    fn blended_law_life_reaches_the_limit_between_the_two_lives() {
        let names = vec!["feed".to_string()];
        let class = TaylorLaw {
            ln_k: -3.0,
            m: 0.8,
            exponents: [("feed".to_string(), 0.5)].into(),
        };
        let pooled = TaylorLaw {
            ln_k: -2.5,
            m: 0.6,
            exponents: [("feed".to_string(), 0.3)].into(),
        };
        let c = [0.2];
        let blend = BlendedLaw {
            class: &class,
            pooled: &pooled,
            weight: 0.4,
        };
        let t = blend.life(&names, &c, 0.3).unwrap();
        assert!((blend.predict(&names, &c, t) - 0.3).abs() < 1e-9);
        let (a, b) = (
            class.life(&names, &c, 0.3).unwrap(),
            pooled.life(&names, &c, 0.3).unwrap(),
        );
        assert!(a.min(b) <= t && t <= a.max(b));
        // Weight 1 is the class law alone, weight 0 the pooled law.
        let only = BlendedLaw {
            weight: 1.0,
            ..blend
        };
        assert_eq!(
            only.predict(&names, &c, 10.0),
            class.predict(&names, &c, 10.0)
        );
        let none = BlendedLaw {
            weight: 0.0,
            ..blend
        };
        assert_eq!(none.life(&names, &c, 0.3), Some(b));
    }
}
