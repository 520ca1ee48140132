//! Material data: Kienzle specific cutting force per ISO 513 group and Taylor tool-life
//! constants per cutting material and group.
//!
//! These are indicative values to make the simulation behave like a real machine, not data to
//! plan a cut with. Their provenance is stated at each table.

use crate::scenario::{Coating, MaterialGroup, ToolMaterial};

/// Kienzle parameters: kc = kc11 * h^-mc, kc11 in N/mm² at h = 1 mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kienzle {
    pub kc11: f64,
    pub mc: f64,
}

/// Typical kc1.1 / mc for a representative material of each ISO 513 group.
///
/// Source: the usual machining-handbook ranges (e.g. the kc1 tables in Sandvik Coromant's
/// material classification and the Kienzle tables in König & Klocke, "Fertigungsverfahren 1");
/// one representative value per group: P ≈ unalloyed/low-alloy steel (C45 kc1.1 ≈ 1680,
/// mc ≈ 0.26), M ≈ austenitic stainless, K ≈ grey cast iron, N ≈ aluminium alloy,
/// S ≈ titanium / heat-resistant alloy, H ≈ hardened steel (~55 HRC).
pub fn kienzle(group: MaterialGroup) -> Kienzle {
    let (kc11, mc) = match group {
        MaterialGroup::P => (1680.0, 0.26),
        MaterialGroup::M => (2050.0, 0.21),
        MaterialGroup::K => (1150.0, 0.26),
        MaterialGroup::N => (700.0, 0.25),
        MaterialGroup::S => (1450.0, 0.23),
        MaterialGroup::H => (3200.0, 0.25),
    };
    Kienzle { kc11, mc }
}

/// Reference conditions at which `TaylorParams::vc15` is stated.
pub const FZ_REF_MM: f64 = 0.1;
pub const AP_REF_MM: f64 = 2.0;
pub const T_REF_MIN: f64 = 15.0;

/// Taylor exponent n and the cutting speed giving a 15-minute life at fz = 0.1 mm,
/// ap = 2 mm (the usual way cutting-data catalogues state a speed: "vc for T = 15 min").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaylorParams {
    pub n: f64,
    pub vc15: f64,
}

impl TaylorParams {
    /// The constant C of the extended Taylor equation vc * T^n * fz^y * ap^x = C.
    pub fn c(&self, x: f64, y: f64) -> f64 {
        self.vc15 * T_REF_MIN.powf(self.n) * FZ_REF_MM.powf(y) * AP_REF_MM.powf(x)
    }
}

/// Taylor exponent n per cutting material.
///
/// Source: machining textbooks (Taylor exponent ranges: HSS ≈ 0.1–0.17, uncoated carbide
/// ≈ 0.2–0.3, coated carbide ≈ 0.3–0.4, ceramics ≈ 0.5–0.7). Cermet, PCBN and PCD are set
/// between carbide and ceramic; they are assumptions.
pub fn taylor_n(material: ToolMaterial, coating: Coating) -> f64 {
    match (material, coating) {
        (ToolMaterial::Hss, _) => 0.125,
        (ToolMaterial::Carbide, Coating::None) => 0.25,
        (ToolMaterial::Carbide, _) => 0.35,
        (ToolMaterial::Cermet, _) => 0.3,
        (ToolMaterial::Ceramic, _) => 0.5,
        (ToolMaterial::Pcbn, _) => 0.5,
        (ToolMaterial::Pcd, _) => 0.4,
    }
}

/// Taylor parameters for a cutting material on a workpiece group.
///
/// vc15 values are assumptions of this simulator, chosen to sit in the range of tool makers'
/// published starting speeds (m/min) for each pairing. The low PCD values on P, M and H
/// model the known chemical incompatibility of diamond with iron (carbon diffuses into the
/// chip and the edge graphitises at cutting temperature), so a PCD tool on steel lasts
/// seconds to a few minutes at aluminium speeds.
pub fn taylor(material: ToolMaterial, coating: Coating, group: MaterialGroup) -> TaylorParams {
    use MaterialGroup::*;
    let coated = coating != Coating::None;
    let vc15 = match material {
        ToolMaterial::Carbide if coated => match group {
            P => 250.0,
            M => 180.0,
            K => 250.0,
            N => 800.0,
            S => 50.0,
            H => 100.0,
        },
        ToolMaterial::Carbide => match group {
            P => 150.0,
            M => 110.0,
            K => 180.0,
            N => 600.0,
            S => 40.0,
            H => 60.0,
        },
        ToolMaterial::Hss => match group {
            P => 30.0,
            M => 20.0,
            K => 25.0,
            N => 150.0,
            S => 8.0,
            H => 5.0,
        },
        ToolMaterial::Cermet => match group {
            P => 280.0,
            M => 200.0,
            K => 220.0,
            N => 500.0,
            S => 30.0,
            H => 80.0,
        },
        ToolMaterial::Ceramic => match group {
            P => 400.0,
            M => 150.0,
            K => 600.0,
            N => 100.0,
            S => 250.0,
            H => 180.0,
        },
        ToolMaterial::Pcbn => match group {
            P => 150.0,
            M => 100.0,
            K => 800.0,
            N => 300.0,
            S => 150.0,
            H => 200.0,
        },
        ToolMaterial::Pcd => match group {
            P => 12.0,
            M => 12.0,
            K => 30.0,
            N => 1500.0,
            S => 60.0,
            H => 10.0,
        },
    };
    TaylorParams {
        n: taylor_n(material, coating),
        vc15,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_reproduces_the_reference_life() {
        let p = taylor(ToolMaterial::Carbide, Coating::TiAlN, MaterialGroup::P);
        let c = p.c(0.15, 0.6);
        // vc15 * 15^0.35 * 0.1^0.6 * 2^0.15 by hand: 250 * 2.5801 * 0.25119 * 1.10957
        assert!((c - 179.77).abs() < 0.05, "{c}");
        let t = crate::physics::wear::taylor_life_min(c, p.n, 0.15, 0.6, 250.0, 0.1, 2.0);
        assert!((t - 15.0).abs() < 1e-9, "{t}");
    }

    #[test]
    fn diamond_on_steel_is_far_worse_than_on_aluminium() {
        let steel = taylor(ToolMaterial::Pcd, Coating::None, MaterialGroup::P);
        let alu = taylor(ToolMaterial::Pcd, Coating::None, MaterialGroup::N);
        assert!(alu.vc15 > 50.0 * steel.vc15);
    }
}
