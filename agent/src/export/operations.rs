//! `operations`: one row per finished operation, the stored `OperationRecord` flattened, with
//! the violation episodes that overlapped it.

use anyhow::Result;

use super::dictionary::OPERATIONS;
use super::residual_life::LifeContext;
use super::sink::{local, Cell, Row, Sink};
use super::Request;
use crate::records::operation::{OperationRecord, Violation};
use crate::store::Reader;

fn row(id: i64, o: &OperationRecord, life: &LifeContext, eps: &[Violation]) -> Row {
    let mut r = Row::new(&OPERATIONS);
    let per_cut = |x: f64| (o.cutting_s > 0.0).then(|| x / o.cutting_s);
    let per_judged = |x: f64| (o.judged_s > 0.0).then(|| x / o.judged_s);
    r.set("operation_id", id)
        .set("machine_id", life.machine_id.as_str())
        .set("start_utc", Cell::Ts(o.start_ms))
        .set("end_utc", Cell::Ts(o.end_ms))
        .set("start_local", local(o.start_ms, life.utc_offset_min))
        .set("end_local", local(o.end_ms, life.utc_offset_min))
        .set("duration_s", (o.end_ms - o.start_ms) as f64 / 1000.0)
        .set("program", o.program.clone())
        .set("operation", o.operation.clone())
        .set("tool_id", o.tool_id.clone())
        .set("tool_material", o.tool_material.clone())
        .set("tool_coating", o.tool_coating.clone())
        .set("tool_diameter_mm", o.tool_diameter_mm)
        .set("tool_edges", o.tool_edges)
        .set("workpiece_material", o.workpiece_material.clone())
        .set("workpiece_group", o.workpiece_group.clone())
        .set("workpiece_hardness_hrc", o.workpiece_hardness_hrc)
        .set("cooling_mode", o.cooling_mode.clone())
        .set("part_no", o.part_no)
        .set("cutting_s", o.cutting_s)
        .set("compliant_s", o.compliant_s)
        .set("judged_s", o.judged_s)
        .set("compliant_share", per_judged(o.compliant_s))
        .set("speed_mean_rpm", o.speed_mean_rpm)
        .set("feed_mean_mm_min", o.feed_mean_mm_min)
        .set("vc_mean_m_min", o.vc_mean_m_min)
        .set("fz_mean_mm", o.fz_mean_mm)
        .set("spindle_load_mean_pct", o.spindle_load_mean_pct)
        .set("spindle_load_max_pct", o.spindle_load_max_pct)
        .set("spindle_power_mean_kw", o.spindle_power_mean_kw)
        .set("spindle_power_max_kw", o.spindle_power_max_kw)
        .set("energy_kwh", o.energy_kwh)
        .set("oil_ml", o.oil_ml)
        .set("oil_ml_per_h", per_cut(o.oil_ml * 3600.0))
        .set("co2e_kg", o.co2e_kg)
        .set("oil_saved_ml", o.oil_saved_ml)
        .set("verdict", o.verdict.as_str())
        .set("violations", eps.len() as i64)
        .set(
            "violated_rules",
            (!eps.is_empty()).then(|| {
                eps.iter()
                    .map(|e| e.rule_id.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        )
        .set(
            "violations_json",
            serde_json::to_string(eps).unwrap_or_else(|_| "[]".into()),
        );
    r
}

pub fn export(r: &Reader, life: &LifeContext, req: &Request, sink: &mut Sink) -> Result<()> {
    r.each_operation(req.from_ms, req.to_ms, |id, op| {
        let eps = r.violations_during(op)?;
        sink.push_named(row(id, op, life, &eps))
    })
}
