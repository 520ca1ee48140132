//! `[life.components]`: the rating data of the machine's wearing components, for the rated
//! life the agent computes from its own service history (`evaluators::service`,
//! `evaluators::component_life`). Every rating comes from the user's data sheet: the agent
//! ships no default for any of them, and a component without its rating gets no rated life.
//!
//! ```toml
//! [life.components]
//! remaining_warning_h = 2000        # predicted remaining life (P10) below: warning
//! remaining_limit_h = 500           # ... below: critical
//!
//!   [life.components.spindle-bearing]
//!   c_kn = 48.0                     # basic dynamic load rating C (data sheet)
//!   kind = "ball"                   # ball (exponent 3) | roller (10/3)
//!   load_kn_per_pct = 0.02          # bearing load per % spindle load
//!   preload_kn = 1.0                # bearing load with no cutting load (preload)
//!
//!   [life.components.ball-screw-x]  # also ball-screw-y, ball-screw-z
//!   ca_kn = 30.0                    # basic dynamic axial load rating Ca (data sheet)
//!   lead_mm = 10.0
//!   load_n_per_pct = 60.0           # axial force per % axis drive load
//!   fw = 1.2                        # load factor (optional, default 1.2)
//! ```
//!
//! Each component table may also carry `asset_id`, `serial_number` and `position`, shown with
//! the component in `/api/life`. `[life.components.mql-pump]` takes only those (its rated
//! strokes are `[life] mql_pump_rated_strokes`).

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostics;

// --- As written (referenced from raw.rs) ---------------------------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLifeComponents {
    pub remaining_warning_h: Option<Spanned<f64>>,
    pub remaining_limit_h: Option<Spanned<f64>>,
    #[serde(rename = "spindle-bearing")]
    pub spindle_bearing: Option<RawSpindleBearing>,
    #[serde(rename = "ball-screw-x")]
    pub ball_screw_x: Option<RawBallScrew>,
    #[serde(rename = "ball-screw-y")]
    pub ball_screw_y: Option<RawBallScrew>,
    #[serde(rename = "ball-screw-z")]
    pub ball_screw_z: Option<RawBallScrew>,
    #[serde(rename = "mql-pump")]
    pub mql_pump: Option<RawAsset>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSpindleBearing {
    pub c_kn: Spanned<f64>,
    pub kind: Option<Spanned<String>>,
    pub load_kn_per_pct: Spanned<f64>,
    pub preload_kn: Option<Spanned<f64>>,
    pub asset_id: Option<String>,
    pub serial_number: Option<String>,
    pub position: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBallScrew {
    pub ca_kn: Spanned<f64>,
    pub lead_mm: Spanned<f64>,
    pub load_n_per_pct: Spanned<f64>,
    pub fw: Option<Spanned<f64>>,
    pub asset_id: Option<String>,
    pub serial_number: Option<String>,
    pub position: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAsset {
    pub asset_id: Option<String>,
    pub serial_number: Option<String>,
    pub position: Option<String>,
}

// --- Checked -------------------------------------------------------------------------------

/// Who the component is on the shop floor (all optional, shown as given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetIds {
    pub asset_id: Option<String>,
    pub serial_number: Option<String>,
    pub position: Option<String>,
}

/// The spindle bearing's ISO 281 data. The bearing load is not measured: it is
/// `preload_kn + load_kn_per_pct × spindle.load` (a linear map the user sets from the spindle's
/// design: bearing arrangement, preload, the radial load at rated power).
#[derive(Debug, Clone, PartialEq)]
pub struct SpindleBearingSettings {
    /// Basic dynamic load rating C (kN), from the bearing's data sheet.
    pub c_kn: f64,
    /// Roller bearing (ISO 281 exponent 10/3) rather than ball (3).
    pub roller: bool,
    pub load_kn_per_pct: f64,
    pub preload_kn: f64,
    pub ids: AssetIds,
}

/// One axis' ball screw, ISO 3408-5 data. Axial force = `load_n_per_pct × |axis.<a>.load|`.
#[derive(Debug, Clone, PartialEq)]
pub struct BallScrewSettings {
    /// Basic dynamic axial load rating Ca (kN), from the screw's data sheet.
    pub ca_kn: f64,
    /// Lead: mm of travel per screw revolution.
    pub lead_mm: f64,
    pub load_n_per_pct: f64,
    /// Load (operating) factor fw of ISO 3408-5 life calculations (makers' catalogues:
    /// 1.0-1.2 smooth running without shocks, 1.2-1.5 normal, 1.5-3 with shocks).
    pub fw: f64,
    pub ids: AssetIds,
}

/// `[life.components]` as checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentSettings {
    /// Predicted remaining life (P10, hours) below this raises a warning.
    pub remaining_warning_h: Option<f64>,
    /// ... and below this a critical alarm.
    pub remaining_limit_h: Option<f64>,
    pub spindle_bearing: Option<SpindleBearingSettings>,
    /// X, Y, Z.
    pub ball_screws: [Option<BallScrewSettings>; 3],
    pub mql_pump: AssetIds,
}

