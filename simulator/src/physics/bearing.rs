//! Spindle bearings as the condition sensor sees them: vibration velocity RMS and peak, and
//! front bearing temperature.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::scenario::BearingConfig;

/// Vibration with the spindle stopped (floor vibration from the shop and the axes).
const STOPPED_MM_S: f64 = 0.05;
/// Extra vibration from the cut, per unit of spindle load fraction (assumption).
const CUTTING_MM_S_PER_LOAD: f64 = 0.6;
/// Bearing temperature model (assumption, order of magnitude of a motor spindle):
/// steady state above ambient = 1.6 K per 1000 rpm + 0.5 K per kW + 15 K at failure severity,
/// reached with a 10-minute thermal time constant.
const TEMP_K_PER_KRPM: f64 = 1.6;
const TEMP_K_PER_KW: f64 = 0.5;
const TEMP_K_AT_FAILURE: f64 = 15.0;
const TEMP_TAU_S: f64 = 600.0;

#[derive(Debug, Clone)]
pub struct Bearing {
    cfg: BearingConfig,
    /// Spindle running hours.
    pub running_h: f64,
    /// Degradation onset, running hours (drawn from the seed).
    pub onset_h: f64,
    /// Running hours at which the vibration at the reference speed reaches failure.
    pub failure_h: f64,
    pub vibration_rms_mm_s: f64,
    pub vibration_peak_mm_s: f64,
    pub temperature_c: f64,
}

impl Bearing {
    pub fn new(cfg: &BearingConfig, ambient_c: f64, rng: &mut impl Rng) -> Self {
        let onset_h = if cfg.onset_h_max > cfg.onset_h_min {
            rng.random_range(cfg.onset_h_min..cfg.onset_h_max)
        } else {
            cfg.onset_h_min
        };
        // Defect vibration a0·(e^(g·(t - onset)) - 1) reaches failure - healthy(n_ref) at:
        let margin = cfg.failure_mm_s - healthy_mm_s(cfg, cfg.reference_rpm);
        let failure_h =
            onset_h + (1.0 + margin / cfg.initial_amplitude_mm_s).ln() / cfg.growth_per_h;
        Bearing {
            cfg: cfg.clone(),
            running_h: cfg.running_hours_initial,
            onset_h,
            failure_h,
            vibration_rms_mm_s: STOPPED_MM_S,
            vibration_peak_mm_s: STOPPED_MM_S * std::f64::consts::SQRT_2,
            temperature_c: ambient_c,
        }
    }

    /// Defect vibration at the reference speed (0 before onset).
    pub fn defect_mm_s(&self) -> f64 {
        if self.running_h <= self.onset_h {
            0.0
        } else {
            self.cfg.initial_amplitude_mm_s
                * ((self.cfg.growth_per_h * (self.running_h - self.onset_h)).exp() - 1.0)
        }
    }

    /// 0 healthy .. 1 at failure.
    pub fn severity(&self) -> f64 {
        let margin = self.cfg.failure_mm_s - healthy_mm_s(&self.cfg, self.cfg.reference_rpm);
        (self.defect_mm_s() / margin).clamp(0.0, 1.0)
    }

    /// True remaining life as a fraction of the degradation period, defined from onset on.
    pub fn remaining_fraction(&self) -> Option<f64> {
        if self.running_h < self.onset_h {
            None
        } else {
            Some(
                ((self.failure_h - self.running_h) / (self.failure_h - self.onset_h))
                    .clamp(0.0, 1.0),
            )
        }
    }

    pub fn step(
        &mut self,
        dt: f64,
        speed_rpm: f64,
        load_fraction: f64,
        power_kw: f64,
        ambient_c: f64,
        rng: &mut impl Rng,
    ) {
        let rotating = speed_rpm > 1.0;
        if rotating {
            self.running_h += dt / 3600.0;
        }
        let noise: f64 = rng.sample(StandardNormal);
        let rms = if rotating {
            // Defect vibration grows with speed (impacts per revolution): scale by
            // sqrt(n / n_ref) (assumption).
            let speed_factor = (speed_rpm / self.cfg.reference_rpm).sqrt();
            healthy_mm_s(&self.cfg, speed_rpm)
                + CUTTING_MM_S_PER_LOAD * load_fraction.max(0.0)
                + self.defect_mm_s() * speed_factor
        } else {
            STOPPED_MM_S
        };
        self.vibration_rms_mm_s = (rms * (1.0 + 0.03 * noise)).max(0.0);
        // Crest factor: √2 for a clean sinusoid, rising as bearing defects make the signal
        // impulsive.
        let crest = std::f64::consts::SQRT_2 * (1.0 + 1.5 * self.severity());
        self.vibration_peak_mm_s = self.vibration_rms_mm_s * crest;

        let target = ambient_c
            + TEMP_K_PER_KRPM * speed_rpm.max(0.0) / 1000.0
            + TEMP_K_PER_KW * power_kw.max(0.0)
            + TEMP_K_AT_FAILURE * self.severity();
        self.temperature_c += (target - self.temperature_c) * (1.0 - (-dt / TEMP_TAU_S).exp());
    }
}

/// Healthy vibration RMS at speed n: baseline rising a little with speed.
pub fn healthy_mm_s(cfg: &BearingConfig, speed_rpm: f64) -> f64 {
    cfg.baseline_mm_s + cfg.per_krpm_mm_s * speed_rpm / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn healthy_baseline_about_0_8_at_speed() {
        let cfg = BearingConfig::default();
        let v = healthy_mm_s(&cfg, 7000.0);
        assert!((v - 0.795).abs() < 1e-9);
    }

    #[test]
    fn degradation_grows_to_failure() {
        let cfg = BearingConfig {
            onset_h_min: 1.0,
            onset_h_max: 1.0,
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(5);
        let mut b = Bearing::new(&cfg, 22.0, &mut rng);
        assert_eq!(b.onset_h, 1.0);
        assert!(b.remaining_fraction().is_none());
        let mut last = 0.0;
        let mut steps = 0;
        while b.remaining_fraction().is_none_or(|r| r > 0.0) {
            b.step(10.0, 6000.0, 0.0, 1.0, 22.0, &mut rng);
            let d = b.defect_mm_s();
            assert!(d >= last);
            last = d;
            steps += 1;
            assert!(steps < 100_000);
        }
        // At failure the (noise-free) RMS at the reference speed is failure_mm_s.
        let healthy = healthy_mm_s(&cfg, 6000.0);
        assert!((healthy + b.defect_mm_s() - 4.5).abs() < 0.05);
        assert!(b.running_h >= b.failure_h);
        assert!(b.temperature_c > 22.0 + 9.6 + 0.5 + 10.0);
    }
}
