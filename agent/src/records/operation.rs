//! Operations, parts and violation episodes: what the green-cutting evaluator concludes about
//! the machine's work, kept in the store, shown by the API and sent over MQTT.

use serde::{Deserialize, Serialize};

use crate::condition::Severity;

/// The green-cutting verdict, live and per operation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every applicable rule held.
    Compliant,
    /// A rule of warning or critical severity was violated.
    Violation,
    /// No profile covers the cooling mode.
    NotApplicable,
    /// A monitored rule lacked data: never a pass by default.
    #[default]
    NoData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Compliant => "compliant",
            Verdict::Violation => "violation",
            Verdict::NotApplicable => "not_applicable",
            Verdict::NoData => "no_data",
        }
    }
}

/// A finished operation with its key figures. Units are in the field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OperationRecord {
    pub start_ms: i64,
    pub end_ms: i64,
    pub program: Option<String>,
    pub operation: Option<String>,
    pub tool_id: Option<String>,
    pub tool_material: Option<String>,
    pub tool_coating: Option<String>,
    pub tool_diameter_mm: Option<f64>,
    pub tool_edges: Option<f64>,
    /// The tool's class for tool-life statistics (`tool.class`, e.g. from the tool table).
    #[serde(default)]
    pub tool_class: Option<String>,
    pub workpiece_material: Option<String>,
    pub workpiece_group: Option<String>,
    pub workpiece_hardness_hrc: Option<f64>,
    pub cooling_mode: Option<String>,
    pub part_no: Option<f64>,
    pub cutting_s: f64,
    /// Seconds of cutting a standards profile judged: the cooling mode was known, a profile
    /// covered it and every monitored rule had data. The rest was not judged.
    #[serde(default)]
    pub judged_s: f64,
    /// Judged seconds with every applicable rule held.
    pub compliant_s: f64,
    pub speed_mean_rpm: Option<f64>,
    pub feed_mean_mm_min: Option<f64>,
    /// Cutting speed π·D·n/1000.
    pub vc_mean_m_min: Option<f64>,
    /// Feed per tooth vf/(n·z).
    pub fz_mean_mm: Option<f64>,
    pub spindle_load_mean_pct: Option<f64>,
    pub spindle_load_max_pct: Option<f64>,
    pub spindle_power_mean_kw: Option<f64>,
    pub spindle_power_max_kw: Option<f64>,
    pub energy_kwh: f64,
    pub oil_ml: f64,
    /// `energy_kwh` × the grid factor + `oil_ml` × the lubricant's factor (`[carbon]`), at the
    /// factors in force when recorded; `None` in records from before carbon figures.
    #[serde(default)]
    pub co2e_kg: Option<f64>,
    /// Oil a flood-coolant process would have used in `cutting_s` (`[carbon]
    /// flood_oil_ml_per_h`) less `oil_ml`; `None` without a baseline.
    #[serde(default)]
    pub oil_saved_ml: Option<f64>,
    /// `violation` when a rule was violated during the cut; `compliant` only when the whole
    /// cut was judged and every rule held; else `no_data` (a monitored rule lacked data, or the
    /// cooling mode was unknown) or `not_applicable` (no profile covers the cooling mode).
    pub verdict: Verdict,
}

/// A finished part: from one increment of the parts counter to the next.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PartRecord {
    pub part_no: f64,
    pub program: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub energy_kwh: f64,
    pub oil_ml: f64,
    pub cutting_s: f64,
    /// As for an operation: the cutting a profile judged, and of it the compliant seconds.
    #[serde(default)]
    pub judged_s: f64,
    pub compliant_s: f64,
    /// As for an operation: kg CO₂e of the part's energy and oil, and oil saved against the
    /// flood-coolant baseline.
    #[serde(default)]
    pub co2e_kg: Option<f64>,
    #[serde(default)]
    pub oil_saved_ml: Option<f64>,
}

/// A violation episode: one rule out of its limits from `start_ms` to `end_ms`.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Violation {
    pub rule_id: String,
    pub profile: String,
    pub standard: String,
    pub severity: Severity,
    pub start_ms: i64,
    /// `None` while it lasts.
    pub end_ms: Option<i64>,
    /// The value farthest from the limit so far.
    pub worst_value: Option<f64>,
    pub limit: String,
    pub unit: String,
    pub source: String,
    pub verified: bool,
    pub message: String,
    /// The message in Simplified Chinese; `None` for an episode stored before the store kept it.
    pub message_zh: Option<String>,
}