/// The default load factor fw when none is configured: the top of the smooth-running range
/// in ball-screw makers' catalogues (the measured drive load already carries the cutting
/// forces; fw covers what it does not see).
pub const DEFAULT_FW: f64 = 1.2;

/// A rating that must be greater than 0 (the problem is recorded; the value is kept, the
/// configuration is refused anyway).
fn positive(d: &mut Diagnostics, v: &Spanned<f64>, key: &str) -> f64 {
    d.positive(Some(v), &format!("life.components.{key}"))
        .unwrap_or(*v.get_ref())
}

fn not_negative(d: &mut Diagnostics, v: &Spanned<f64>, key: &str) -> f64 {
    let x = *v.get_ref();
    if x.is_nan() || x < 0.0 {
        d.at(
            v.span(),
            format!("life.components.{key} must be 0 or more (got {x})"),
        );
    }
    x
}

fn screw(d: &mut Diagnostics, r: &RawBallScrew, axis: &str) -> BallScrewSettings {
    let key = |k: &str| format!("ball-screw-{axis}.{k}");
    BallScrewSettings {
        ca_kn: positive(d, &r.ca_kn, &key("ca_kn")),
        lead_mm: positive(d, &r.lead_mm, &key("lead_mm")),
        load_n_per_pct: positive(d, &r.load_n_per_pct, &key("load_n_per_pct")),
        fw: r
            .fw
            .as_ref()
            .map_or(DEFAULT_FW, |v| positive(d, v, &key("fw"))),
        ids: AssetIds {
            asset_id: r.asset_id.clone(),
            serial_number: r.serial_number.clone(),
            position: r.position.clone(),
        },
    }
}

pub fn check(d: &mut Diagnostics, raw: Option<&RawLifeComponents>) -> ComponentSettings {
    let Some(r) = raw else {
        return ComponentSettings::default();
    };
    let warning = r
        .remaining_warning_h
        .as_ref()
        .map(|v| positive(d, v, "remaining_warning_h"));
    let limit = r
        .remaining_limit_h
        .as_ref()
        .map(|v| not_negative(d, v, "remaining_limit_h"));
    if let (Some(w), Some(l), Some(span)) = (warning, limit, r.remaining_warning_h.as_ref()) {
        if w < l {
            d.at(
                span.span(),
                format!(
                    "life.components.remaining_warning_h ({w}) must not be below remaining_limit_h ({l}): the warning comes first"
                ),
            );
        }
    }
    let spindle_bearing = r.spindle_bearing.as_ref().map(|b| {
        let roller = match b.kind.as_ref() {
            None => false,
            Some(k) => match k.get_ref().as_str() {
                "ball" => false,
                "roller" => true,
                other => {
                    d.at(
                        k.span(),
                        format!(
                            "life.components.spindle-bearing.kind must be \"ball\" or \"roller\", not \"{other}\""
                        ),
                    );
                    false
                }
            },
        };
        SpindleBearingSettings {
            c_kn: positive(d, &b.c_kn, "spindle-bearing.c_kn"),
            roller,
            load_kn_per_pct: positive(d, &b.load_kn_per_pct, "spindle-bearing.load_kn_per_pct"),
            preload_kn: b
                .preload_kn
                .as_ref()
                .map_or(0.0, |v| not_negative(d, v, "spindle-bearing.preload_kn")),
            ids: AssetIds {
                asset_id: b.asset_id.clone(),
                serial_number: b.serial_number.clone(),
                position: b.position.clone(),
            },
        }
    });
    let ball_screws = [
        r.ball_screw_x.as_ref().map(|s| screw(d, s, "x")),
        r.ball_screw_y.as_ref().map(|s| screw(d, s, "y")),
        r.ball_screw_z.as_ref().map(|s| screw(d, s, "z")),
    ];
    let mql_pump = r
        .mql_pump
        .as_ref()
        .map_or_else(AssetIds::default, |p| AssetIds {
            asset_id: p.asset_id.clone(),
            serial_number: p.serial_number.clone(),
            position: p.position.clone(),
        });
    ComponentSettings {
        remaining_warning_h: warning,
        remaining_limit_h: limit,
        spindle_bearing,
        ball_screws,
        mql_pump,
    }
}

