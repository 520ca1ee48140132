//! `residual-life`: what a remanufacturing engineer needs to decide reuse, remanufacture or
//! scrap, in the spirit of GB/T 34631-2017 (residual-life assessment before remanufacturing):
//! per component and per tool life, identity, service history, the assessment with its method
//! and model, remaining life P10/P50/P90, whether the life end was observed (`censored`), and
//! the evidence.
//!
//! Components are taken as `/api/life` shows them (`ComponentView`, built by
//! `component_life::Components::view`); this module only maps them to columns. The mapping is
//! all here: [`COMPONENT_KINDS`] for identity, [`SERVICE_COLUMNS`] for service-history figures,
//! [`component_row`] for the rest; fields of the view it does not know go whole into
//! `service_json` / `extra_json`, so a new field is exported before it has a column.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::{json, Map, Value as Json};

use super::dictionary::RESIDUAL_LIFE;
use super::sink::{local, Cell, Row, Sink};
use super::Request;
use crate::evaluators::frame::Frame;
use crate::evaluators::life::components::{ComponentView, Components};
use crate::evaluators::life::LifeView;
use crate::records::operation::OperationRecord;
use crate::records::tool::{Counters, Prediction, ToolChange, WearMeasurement};
use crate::store::Reader;
use crate::value::Value;

/// The wear model the agent predicts with, as far as the export names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub file: String,
    pub dataset: String,
    pub target: String,
    pub target_unit: String,
    pub limit: f64,
    pub inputs: Vec<String>,
}

/// What the export knows beyond the store file: the machine, the components as the agent
/// assesses them, and the configured wear model.
#[derive(Debug, Clone)]
pub struct LifeContext {
    pub machine_id: String,
    pub components: Vec<ComponentView>,
    pub model: Option<ModelInfo>,
    /// When the components were assessed (ms since the Unix epoch).
    pub assessed_ms: i64,
    /// The plant's local time minus UTC (`[shifts] utc_offset`), for the `*_local` columns.
    pub utc_offset_min: i64,
}

impl LifeContext {
    /// From a running agent's life tracker (the HTTP export): `/api/life`'s own view.
    pub fn from_view(
        machine_id: &str,
        view: LifeView,
        now_ms: i64,
        utc_offset_min: i64,
    ) -> LifeContext {
        LifeContext {
            utc_offset_min,
            machine_id: machine_id.to_string(),
            components: view.components,
            model: view.model.map(|m| ModelInfo {
                file: m.file,
                dataset: m.dataset,
                target: m.target,
                target_unit: m.target_unit,
                limit: m.limit,
                inputs: m.inputs,
            }),
            assessed_ms: now_ms,
        }
    }

    /// From the configuration and the store file (the command line, with or without a running
    /// agent): the components are restored from the store as the agent restores them at start
    /// (`Life::open`), read-only, and assessed by the same `Components::view`.
    pub fn from_config(cfg: &crate::config::Config) -> Result<LifeContext> {
        let reader = crate::store::open_reader(&cfg.store.path)?;
        let mut components = Components::restore(&cfg.life, Some(&reader));
        let now = crate::value::now_ms();
        // The pump's counter as last stored; a frame without a turning spindle ages nothing.
        if let Some(strokes) = reader
            .last_value("mql.pump_strokes")?
            .and_then(|v| v.as_f64())
        {
            components.step(
                &Frame::from_values(now, [("mql.pump_strokes", Value::Number(strokes))]),
                0.0,
            );
        }
        Ok(LifeContext {
            machine_id: cfg.agent.machine_id.clone(),
            components: components.view(),
            model: cfg.life.wear_model.as_ref().map(|m| ModelInfo {
                file: m.path.display().to_string(),
                dataset: m.dataset.clone(),
                target: m.model.target_name.clone(),
                target_unit: m.model.target_unit.clone(),
                limit: m.model.limit,
                inputs: m.model.feature_names(),
            }),
            assessed_ms: now,
            utc_offset_min: cfg.shifts.utc_offset_min,
        })
    }
}

/// Identity of the components the agent assesses: name → (type, position).
pub const COMPONENT_KINDS: &[(&str, &str, &str)] = &[
    ("spindle-bearing", "rolling bearing (spindle)", "spindle"),
    ("mql-pump", "MQL pump", "MQL unit"),
];

