//! Cutting mechanics: spindle speed, feed, chip thickness, Kienzle force and power.
//!
//! Formulas as in the machining handbooks (e.g. Sandvik Coromant's milling and drilling
//! formula pages): n = 1000·vc/(π·D), vf = fz·z·n, milling net power
//! Pc = ap·ae·vf·kc / (60·10⁶) kW, drilling net power Pc = fn·vc·D·kc / (240·10³) kW,
//! with Kienzle's kc = kc1.1·h^-mc at the mean chip thickness h.

use std::f64::consts::PI;

use super::materials::Kienzle;

/// Spindle speed (rpm) for a cutting speed vc (m/min) on diameter d (mm).
pub fn spindle_speed_rpm(vc_m_min: f64, d_mm: f64) -> f64 {
    1000.0 * vc_m_min / (PI * d_mm)
}

/// Cutting speed (m/min) at spindle speed n on diameter d.
pub fn cutting_speed_m_min(n_rpm: f64, d_mm: f64) -> f64 {
    PI * d_mm * n_rpm / 1000.0
}

/// Feed rate vf = fz·z·n (mm/min).
pub fn feed_rate_mm_min(fz_mm: f64, z: u32, n_rpm: f64) -> f64 {
    fz_mm * z as f64 * n_rpm
}

/// How the cutter sits relative to the cut width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engagement {
    /// Cut width ae starts at one side of the cutter (side milling, pockets, slots):
    /// engagement angle φ = arccos(1 − 2ae/D).
    Side,
    /// Cut width centred on the cutter (face milling): φ = 2·arcsin(ae/D).
    Centred,
}

/// Engagement angle in radians.
pub fn engagement_angle(ae_mm: f64, d_mm: f64, how: Engagement) -> f64 {
    let r = (ae_mm / d_mm).clamp(1e-9, 1.0);
    match how {
        Engagement::Side => (1.0 - 2.0 * r).acos(),
        Engagement::Centred => 2.0 * r.asin(),
    }
}

/// Mean (undeformed) chip thickness in milling for a 90° entering angle: the chip
/// cross-section fz·sin φ averaged over the engagement arc, h_m = fz·(cos φ1 − cos φ2)/φ.
pub fn mean_chip_thickness_milling(fz_mm: f64, ae_mm: f64, d_mm: f64, how: Engagement) -> f64 {
    let phi = engagement_angle(ae_mm, d_mm, how);
    let (start, end) = match how {
        Engagement::Side => (0.0, phi),
        Engagement::Centred => (PI / 2.0 - phi / 2.0, PI / 2.0 + phi / 2.0),
    };
    fz_mm * (start.cos() - end.cos()) / phi
}

/// Drill point half-angle κ for a 118° point (the common twist-drill grind).
pub const DRILL_KAPPA_RAD: f64 = 59.0 * PI / 180.0;

/// Chip thickness at each of the two lips of a drill: h = (fn/2)·sin κ.
pub fn chip_thickness_drilling(fn_mm: f64) -> f64 {
    fn_mm / 2.0 * DRILL_KAPPA_RAD.sin()
}

/// Kienzle specific cutting force kc = kc1.1 · h^-mc (N/mm²), h in mm.
pub fn specific_cutting_force(k: Kienzle, h_mm: f64) -> f64 {
    k.kc11 * h_mm.max(1e-4).powf(-k.mc)
}

/// Net milling power (kW): Pc = ap·ae·vf·kc / (60·10⁶).
pub fn milling_power_kw(ap_mm: f64, ae_mm: f64, vf_mm_min: f64, kc: f64) -> f64 {
    ap_mm * ae_mm * vf_mm_min * kc / 60e6
}

/// Net drilling power (kW): Pc = fn·vc·D·kc / (240·10³).
pub fn drilling_power_kw(fn_mm: f64, vc_m_min: f64, d_mm: f64, kc: f64) -> f64 {
    fn_mm * vc_m_min * d_mm * kc / 240e3
}