#[cfg(test)]
mod tests {
    const DEVICE: &str = "[[device]]\nname = \"d\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:1\"\n  [[device.tag]]\n  name = \"t\"\n  table = \"input\"\n  address = 0\n";

    fn parse(components: &str) -> Result<super::ComponentSettings, String> {
        let file = std::path::Path::new("x.toml");
        crate::config::parse(file, &format!("{components}\n{DEVICE}"))
            .map(|c| c.life.components)
            .map_err(|e| format!("{e}"))
    }

    #[test]
    fn ratings_are_read_and_checked_with_their_key_and_line() {
        let ok = parse(
            "[life.components]\nremaining_warning_h = 1000\nremaining_limit_h = 200\n\
             [life.components.spindle-bearing]\nc_kn = 48\nload_kn_per_pct = 0.02\npreload_kn = 1\nkind = \"ball\"\nserial_number = \"SN-1\"\n\
             [life.components.ball-screw-y]\nca_kn = 30\nlead_mm = 10\nload_n_per_pct = 60\n",
        )
        .unwrap();
        let b = ok.spindle_bearing.unwrap();
        assert_eq!((b.c_kn, b.roller, b.preload_kn), (48.0, false, 1.0));
        assert_eq!(b.ids.serial_number.as_deref(), Some("SN-1"));
        assert!(ok.ball_screws[0].is_none() && ok.ball_screws[2].is_none());
        let y = ok.ball_screws[1].as_ref().unwrap();
        assert_eq!((y.ca_kn, y.lead_mm, y.fw), (30.0, 10.0, super::DEFAULT_FW));
        assert_eq!(ok.remaining_warning_h, Some(1000.0));

        let e = parse(
            "[life.components.spindle-bearing]\nc_kn = 0\nload_kn_per_pct = 0.02\n\
             [life.components.ball-screw-z]\nca_kn = 30\nlead_mm = -5\nload_n_per_pct = 60\n",
        )
        .unwrap_err();
        assert!(
            e.contains("x.toml:2:") && e.contains("life.components.spindle-bearing.c_kn"),
            "{e}"
        );
        assert!(
            e.contains("x.toml:6:") && e.contains("life.components.ball-screw-z.lead_mm"),
            "{e}"
        );
        let e = parse("[life.components.spindle-bearing]\nc_kn = 40\nload_kn_per_pct = 1\nkind = \"needle\"\n")
            .unwrap_err();
        assert!(e.contains("x.toml:4:") && e.contains("ball"), "{e}");
        let e = parse("[life.components]\nremaining_warning_h = 10\nremaining_limit_h = 20\n")
            .unwrap_err();
        assert!(e.contains("remaining_warning_h"), "{e}");
        // A misspelt key is an error, not an ignored rating.
        let e =
            parse("[life.components.ball-screw-x]\nca_kn = 30\nlead = 10\nload_n_per_pct = 6\n")
                .unwrap_err();
        assert!(e.contains("lead"), "{e}");
        assert_eq!(parse("").unwrap(), super::ComponentSettings::default());
    }
}
