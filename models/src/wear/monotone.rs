//! Wear only grows: a monotone state filter over the sequence of cuts of one tool.
//!
//! State: wear level `v` and wear rate `r` per unit of usage (a local linear trend).
//! Between cuts the level moves by `r · Δu`; the rate drifts as a random walk with
//! intensity `q` (white-noise acceleration). Each cut's model prediction is a noisy
//! measurement of `v` with variance `measurement_var`. After each update the state is
//! projected onto what is physically possible: the rate is not negative and the level
//! does not fall below the previous level. The filter is causal (cut k uses cuts 1..=k),
//! so the agent runs it online; its rate also drives the remaining-life estimate.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MonotoneFilter {
    /// Variance of one model prediction around the true wear (target unit²).
    pub measurement_var: f64,
    /// Random-walk intensity of the wear rate (target unit² per usage unit³).
    pub rate_noise: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterState {
    pub level: f64,
    pub rate: f64,
    cov: [[f64; 2]; 2],
    last_usage: Option<f64>,
}

impl FilterState {
    pub fn is_started(&self) -> bool {
        self.last_usage.is_some()
    }

    /// Level, rate and their uncertainty scaled by `factor`: the tool's wear is `factor` times
    /// what the filter held (a measured wear against the filter's level).
    pub fn rescale(&mut self, factor: f64) {
        self.level *= factor;
        self.rate *= factor;
        for row in &mut self.cov {
            for c in row {
                *c *= factor * factor;
            }
        }
    }
}

impl MonotoneFilter {
    /// Feed one measurement `z` taken at `usage`; `prior_rate` is the physics prior's
    /// wear rate there, used only to start the trend on the first cut.
    pub fn step(&self, st: &mut FilterState, usage: f64, z: f64, prior_rate: f64) -> f64 {
        let r_meas = self.measurement_var.max(1e-300);
        let Some(last) = st.last_usage else {
            st.level = z;
            st.rate = prior_rate.max(0.0);
            // Start: level known to measurement accuracy, rate to ±100 % of the prior.
            st.cov = [[r_meas, 0.0], [0.0, prior_rate.powi(2).max(1e-12)]];
            st.last_usage = Some(usage);
            return st.level;
        };
        let dt = (usage - last).max(0.0);
        st.last_usage = Some(usage);
        let prev_level = st.level;

        // Predict.
        let q = self.rate_noise;
        let [[p00, p01], [p10, p11]] = st.cov;
        let level = st.level + st.rate * dt;
        let rate = st.rate;
        let a00 = p00 + dt * (p10 + p01) + dt * dt * p11 + q * dt.powi(3) / 3.0;
        let a01 = p01 + dt * p11 + q * dt * dt / 2.0;
        let a10 = p10 + dt * p11 + q * dt * dt / 2.0;
        let a11 = p11 + q * dt;

        // Update with the measurement of the level.
        let s = a00 + r_meas;
        let (k0, k1) = (a00 / s, a10 / s);
        let innov = z - level;
        st.level = level + k0 * innov;
        st.rate = rate + k1 * innov;
        st.cov = [
            [(1.0 - k0) * a00, (1.0 - k0) * a01],
            [a10 - k1 * a00, a11 - k1 * a01],
        ];

        // Project onto the feasible set: wear never decreases.
        st.rate = st.rate.max(0.0);
        st.level = st.level.max(prev_level);
        st.level
    }

    /// Filter a whole sequence (used in evaluation and tests).
    pub fn run(&self, usage: &[f64], z: &[f64], prior_rate: &[f64]) -> Vec<f64> {
        let mut st = FilterState::default();
        usage
            .iter()
            .zip(z)
            .zip(prior_rate)
            .map(|((u, z), r)| self.step(&mut st, *u, *z, *r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_never_decreases_and_tracks_a_trend() {
        let f = MonotoneFilter {
            measurement_var: 25.0,
            rate_noise: 1e-4,
        };
        let usage: Vec<f64> = (1..=200).map(f64::from).collect();
        // A linear trend with a deterministic zig-zag of ±5.
        let truth: Vec<f64> = usage.iter().map(|u| 50.0 + 0.5 * u).collect();
        let z: Vec<f64> = truth
            .iter()
            .enumerate()
            .map(|(i, t)| t + if i % 2 == 0 { 5.0 } else { -5.0 })
            .collect();
        let out = f.run(&usage, &z, &vec![0.5; usage.len()]);
        assert!(out.windows(2).all(|w| w[1] >= w[0]));
        let rmse_raw = rmse(&z, &truth);
        let rmse_filtered = rmse(&out[50..], &truth[50..]);
        assert!(
            rmse_filtered < 0.5 * rmse_raw,
            "{rmse_filtered} vs {rmse_raw}"
        );
    }

    fn rmse(a: &[f64], b: &[f64]) -> f64 {
        (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
    }
}