/// Service-history columns filled from a component view's `service` object where it has the
/// key: (column, key in `service`). Everything in `service` also goes to `service_json`.
pub const SERVICE_COLUMNS: &[(&str, &str)] = &[
    ("operating_h", "operating_h"),
    ("cutting_h", "cutting_h"),
    ("revolutions", "revolutions"),
    ("cycles", "cycles"),
];

/// Identity columns a component view may carry itself: (column, key in the view).
const IDENTITY_KEYS: &[(&str, &str)] = &[
    ("asset_id", "asset_id"),
    ("asset_id", "serial"),
    ("material", "material"),
    ("component_type", "component_type"),
    ("position", "position"),
];

/// Fields of `ComponentView` mapped to columns here (anything else goes to `extra_json`).
const MAPPED_FIELDS: &[&str] = &[
    "name",
    "method",
    "signal",
    "unit",
    "used",
    "rated",
    "life_used_fraction",
    "remaining",
    "note",
    "service",
    "asset_id",
    "serial",
    "material",
    "component_type",
    "position",
];

/// Machine totals from the store up to `to`: what every machine component went through.
struct MachineTotals {
    cuts: i64,
    cutting_h: f64,
    parts: Option<i64>,
}

fn machine_totals(r: &Reader, to_ms: i64) -> Result<MachineTotals> {
    let (cuts, cutting_s, parts) = r.totals_before(to_ms)?;
    Ok(MachineTotals {
        cuts,
        cutting_h: cutting_s / 3600.0,
        parts: Some(parts),
    })
}

/// The health-indicator series a component's stored state carries (the spindle bearing's
/// monitor), the last [`EVIDENCE_RECORDS`] records: enough to see the trend and its onset.
const EVIDENCE_RECORDS: usize = 500;

fn component_evidence(r: &Reader, name: &str, signal: &str) -> Result<Option<String>> {
    let state = r.component_state(name)?;
    let Some(state) = state.and_then(|s| serde_json::from_str::<Json>(&s).ok()) else {
        return Ok(None);
    };
    let m = &state["monitor"];
    let tail = |key: &str| -> Json {
        let v = m[key].as_array().cloned().unwrap_or_default();
        Json::Array(v[v.len().saturating_sub(EVIDENCE_RECORDS)..].to_vec())
    };
    if !m["hours"].is_array() {
        return Ok(None);
    }
    let unit = r.unit_of(signal)?;
    let records = m["hours"].as_array().map_or(0, Vec::len);
    Ok(Some(
        json!({
            "indicator": signal,
            "indicator_unit": unit,
            "records": records,
            "hours": tail("hours"),
            "health": tail("smooth"),
            "raw": tail("raw"),
            "baseline_mean_spread": m["baseline"],
            "last": state["last"],
        })
        .to_string(),
    ))
}

/// `<name>_p10<unit>`, `_p50`, `_p90`: a quantity's quantiles, scaled by `f`, the unit last as
/// in every column name (`remaining_p10_h`, `vb_p50_mm`; `unit` empty where it varies).
fn quantile_cells(row: &mut Row, name: &str, unit: &str, q: Option<&models::Quantiles>, f: f64) {
    for (p, v) in [
        ("p10", q.map(|q| q.p10)),
        ("p50", q.map(|q| q.p50)),
        ("p90", q.map(|q| q.p90)),
    ] {
        row.set(&format!("{name}_{p}{unit}"), v.map(|v| v * f));
    }
}

