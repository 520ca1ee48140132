//! `operations`: one row per finished operation, the stored `OperationRecord` flattened, with
//! the violation episodes that overlapped it.

use anyhow::Result;
use rusqlite::{params, Connection};
use serde_json::json;

use super::dictionary::OPERATIONS;
use super::residual_life::LifeContext;
use super::sink::{Cell, Row, Sink};
use super::{has_table, Request};
use crate::evaluators::operations::OperationRecord;

/// A violation episode as far as the export tells it.
struct Episode {
    rule_id: String,
    json: serde_json::Value,
}

fn episodes(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Episode>> {
    // As `/api/operations` shows them: overlapping the cut, `info` left out.
    let mut stmt = conn.prepare_cached(
        "SELECT rule_id, profile, standard, severity, start_ms, end_ms, worst_value, limit_text, unit, source, verified, message
         FROM violation WHERE start_ms <= ?2 AND (end_ms IS NULL OR end_ms >= ?1) AND severity != 'info'
         ORDER BY start_ms, id",
    )?;
    let rows = stmt.query_map([from_ms, to_ms], |r| {
        let rule_id: String = r.get(0)?;
        Ok(Episode {
            json: json!({
                "rule_id": rule_id,
                "profile": r.get::<_, String>(1)?,
                "standard": r.get::<_, String>(2)?,
                "severity": r.get::<_, String>(3)?,
                "start_ms": r.get::<_, i64>(4)?,
                "end_ms": r.get::<_, Option<i64>>(5)?,
                "worst_value": r.get::<_, Option<f64>>(6)?,
                "limit": r.get::<_, String>(7)?,
                "unit": r.get::<_, String>(8)?,
                "source": r.get::<_, String>(9)?,
                "verified": r.get::<_, bool>(10)?,
                "message": r.get::<_, String>(11)?,
            }),
            rule_id,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row(id: i64, o: &OperationRecord, machine_id: &str, eps: &[Episode]) -> Row {
    let mut r = Row::new(&OPERATIONS);
    let per_cut = |x: f64| (o.cutting_s > 0.0).then(|| x / o.cutting_s);
    r.set("operation_id", id)
        .set("machine_id", machine_id)
        .set("start_utc", Cell::Ts(o.start_ms))
        .set("end_utc", Cell::Ts(o.end_ms))
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
        .set("compliant_share", per_cut(o.compliant_s))
        .set("speed_mean_rpm", o.speed_rpm)
        .set("feed_mean_mm_min", o.feed_mm_min)
        .set("vc_m_min", o.vc_m_min)
        .set("fz_mm", o.fz_mm)
        .set("spindle_load_mean_pct", o.load_mean_pct)
        .set("spindle_load_max_pct", o.load_max_pct)
        .set("spindle_power_mean_kw", o.power_mean_kw)
        .set("spindle_power_max_kw", o.power_max_kw)
        .set("energy_kwh", o.energy_kwh)
        .set("oil_ml", o.oil_ml)
        .set("oil_ml_per_h", per_cut(o.oil_ml * 3600.0))
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
            serde_json::Value::Array(eps.iter().map(|e| e.json.clone()).collect()).to_string(),
        );
    r
}

pub fn export(conn: &Connection, life: &LifeContext, req: &Request, sink: &mut Sink) -> Result<()> {
    if !has_table(conn, "operation")? {
        return Ok(());
    }
    let with_violations = has_table(conn, "violation")?;
    let mut stmt = conn.prepare(
        "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms < ?2 ORDER BY end_ms, id",
    )?;
    let mut rows = stmt.query(params![req.from_ms, req.to_ms])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let json: String = r.get(1)?;
        let op: OperationRecord = serde_json::from_str(&json)
            .map_err(|e| anyhow::anyhow!("operation {id}: stored record unreadable: {e}"))?;
        let eps = if with_violations {
            episodes(conn, op.start_ms, op.end_ms)?
        } else {
            Vec::new()
        };
        sink.push_named(row(id, &op, &life.machine_id, &eps))?;
    }
    Ok(())
}
