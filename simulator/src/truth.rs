//! Ground-truth CSV: one row per `truth.interval_s` of simulated time (1 s by default),
//! flushed after every physics tick so a test can read it while the simulator runs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::snapshot::Snapshot;

/// Column names, in order.
pub const COLUMNS: &[&str] = &[
    "wall_time_ms",
    "sim_time_s",
    "program",
    "operation",
    "tool_id",
    "cutting",
    "vb_mm",
    "remaining_life_min",
    "life_consumed",
    "oil_flow_ml_h",
    "oil_used_ml",
    "spindle_power_kw",
    "spindle_energy_kwh",
    "parts",
    "vibration_rms_mm_s",
    "bearing_remaining_fraction",
    "spindle_speed_rpm",
    "spindle_load_pct",
    "tool_life_counter_min",
    "vc_m_min",
    "life_at_conditions_min",
    "air_pressure_kpa",
    "mql_fault_code",
    "bearing_temp_c",
    "tool_changes",
    "breakages",
    "events",
];

pub struct TruthWriter {
    out: BufWriter<File>,
}

impl TruthWriter {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating directory {}", dir.display()))?;
        }
        let file =
            File::create(path).with_context(|| format!("creating truth CSV {}", path.display()))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{}", COLUMNS.join(","))?;
        out.flush()?;
        Ok(TruthWriter { out })
    }

    /// Append one row; `events` are the happenings since the previous row.
    pub fn write_row(&mut self, s: &Snapshot, events: &[String]) -> std::io::Result<()> {
        let t = &s.truth;
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let row = [
            s.wall_time_ms.to_string(),
            format!("{:.3}", s.sim_time_s),
            csv_field(&s.cnc.program_name),
            csv_field(&s.cnc.operation),
            csv_field(&s.cnc.tool_identifier),
            t.cutting.to_string(),
            format!("{:.6}", t.vb_mm),
            opt(t.remaining_life_min),
            format!("{:.6}", t.life_consumed),
            format!("{:.4}", t.oil_flow_ml_h),
            format!("{:.6}", t.oil_used_ml),
            format!("{:.4}", t.spindle_power_kw),
            format!("{:.6}", t.spindle_energy_kwh),
            t.parts.to_string(),
            format!("{:.4}", t.vibration_rms_mm_s),
            opt(t.bearing_remaining_fraction),
            format!("{:.1}", s.cnc.spindle_act_speed_rpm),
            format!("{:.3}", s.cnc.spindle_load_pct),
            format!("{:.5}", s.cnc.tool_life_min),
            opt(t.vc_m_min),
            opt(t.life_at_conditions_min),
            format!("{:.1}", s.mql.air_pressure_kpa),
            s.mql.fault_code.to_string(),
            format!("{:.2}", s.sensor.bearing_temp_c),
            t.tool_changes.to_string(),
            t.breakages.to_string(),
            csv_field(&events.join(";")),
        ];
        writeln!(self.out, "{}", row.join(","))
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Quote a field if it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(csv_field("OP20 pocket"), "OP20 pocket");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }

    #[test]
    fn row_has_every_column() {
        let cfg = crate::scenario::ScenarioConfig::default();
        let mut m = crate::physics::Machine::new(&cfg);
        m.step(0.1);
        let snap = Snapshot::from_observation(&m.observe(), 1);
        let dir = std::env::temp_dir().join(format!("sim-truth-test-{}", std::process::id()));
        let path = dir.join("t.csv");
        let mut w = TruthWriter::create(&path).unwrap();
        w.write_row(&snap, &["a".into(), "b".into()]).unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split(',').count(), COLUMNS.len());
        assert_eq!(lines[1].split(',').count(), COLUMNS.len());
        assert!(lines[1].ends_with(",a;b"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