/// One component's row from its view as JSON (`ComponentView` serialised, as `/api/life`
/// shows it): read by field name, so fields added to the view later still arrive, in
/// `extra_json` until they get a column.
fn component_row(
    view: &Json,
    life: &LifeContext,
    totals: &MachineTotals,
    evidence: Option<String>,
) -> Row {
    let mut r = Row::new(&RESIDUAL_LIFE);
    let empty = Map::new();
    let fields = view.as_object().unwrap_or(&empty);
    let text = |k: &str| fields.get(k).and_then(Json::as_str);
    let num = |k: &str| fields.get(k).and_then(Json::as_f64);
    let name = text("name").unwrap_or_default();
    let unit = text("unit").unwrap_or_default();
    let remaining: Option<models::Quantiles> = fields
        .get("remaining")
        .and_then(|q| serde_json::from_value(q.clone()).ok());
    let kind = COMPONENT_KINDS.iter().find(|k| k.0 == name);
    r.set("machine_id", life.machine_id.as_str())
        .set("item_kind", "component")
        .set("item_id", name)
        .set("component_type", kind.map(|k| k.1))
        .set("position", kind.map(|k| k.2))
        .set("life_record", "in_service")
        .set("assessed_utc", Cell::Ts(life.assessed_ms))
        .set(
            "assessed_local",
            local(life.assessed_ms, life.utc_offset_min),
        )
        .set("cutting_h", totals.cutting_h)
        .set("cuts", totals.cuts)
        .set("parts", totals.parts)
        .set("method", text("method"))
        .set("life_unit", unit)
        .set("life_used", num("used"))
        .set("life_rated", num("rated"))
        .set("life_used_fraction", num("life_used_fraction"))
        .set("censored", true)
        .set("note", text("note"))
        .set("evidence_json", evidence);
    match unit {
        "h" => {
            r.set("operating_h", num("used"));
        }
        "strokes" => {
            r.set("cycles", num("used"));
        }
        _ => {}
    }
    quantile_cells(&mut r, "remaining", "", remaining.as_ref(), 1.0);
    if unit == "h" {
        quantile_cells(&mut r, "remaining", "_h", remaining.as_ref(), 1.0);
    }
    for (col, key) in IDENTITY_KEYS {
        if let Some(s) = text(key) {
            r.set(col, s);
        }
    }
    if let Some(service) = fields.get("service").filter(|s| !s.is_null()) {
        r.set("service_json", service.to_string());
        for (col, key) in SERVICE_COLUMNS {
            if let Some(x) = service.get(*key).and_then(Json::as_f64) {
                r.set(col, x);
            }
        }
    }
    let extra: Map<String, Json> = fields
        .iter()
        .filter(|(k, v)| !MAPPED_FIELDS.contains(&k.as_str()) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !extra.is_empty() {
        r.set("extra_json", Json::Object(extra).to_string());
    }
    r
}

/// One tool life: ended by a change, or in service.
struct ToolLife {
    tool_id: String,
    counters: Counters,
    prediction: Option<Prediction>,
    /// The change that ended it.
    change: Option<ToolChange>,
}

/// Cutting conditions of a tool life from its operations, means weighted by cutting time.
#[derive(Default)]
struct Conditions {
    speed: (f64, f64),
    feed: (f64, f64),
    vc: (f64, f64),
    fz: (f64, f64),
    load: (f64, f64),
    tool_materials: BTreeSet<String>,
    workpieces: BTreeSet<String>,
    cooling: BTreeSet<String>,
}

impl Conditions {
    fn add(&mut self, o: &OperationRecord) {
        let w = o.cutting_s;
        for (acc, v) in [
            (&mut self.speed, o.speed_mean_rpm),
            (&mut self.feed, o.feed_mean_mm_min),
            (&mut self.vc, o.vc_mean_m_min),
            (&mut self.fz, o.fz_mean_mm),
            (&mut self.load, o.spindle_load_mean_pct),
        ] {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                acc.0 += v * w;
                acc.1 += w;
            }
        }
        let tool = [o.tool_material.as_deref(), o.tool_coating.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !tool.is_empty() {
            self.tool_materials.insert(tool);
        }
        match (&o.workpiece_material, &o.workpiece_group) {
            (Some(m), Some(g)) => self.workpieces.insert(format!("{m} ({g})")),
            (Some(m), None) => self.workpieces.insert(m.clone()),
            (None, Some(g)) => self.workpieces.insert(format!("({g})")),
            (None, None) => false,
        };
        if let Some(c) = &o.cooling_mode {
            self.cooling.insert(c.clone());
        }
    }

    fn mean(acc: (f64, f64)) -> Option<f64> {
        (acc.1 > 0.0).then(|| acc.0 / acc.1)
    }

    fn join(set: &BTreeSet<String>) -> Option<String> {
        (!set.is_empty()).then(|| set.iter().cloned().collect::<Vec<_>>().join("; "))
    }
}

fn conditions(r: &Reader, tool: &str, from_ms: i64, to_ms: i64) -> Result<Conditions> {
    let mut c = Conditions::default();
    for o in r.operations_of_tool(tool, from_ms, to_ms)? {
        c.add(&o);
    }
    Ok(c)
}

fn tool_row(
    t: &ToolLife,
    life: &LifeContext,
    spindle: Option<&str>,
    cond: &Conditions,
    wear: &[WearMeasurement],
) -> Row {
    let mut r = Row::new(&RESIDUAL_LIFE);
    r.set("wear_measurements", wear.len() as u64);
    if !wear.is_empty() {
        let rows: Vec<Json> = wear
            .iter()
            .map(|m| {
                json!({
                    "ts_ms": m.ts_ms, "cutting_min": m.counters.cutting_min,
                    "measured_vb_mm": m.measured_vb_mm, "by": m.by, "check": m.check,
                })
            })
            .collect();
        r.set("wear_measurements_json", Json::Array(rows).to_string());
    }
    let c = &t.counters;
    let p = t.prediction.as_ref();
    r.set("machine_id", life.machine_id.as_str())
        .set("item_kind", "tool")
        .set("item_id", t.tool_id.as_str())
        .set("component_type", "cutting tool")
        .set("material", Conditions::join(&cond.tool_materials))
        .set(
            "life_start_utc",
            if c.since_ms > 0 {
                Cell::Ts(c.since_ms)
            } else {
                Cell::Null
            },
        )
        .set("assessed_utc", p.map_or(Cell::Null, |p| Cell::Ts(p.at_ms)))
        .set(
            "assessed_local",
            p.map(|p| local(p.at_ms, life.utc_offset_min)),
        )
        .set("cutting_h", c.cutting_min / 60.0)
        .set("parts", c.parts)
        .set("cuts", c.cuts)
        .set("cutting_min", c.cutting_min)
        .set("cutting_distance_mm", c.distance_mm)
        .set("speed_mean_rpm", Conditions::mean(cond.speed))
        .set("feed_mean_mm_min", Conditions::mean(cond.feed))
        .set("vc_mean_m_min", Conditions::mean(cond.vc))
        .set("fz_mean_mm", Conditions::mean(cond.fz))
        .set("spindle_load_mean_pct", Conditions::mean(cond.load))
        .set("workpiece_materials", Conditions::join(&cond.workpieces))
        .set("cooling_modes", Conditions::join(&cond.cooling))
        .set("life_unit", "min")
        .set("life_used", c.cutting_min)
        .set(
            "evidence_json",
            p.map(|p| serde_json::to_string(p).unwrap_or_default()),
        );
    match &t.change {
        Some(c) => {
            r.set("life_record", "ended")
                .set("life_end_utc", Cell::Ts(c.ts_ms))
                .set("life_end_local", local(c.ts_ms, life.utc_offset_min))
                .set("censored", c.censored)
                .set("change_reason", c.reason.as_str())
                .set("changed_by", c.by.as_str())
                .set("measured_vb_mm", c.measured_vb_mm);
        }
        None => {
            let here = if spindle == Some(t.tool_id.as_str()) {
                "spindle"
            } else {
                "magazine"
            };
            r.set("life_record", "in_service")
                .set("position", here)
                .set("censored", true);
        }
    }
    let model_method = life.model.as_ref().map(|m| {
        format!(
            "wear-limit model trained on the `{}` data set (models crate); usage = minutes of cutting",
            m.dataset
        )
    });
    match p {
        Some(p) => {
            let model = life
                .model
                .as_ref()
                .filter(|m| same_file(&m.file, &p.model_file));
            r.set("method", p.method.as_str())
                .set("model_file", p.model_file.as_str())
                .set(
                    "model_format_version",
                    i64::from(models::model_file::FORMAT_VERSION),
                )
                .set(
                    "model_params_json",
                    json!({
                        "dataset": model.map(|m| m.dataset.as_str()),
                        "target": model.map(|m| m.target.as_str()),
                        "target_unit": p.vb_unit,
                        "limit": p.limit,
                        "inputs": model.map(|m| m.inputs.clone()),
                        "class": p.class,
                        "usage_unit": crate::config::USAGE_UNIT,
                        "after_cut": p.after_cut,
                    })
                    .to_string(),
                );
            let used = p.cutting_min;
            let total = used + p.remaining_min.p50;
            r.set("life_used_fraction", (total > 0.0).then(|| used / total));
            quantile_cells(&mut r, "remaining", "", Some(&p.remaining_min), 1.0);
            quantile_cells(
                &mut r,
                "remaining",
                "_h",
                Some(&p.remaining_min),
                1.0 / 60.0,
            );
            quantile_cells(&mut r, "remaining", "_min", Some(&p.remaining_min), 1.0);
            quantile_cells(&mut r, "remaining_cuts", "", Some(&p.remaining_cuts), 1.0);
            if p.vb_unit == "mm" {
                quantile_cells(&mut r, "vb", "_mm", p.vb.as_ref(), 1.0);
                r.set("vb_limit_mm", p.limit);
            }
        }
        None => {
            r.set(
                "method",
                model_method
                    .unwrap_or_else(|| "usage counters only: no wear model configured".into()),
            )
            .set("note", "no prediction stored for this tool life");
        }
    }
    r
}

/// Whether two spellings of a model file's path name the same file (the agent and the
/// command line may reach it through different relative paths).
fn same_file(a: &str, b: &str) -> bool {
    let canon = |p: &str| std::fs::canonicalize(p).ok();
    a == b || matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

fn ended_lives(r: &Reader, req: &Request) -> Result<Vec<ToolLife>> {
    Ok(r.tool_changes_between(req.from_ms, req.to_ms)?
        .into_iter()
        .map(|c| ToolLife {
            tool_id: c.tool_id.clone(),
            counters: c.counters.clone(),
            prediction: c.prediction.clone(),
            change: Some(c),
        })
        .collect())
}

fn lives_in_service(r: &Reader, req: &Request) -> Result<Vec<ToolLife>> {
    Ok(r.tool_usage()?
        .into_iter()
        .filter(|u| u.counters.since_ms < req.to_ms)
        .map(|u| ToolLife {
            tool_id: u.tool_id,
            counters: u.counters,
            prediction: u.prediction,
            change: None,
        })
        .collect())
}

pub fn export(r: &Reader, life: &LifeContext, req: &Request, sink: &mut Sink) -> Result<()> {
    let totals = machine_totals(r, req.to_ms)?;
    for c in &life.components {
        let evidence = component_evidence(r, &c.name, &c.signal)?;
        let view = serde_json::to_value(c)?;
        sink.push_named(component_row(&view, life, &totals, evidence))?;
    }
    let spindle = match r.last_value("tool.id")? {
        Some(Value::Text(t)) => Some(t),
        _ => None,
    };
    for t in ended_lives(r, req)? {
        let end = t.change.as_ref().map_or(i64::MAX, |c| c.ts_ms);
        let cond = conditions(r, &t.tool_id, t.counters.since_ms, end)?;
        let wear = r.wear_measurements(&t.tool_id, t.change.as_ref().map(|c| c.id))?;
        sink.push_named(tool_row(&t, life, spindle.as_deref(), &cond, &wear))?;
    }
    for t in lives_in_service(r, req)? {
        let cond = conditions(r, &t.tool_id, t.counters.since_ms, i64::MAX)?;
        let wear = r.wear_measurements(&t.tool_id, None)?;
        sink.push_named(tool_row(&t, life, spindle.as_deref(), &cond, &wear))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> LifeContext {
        LifeContext {
            machine_id: "vmc-01".into(),
            components: Vec::new(),
            model: None,
            assessed_ms: 1_000,
            utc_offset_min: 480,
        }
    }

    const TOTALS: MachineTotals = MachineTotals {
        cuts: 7,
        cutting_h: 0.5,
        parts: Some(3),
    };

    #[test]
    fn component_fields_map_to_columns_and_unknown_ones_are_kept_as_json() {
        // A view as another part of the agent may grow it: a service history and a rated-life
        // assessment that have no column yet.
        let view = json!({
            "name": "spindle-bearing", "method": "ISO 281 rated life", "signal": "spindle.vibration_rms",
            "unit": "h", "used": 1200.0, "rated": 20000.0, "life_used_fraction": 0.06,
            "remaining": {"p10": 9000.0, "p50": 18800.0, "p90": 30000.0}, "note": null,
            "asset_id": "SB-7206-0042",
            "service": {"operating_h": 1250.0, "revolutions": 4.5e8, "speed_histogram_rpm": [[0, 1000, 12.5]]},
            "iso281": {"l10_h": 20000.0, "a_iso": 1.2},
        });
        let r = component_row(&view, &context(), &TOTALS, None);
        assert_eq!(r.get("item_id"), &Cell::T("spindle-bearing".into()));
        assert_eq!(r.get("position"), &Cell::T("spindle".into()));
        assert_eq!(r.get("asset_id"), &Cell::T("SB-7206-0042".into()));
        assert_eq!(
            r.get("operating_h"),
            &Cell::F(1250.0),
            "the service history wins"
        );
        assert_eq!(r.get("revolutions"), &Cell::F(4.5e8));
        assert_eq!(r.get("remaining_p50_h"), &Cell::F(18800.0));
        assert_eq!(r.get("remaining_p10"), &Cell::F(9000.0));
        assert_eq!(r.get("life_rated"), &Cell::F(20000.0));
        assert_eq!(r.get("cuts"), &Cell::I(7));
        assert_eq!(r.get("censored"), &Cell::B(true));
        let Cell::T(service) = r.get("service_json") else {
            panic!("service_json")
        };
        assert!(service.contains("speed_histogram_rpm"), "{service}");
        let Cell::T(extra) = r.get("extra_json") else {
            panic!("extra_json")
        };
        assert_eq!(
            serde_json::from_str::<Json>(extra).unwrap(),
            json!({"iso281": {"l10_h": 20000.0, "a_iso": 1.2}})
        );
        // A life counted in strokes has no hours.
        let pump = json!({"name": "mql-pump", "method": "rated", "signal": "mql.pump_strokes",
            "unit": "strokes", "used": 10.0, "rated": 100.0, "life_used_fraction": 0.1,
            "remaining": {"p10": 90.0, "p50": 90.0, "p90": 90.0}, "note": "rated life"});
        let r = component_row(&pump, &context(), &TOTALS, None);
        assert_eq!(r.get("cycles"), &Cell::F(10.0));
        assert_eq!(r.get("remaining_p50"), &Cell::F(90.0));
        assert_eq!(r.get("remaining_p50_h"), &Cell::Null);
        assert_eq!(r.get("extra_json"), &Cell::Null);
    }

    #[test]
    fn a_tool_without_prediction_says_why_and_an_ended_life_carries_its_label() {
        let t = ToolLife {
            tool_id: "T9".into(),
            counters: Counters {
                cutting_min: 12.0,
                cuts: 4,
                parts: 2,
                distance_mm: 5000.0,
                since_ms: 500,
                last_cut_ms: Some(900),
            },
            prediction: None,
            change: Some(ToolChange {
                id: 1,
                tool_id: "T9".into(),
                ts_ms: 1_000,
                reason: crate::records::tool::ChangeReason::Preventive,
                censored: true,
                measured_vb_mm: Some(0.12),
                by: "li".into(),
                counters: Counters::default(),
                prediction: None,
            }),
        };
        let wear = WearMeasurement {
            id: 3,
            tool_id: "T9".into(),
            ts_ms: 800,
            measured_vb_mm: 0.09,
            by: "wang".into(),
            counters: Counters {
                cutting_min: 8.0,
                ..Counters::default()
            },
            check: None,
        };
        let r = tool_row(
            &t,
            &context(),
            Some("T9"),
            &Conditions::default(),
            std::slice::from_ref(&wear),
        );
        assert_eq!(r.get("wear_measurements"), &Cell::I(1));
        let Cell::T(json) = r.get("wear_measurements_json") else {
            panic!("{:?}", r.get("wear_measurements_json"));
        };
        let v: Json = serde_json::from_str(json).unwrap();
        assert_eq!(
            (
                v[0]["measured_vb_mm"].as_f64(),
                v[0]["cutting_min"].as_f64()
            ),
            (Some(0.09), Some(8.0))
        );
        assert_eq!(
            r.get("method"),
            &Cell::T("usage counters only: no wear model configured".into())
        );
        assert!(matches!(r.get("note"), Cell::T(_)));
        assert_eq!(r.get("life_record"), &Cell::T("ended".into()));
        assert_eq!(r.get("position"), &Cell::Null, "an ended life is nowhere");
        assert_eq!(r.get("censored"), &Cell::B(true));
        assert_eq!(r.get("measured_vb_mm"), &Cell::F(0.12));
        assert_eq!(r.get("cutting_h"), &Cell::F(0.2));
        assert_eq!(r.get("life_end_utc"), &Cell::Ts(1_000));
        assert_eq!(r.get("remaining_p50_h"), &Cell::Null);
    }
}
