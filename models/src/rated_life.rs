//! Rated-life consumption of components whose life is a number of revolutions or
//! strokes: ball screws (ISO 3408-5), bearings (ISO 281, see [`crate::bearing`]) and the
//! MQL pump (stroke count against the maker's rated strokes).

use serde::{Deserialize, Serialize};

/// How much of a rated life has been used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LifeConsumption {
    /// Rated life (revolutions or strokes).
    pub rated: f64,
    /// Used so far, same unit.
    pub used: f64,
    /// used / rated (1.0 = rated life reached).
    pub consumed_fraction: f64,
    /// rated − used, not below 0.
    pub remaining: f64,
}

impl LifeConsumption {
    pub fn new(rated: f64, used: f64) -> Self {
        LifeConsumption {
            rated,
            used,
            consumed_fraction: if rated > 0.0 {
                used / rated
            } else {
                f64::INFINITY
            },
            remaining: (rated - used).max(0.0),
        }
    }
}

/// One bin of an axis load spectrum: axial load while moving at a speed for a share of
/// the running time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AxisLoadBin {
    /// Axial load on the screw (N).
    pub load_n: f64,
    /// Screw speed (rev/min).
    pub speed_rpm: f64,
    /// Share of the running time in this bin (any positive weights; normalised).
    pub time_share: f64,
}

/// Mean axial load over a spectrum, cube-weighted by revolutions:
/// Fm = (Σ F_i³ · n_i · t_i / Σ n_i · t_i)^(1/3) (ISO 3408-5; the same form as ISO 281's
/// equivalent load with exponent 3).
pub fn mean_axial_load(spectrum: &[AxisLoadBin]) -> f64 {
    let revs: f64 = spectrum.iter().map(|b| b.speed_rpm * b.time_share).sum();
    if revs <= 0.0 {
        return 0.0;
    }
    let cubes: f64 = spectrum
        .iter()
        .map(|b| b.load_n.abs().powi(3) * b.speed_rpm * b.time_share)
        .sum();
    (cubes / revs).cbrt()
}

/// Mean axial load over (load N, revolutions) bins, cube-weighted by revolutions: the
/// same Fm as [`mean_axial_load`] when the revolutions are counted directly (travel / lead)
/// rather than as speed × time.
pub fn mean_axial_load_by_revolutions(bins: &[(f64, f64)]) -> f64 {
    let revs: f64 = bins.iter().map(|(_, n)| n.max(0.0)).sum();
    if revs <= 0.0 {
        return 0.0;
    }
    let cubes: f64 = bins.iter().map(|(f, n)| f.abs().powi(3) * n.max(0.0)).sum();
    (cubes / revs).cbrt()
}

/// A ball screw's rating data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BallScrew {
    /// Basic dynamic axial load rating Ca (N), from the maker's data sheet.
    pub ca_n: f64,
    /// Lead (mm of travel per revolution).
    pub lead_mm: f64,
    /// Load (operating) factor fw: about 1.0-1.2 smooth running, 1.2-1.5 normal,
    /// 1.5-3 with shocks (values from ball-screw makers' catalogues).
    pub fw: f64,
}

impl BallScrew {
    /// ISO 3408-5 basic rating life in revolutions: L = (Ca / (fw · Fm))³ · 10⁶.
    pub fn rating_life_rev(&self, mean_load_n: f64) -> f64 {
        if mean_load_n <= 0.0 {
            return f64::INFINITY;
        }
        (self.ca_n / (self.fw * mean_load_n)).powi(3) * 1e6
    }

    /// Life used as a fraction of the rating life over (axial load N, revolutions) bins
    /// (Palmgren–Miner: Σ n_i / L(F_i), equal to Σ n_i / L(Fm)).
    pub fn damage(&self, bins: &[(f64, f64)]) -> f64 {
        bins.iter()
            .filter(|(_, n)| *n > 0.0)
            .map(|(f, n)| n / self.rating_life_rev(f.abs()))
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    }

    /// Revolutions for a travelled distance.
    pub fn revolutions(&self, travel_mm: f64) -> f64 {
        travel_mm.abs() / self.lead_mm
    }

    /// Consumption after `travel_mm` of total travel under a load spectrum.
    pub fn consumption(&self, spectrum: &[AxisLoadBin], travel_mm: f64) -> LifeConsumption {
        LifeConsumption::new(
            self.rating_life_rev(mean_axial_load(spectrum)),
            self.revolutions(travel_mm),
        )
    }
}

/// The minimum-quantity-lubrication pump: a rated number of strokes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MqlPump {
    /// Rated strokes from the pump maker's data.
    pub rated_strokes: f64,
}

impl MqlPump {
    pub fn consumption(&self, strokes: f64) -> LifeConsumption {
        LifeConsumption::new(self.rated_strokes, strokes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked example: Ca = 30 kN, fw = 1.2, constant 2.5 kN → (30/3)³ · 10⁶ = 10⁹ rev.
    #[test]
    fn iso3408_rating_life() {
        let s = BallScrew {
            ca_n: 30_000.0,
            lead_mm: 10.0,
            fw: 1.2,
        };
        let l = s.rating_life_rev(2_500.0);
        assert!((l - 1e9).abs() / 1e9 < 1e-12);
        // 1 km of travel with a 10 mm lead is 10⁵ revolutions: 10⁻⁴ of that life.
        let spectrum = [AxisLoadBin {
            load_n: 2_500.0,
            speed_rpm: 1000.0,
            time_share: 1.0,
        }];
        let c = s.consumption(&spectrum, 1e6);
        assert!((c.consumed_fraction - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn mean_load_weights_by_revolutions() {
        // Half the revolutions at 1 kN, half at 2 kN: Fm = ((1 + 8) / 2)^(1/3) kN.
        let spectrum = [
            AxisLoadBin {
                load_n: 1000.0,
                speed_rpm: 1000.0,
                time_share: 0.5,
            },
            AxisLoadBin {
                load_n: 2000.0,
                speed_rpm: 500.0,
                time_share: 1.0,
            },
        ];
        let fm = mean_axial_load(&spectrum);
        assert!((fm - 1000.0 * 4.5f64.cbrt()).abs() < 1e-9);
    }

    #[test]
    fn damage_by_revolutions_matches_the_mean_load() {
        let s = BallScrew {
            ca_n: 30_000.0,
            lead_mm: 10.0,
            fw: 1.2,
        };
        let bins = [(1000.0, 4e5), (2000.0, 1e5), (0.0, 1e6)];
        let fm = mean_axial_load_by_revolutions(&bins);
        // (1e9·4e5 + 8e9·1e5) / 1.5e6 = 8e8 → Fm = 928.3 N.
        assert!((fm - 8e8f64.cbrt()).abs() < 1e-6, "{fm}");
        let d = s.damage(&bins);
        assert!((d - 1.5e6 / s.rating_life_rev(fm)).abs() / d < 1e-9, "{d}");
    }

    #[test]
    fn mql_pump_strokes() {
        let c = MqlPump { rated_strokes: 1e8 }.consumption(2.5e7);
        assert_eq!(c.consumed_fraction, 0.25);
        assert_eq!(c.remaining, 7.5e7);
    }
}