/// Spindle torque (N·m) from power (kW) and speed (rpm): M = P·9550/n.
pub fn torque_nm(p_kw: f64, n_rpm: f64) -> f64 {
    if n_rpm.abs() < 1.0 {
        0.0
    } else {
        p_kw * 9550.0 / n_rpm
    }
}

/// Tangential cutting force (N) from cutting power (kW) and cutting speed (m/min).
pub fn tangential_force_n(pc_kw: f64, vc_m_min: f64) -> f64 {
    if vc_m_min <= 0.0 {
        0.0
    } else {
        pc_kw * 60_000.0 / vc_m_min
    }
}

/// Drill thrust (N): the two lips' feed-direction force, taken as 0.6 × kc·(D/2)·fn, a rough
/// thrust/torque-force ratio for a conventional 118° twist drill (assumption).
pub fn drill_thrust_n(kc: f64, d_mm: f64, fn_mm: f64) -> f64 {
    0.6 * kc * d_mm / 2.0 * fn_mm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c45() -> Kienzle {
        Kienzle {
            kc11: 1680.0,
            mc: 0.26,
        }
    }

    #[test]
    fn speed_and_feed() {
        let n = spindle_speed_rpm(220.0, 12.0);
        assert!((n - 5835.6).abs() < 0.1, "{n}");
        assert!((cutting_speed_m_min(n, 12.0) - 220.0).abs() < 1e-9);
        assert!((feed_rate_mm_min(0.06, 4, 5000.0) - 1200.0).abs() < 1e-9);
    }

    #[test]
    fn half_immersion_chip_thickness_is_2_over_pi_fz() {
        // ae = D/2 side milling: φ = 90°, h_m = fz·(1 - 0)/(π/2)
        let h = mean_chip_thickness_milling(0.1, 5.0, 10.0, Engagement::Side);
        assert!((h - 0.2 / PI).abs() < 1e-12, "{h}");
        // Slotting (ae = D) side = centred: φ = 180°, h_m = 2 fz / π
        let hs = mean_chip_thickness_milling(0.1, 10.0, 10.0, Engagement::Side);
        let hc = mean_chip_thickness_milling(0.1, 10.0, 10.0, Engagement::Centred);
        assert!((hs - 0.2 / PI).abs() < 1e-12 && (hc - hs).abs() < 1e-12);
    }

    #[test]
    fn kienzle_power_matches_hand_calculation() {
        // End mill D 12, z 4, fz 0.06, ap 6, ae 3 (side), vf 1200 mm/min in C45.
        // φ = acos(1 - 0.5) = 60° = 1.047198 rad; h_m = 0.06·(1 - 0.5)/1.047198 = 0.0286479
        // kc = 1680 · 0.0286479^-0.26 = 1680 · 2.51858 = 4231.2 N/mm²
        // Pc = 6·3·1200·4231.2 / 60e6 = 1.52324 kW
        let h = mean_chip_thickness_milling(0.06, 3.0, 12.0, Engagement::Side);
        assert!((h - 0.0286479).abs() < 1e-6, "{h}");
        let kc = specific_cutting_force(c45(), h);
        assert!((kc - 4231.2).abs() < 0.1, "{kc}");
        let p = milling_power_kw(6.0, 3.0, 1200.0, kc);
        assert!((p - 1.5232).abs() < 0.0001, "{p}");
        // Torque at 5000 rpm: 1.52324 · 9550 / 5000 = 2.9094 N·m
        assert!((torque_nm(p, 5000.0) - 2.9094).abs() < 0.0001);
    }

    #[test]
    fn drilling_power_matches_hand_calculation() {
        // D 8.5, fn 0.16, vc 90 in C45: h = 0.08·sin 59° = 0.0685730
        // kc = 1680 · 0.068573^-0.26 = 3372.2; Pc = 0.16·90·8.5·3372.2/240e3 = 1.7198 kW
        let h = chip_thickness_drilling(0.16);
        assert!((h - 0.068573).abs() < 1e-6, "{h}");
        let kc = specific_cutting_force(c45(), h);
        let p = drilling_power_kw(0.16, 90.0, 8.5, kc);
        assert!((p - 1.7198).abs() < 0.0005, "{p} (kc {kc})");
    }
}
