//! Checks of the `[life]` section: the wear model file is loaded here, so a missing file, a
//! file of another format version or a model that needs inputs this agent cannot supply is a
//! configuration error with its line, not a surprise at the first cut.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use models::model_file::WearModelFile;
use models::WearModel;

use super::diagnostic::Diagnostics;
use super::raw::RawConfig;

/// The usage unit of the counters a wear model is fed with.
pub const USAGE_UNIT: &str = "min";

/// Inputs the life evaluator gives a wear model per cut: cutting conditions of the operation (feed
/// per revolution, material code as in the NASA milling data: 1 cast iron, 2 steel, the
/// configured depth of cut) and the operation's spindle statistics.
pub fn wear_model_inputs(depth_of_cut: bool) -> Vec<&'static str> {
    let mut v = vec![
        "feed",
        "material",
        "vc_mean_m_min",
        "fz_mean_mm",
        "speed_mean_rpm",
        "spindle_load_mean_pct",
        "spindle_load_max_pct",
        "spindle_power_mean_kw",
        "spindle_power_max_kw",
    ];
    if depth_of_cut {
        v.push("DOC");
    }
    v
}

/// `[life]`: remaining-life prediction settings. Without a wear model the agent keeps the
/// per-tool usage counters only.
#[derive(Debug, Clone)]
pub struct LifeSettings {
    pub wear_model: Option<WearModelSettings>,
    /// The model's `DOC` input: the agent measures no depth of cut, so it is configured.
    pub depth_of_cut_mm: Option<f64>,
    /// The MQL pump maker's rated strokes (`mql.pump_strokes` is counted against it).
    pub mql_pump_rated_strokes: Option<f64>,
    /// Minutes of spindle running per bearing health record (the IMS indicator: 10).
    pub bearing_record_min: f64,
    /// Alarms on the predicted remaining life of the tool in the spindle: its P10 (minutes of
    /// cutting) below these levels. A shop's choice (how long a tool change takes to prepare),
    /// not a standard's; unset, no predicted-life alarms for tools.
    pub tool_remaining_warning_min: Option<f64>,
    pub tool_remaining_limit_min: Option<f64>,
    /// `[life.components]`: component ratings for rated life from the service history.
    pub components: super::ComponentSettings,
}

impl Default for LifeSettings {
    fn default() -> Self {
        LifeSettings {
            wear_model: None,
            depth_of_cut_mm: None,
            mql_pump_rated_strokes: None,
            bearing_record_min: 10.0,
            tool_remaining_warning_min: None,
            tool_remaining_limit_min: None,
            components: Default::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WearModelSettings {
    /// The model file as resolved (relative paths are relative to the configuration file).
    pub path: PathBuf,
    /// The data set it was trained on (from the file's training metadata).
    pub dataset: String,
    pub model: Arc<WearModel>,
}

pub fn check(
    d: &mut Diagnostics,
    raw: &RawConfig,
    file: &Path,
    read: super::ReadFile,
) -> LifeSettings {
    let l = &raw.life;
    let depth_of_cut_mm = d.positive(l.depth_of_cut_mm.as_ref(), "depth_of_cut_mm");
    let base = LifeSettings {
        wear_model: None,
        depth_of_cut_mm,
        mql_pump_rated_strokes: d
            .positive(l.mql_pump_rated_strokes.as_ref(), "mql_pump_rated_strokes"),
        bearing_record_min: d
            .positive(l.bearing_record_min.as_ref(), "bearing_record_min")
            .unwrap_or(10.0),
        tool_remaining_warning_min: d.positive(
            l.tool_remaining_warning_min.as_ref(),
            "tool_remaining_warning_min",
        ),
        tool_remaining_limit_min: d.positive(
            l.tool_remaining_limit_min.as_ref(),
            "tool_remaining_limit_min",
        ),
        components: super::validate_components::check(d, l.components.as_ref()),
    };
    if let (Some(w), Some(lim)) = (&l.tool_remaining_warning_min, base.tool_remaining_limit_min) {
        if *w.get_ref() <= lim {
            d.at(
                w.span(),
                "tool_remaining_warning_min must be greater than tool_remaining_limit_min \
                 (the warning comes first)",
            );
        }
    }
    let Some(p) = &l.wear_model else {
        return base;
    };
    let path = file.parent().unwrap_or(Path::new(".")).join(p.get_ref());
    let loaded = match read(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|text| WearModelFile::parse(&path, &text).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            d.at(p.span(), format!("wear_model: {e}"));
            return base;
        }
    };
    let model = loaded.model;
    if model.usage_unit != USAGE_UNIT {
        d.at(
            p.span(),
            format!(
                "wear_model {}: its usage is in `{}`, the agent counts usage in `{USAGE_UNIT}` of cutting",
                path.display(),
                model.usage_unit
            ),
        );
    }
    let supplied = wear_model_inputs(depth_of_cut_mm.is_some());
    let missing: Vec<String> = model
        .feature_names()
        .into_iter()
        .filter(|n| !supplied.contains(&n.as_str()))
        .collect();
    if !missing.is_empty() {
        let hint = if missing == ["DOC"] {
            "set depth_of_cut_mm in [life]".to_string()
        } else {
            format!("the agent supplies: {}", supplied.join(", "))
        };
        d.at(
            p.span(),
            format!(
                "wear_model {} needs inputs this agent cannot supply: `{}` ({hint})",
                path.display(),
                missing.join("`, `")
            ),
        );
    }
    LifeSettings {
        wear_model: Some(WearModelSettings {
            path,
            dataset: loaded.training.dataset,
            model: Arc::new(model),
        }),
        ..base
    }
}

#[cfg(test)]
mod tests {
    const DEVICE: &str = "[[device]]\nname = \"d\"\nprotocol = \"modbus-tcp\"\naddress = \"127.0.0.1:1\"\n  [[device.tag]]\n  name = \"t\"\n  table = \"input\"\n  address = 0\n";

    fn problems(life: &str) -> String {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/x.toml");
        match crate::config::parse(&file, &format!("[life]\n{life}\n{DEVICE}")) {
            Ok(c) => format!("ok {}", c.life.wear_model.is_some()),
            Err(e) => format!("{e}"),
        }
    }

    #[test]
    fn the_wear_model_is_checked_at_load() {
        let p =
            problems("wear_model = \"../models/trained/nasa-milling.json\"\ndepth_of_cut_mm = 1.0");
        assert_eq!(p, "ok true");
        let p = problems("wear_model = \"nope.json\"");
        assert!(
            p.contains("wear_model") && p.contains("nope.json") && p.contains("x.toml:2"),
            "{p}"
        );
        // The NASA model needs a depth of cut, which the agent does not measure.
        let p = problems("wear_model = \"../models/trained/nasa-milling.json\"");
        assert!(p.contains("`DOC`") && p.contains("depth_of_cut_mm"), "{p}");
        // The PHM 2010 model counts cuts and needs force and vibration features.
        let p = problems("wear_model = \"../models/trained/phm2010.json\"");
        assert!(
            p.contains("usage is in `cuts`") && p.contains("force_x"),
            "{p}"
        );
        assert_eq!(problems(""), "ok false");
    }
}
