//! `[carbon]`: the factors that turn the metered energy and oil into kg CO₂e, and the
//! flood-coolant baseline oil saved is counted against. Every factor names its source; a plant
//! replaces the default with its regional or provincial factor, or its supplier's.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::diagnostic::Diagnostics;

/// The default grid factor: the national average electricity CO₂ emission factor for 2022,
/// published by the Ministry of Ecology and Environment and the National Bureau of Statistics
/// (announcement of 2024-12-20). It counts CO₂ only; the regional and provincial factors of the
/// same announcement are closer to a plant's grid.
pub const GRID_KG_PER_KWH: f64 = 0.5366;
pub const GRID_SOURCE: &str = "生态环境部、国家统计局《关于发布2022年电力二氧化碳排放因子的公告》\
（2024年12月20日）：2022年全国电力平均二氧化碳排放因子 0.5366 kgCO2/kWh";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCarbon {
    pub grid_kg_per_kwh: Option<Spanned<f64>>,
    pub grid_source: Option<Spanned<String>>,
    pub lubricant_kg_per_l: Option<Spanned<f64>>,
    pub lubricant_source: Option<Spanned<String>>,
    pub flood_oil_ml_per_h: Option<Spanned<f64>>,
    pub flood_source: Option<Spanned<String>>,
}

/// The checked factors. Shown with every carbon figure (`/api/summary`'s `carbon`), so a reader
/// sees what the figure assumes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Carbon {
    /// kg CO₂e per kWh the machine draws.
    pub grid_kg_per_kwh: f64,
    pub grid_source: String,
    /// kg CO₂e per litre of MQL oil used (the lubricant's data sheet); not counted when unset.
    pub lubricant_kg_per_l: Option<f64>,
    pub lubricant_source: Option<String>,
    /// Oil (concentrate) a flood-coolant process used per hour of cutting on this machine: the
    /// baseline `oil_saved_ml` counts against. No figure when unset.
    pub flood_oil_ml_per_h: Option<f64>,
    pub flood_source: Option<String>,
}

impl Default for Carbon {
    fn default() -> Self {
        Carbon {
            grid_kg_per_kwh: GRID_KG_PER_KWH,
            grid_source: GRID_SOURCE.into(),
            lubricant_kg_per_l: None,
            lubricant_source: None,
            flood_oil_ml_per_h: None,
            flood_source: None,
        }
    }
}

impl Carbon {
    /// kg CO₂e of `energy_kwh` drawn and `oil_ml` of lubricant used.
    pub fn co2e_kg(&self, energy_kwh: f64, oil_ml: f64) -> f64 {
        energy_kwh * self.grid_kg_per_kwh + self.lubricant_kg_per_l.unwrap_or(0.0) * oil_ml / 1000.0
    }

    /// Oil a flood-coolant process would have used in `cutting_s` of cutting, less what was
    /// used: `None` without a baseline.
    pub fn oil_saved_ml(&self, cutting_s: f64, oil_ml: f64) -> Option<f64> {
        self.flood_oil_ml_per_h
            .map(|b| b * cutting_s / 3600.0 - oil_ml)
    }
}

pub fn check(d: &mut Diagnostics, raw: Option<&RawCarbon>) -> Carbon {
    let Some(raw) = raw else {
        return Carbon::default();
    };
    let grid = factor(d, &raw.grid_kg_per_kwh, &raw.grid_source, "grid");
    let lubricant = factor(
        d,
        &raw.lubricant_kg_per_l,
        &raw.lubricant_source,
        "lubricant",
    );
    let flood = factor(d, &raw.flood_oil_ml_per_h, &raw.flood_source, "flood");
    let (grid_kg_per_kwh, grid_source) = grid.unwrap_or((GRID_KG_PER_KWH, GRID_SOURCE.into()));
    Carbon {
        grid_kg_per_kwh,
        grid_source,
        lubricant_kg_per_l: lubricant.as_ref().map(|l| l.0),
        lubricant_source: lubricant.map(|l| l.1),
        flood_oil_ml_per_h: flood.as_ref().map(|f| f.0),
        flood_source: flood.map(|f| f.1),
    }
}

/// A factor (a number ≥ 0) with its source: a factor without one is a figure nobody can check,
/// and is refused.
fn factor(
    d: &mut Diagnostics,
    value: &Option<Spanned<f64>>,
    source: &Option<Spanned<String>>,
    what: &str,
) -> Option<(f64, String)> {
    let v = value.as_ref()?;
    let x = *v.get_ref();
    if !(x.is_finite() && x >= 0.0) {
        d.at(v.span(), "the factor must be a number ≥ 0");
        return None;
    }
    match source
        .as_ref()
        .map(|s| s.get_ref().trim())
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some((x, s.to_string())),
        None => {
            d.at(
                v.span(),
                format!("{what}_source is missing: say where this factor comes from"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co2e_is_energy_times_the_grid_factor_plus_the_lubricant_s_share() {
        let mut c = Carbon::default();
        assert!((c.co2e_kg(2.0, 500.0) - 2.0 * 0.5366).abs() < 1e-12);
        c.lubricant_kg_per_l = Some(3.0);
        assert!((c.co2e_kg(2.0, 500.0) - (2.0 * 0.5366 + 1.5)).abs() < 1e-12);
    }

    const BASE: &str = "[[device]]\nname = \"mql\"\nprotocol = \"modbus-tcp\"\n\
                        address = \"127.0.0.1:5020\"\n[[device.tag]]\nname = \"flow\"\n\
                        table = \"input\"\naddress = 0\nsignal = \"mql.oil_flow\"\n";

    fn load_str(src: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::parse(std::path::Path::new("t.toml"), src)
    }

    #[test]
    fn without_the_section_the_national_factor_with_its_source() {
        let c = load_str(BASE).unwrap();
        assert_eq!(c.carbon, Carbon::default());
        assert!(c.carbon.grid_source.contains("2022"));
    }

    #[test]
    fn a_factor_without_its_source_is_refused_on_its_line() {
        let e = load_str(&format!(
            "{BASE}[carbon]\ngrid_kg_per_kwh = 0.5617\ngrid_source = \"regional factor, East China\"\n\
             lubricant_kg_per_l = 2.9\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.toml:13:"), "{e}");
        assert!(e.contains("lubricant_source is missing"), "{e}");
        let e = load_str(&format!(
            "{BASE}[carbon]\nflood_oil_ml_per_h = -3\nflood_source = \"x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be a number ≥ 0"), "{e}");
        let c = load_str(&format!(
            "{BASE}[carbon]\ngrid_kg_per_kwh = 0.5617\ngrid_source = \"regional factor, East China\"\n"
        ))
        .unwrap();
        assert_eq!(c.carbon.grid_kg_per_kwh, 0.5617);
        assert_eq!(c.carbon.grid_source, "regional factor, East China");
    }

    #[test]
    fn oil_saved_needs_a_baseline() {
        let mut c = Carbon::default();
        assert_eq!(c.oil_saved_ml(3600.0, 20.0), None);
        c.flood_oil_ml_per_h = Some(200.0);
        assert_eq!(c.oil_saved_ml(1800.0, 20.0), Some(80.0));
    }
}
