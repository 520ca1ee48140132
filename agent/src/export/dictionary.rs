//! The data dictionary: every column of every export, with its type, unit and meaning. It is
//! the one source of the column names (the exporters fill columns by these names and the file
//! schemas are built from it) and of `agent/EXPORT.md` (rendered by [`markdown`]; a unit test
//! fails when the file and this module differ), so the documentation cannot drift from the
//! files.

use super::What;

/// How a column is stored. CSV holds text of course; the kind says how it reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Parquet: Datetime(ms, UTC). CSV: ISO 8601 text, `2025-03-01T06:00:00.000Z`.
    Timestamp,
    Float,
    Int,
    Bool,
    Text,
    /// Structured data that has no flat form (yet), as compact JSON text.
    Json,
}

impl Kind {
    fn doc(self) -> &'static str {
        match self {
            Kind::Timestamp => "timestamp (UTC)",
            Kind::Float => "float",
            Kind::Int => "integer",
            Kind::Bool => "bool",
            Kind::Text => "text",
            Kind::Json => "JSON text",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// Unit of the values; also the name's suffix where there is one. Empty: no unit.
    pub unit: &'static str,
    pub description: &'static str,
}

pub struct Table {
    pub what: What,
    /// What one row is, and how the time range selects rows.
    pub rows: &'static str,
    pub columns: &'static [Column],
}

const fn c(
    name: &'static str,
    kind: Kind,
    unit: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        unit,
        description,
    }
}

use Kind::{Bool, Float, Int, Json, Text, Timestamp};

pub const SIGNALS: Table = Table {
    what: What::Signals,
    rows: "one row per stored sample with `from` ≤ time < `to`, in time order. The store keeps \
           changes (beyond the tag's deadband) and a heartbeat, not every poll: a value holds \
           until the next row of the same signal. Long format: the unit is per row.",
    columns: &[
        c("ts_utc", Timestamp, "", "when the value was read (stored sample time)"),
        c("machine_id", Text, "", "`[agent] machine_id` of the agent that stored it"),
        c("device", Text, "", "configured device the signal is read from"),
        c("signal", Text, "", "canonical signal name, e.g. `spindle.load`"),
        c("unit", Text, "", "unit of `value`, e.g. `%`, `rpm`, `ml/h`"),
        c("value", Float, "(unit)", "the number; bools as 0/1; empty for text signals and while unavailable"),
        c("text", Text, "", "the value of a text signal (program, tool id, labelled codes)"),
        c("available", Bool, "", "false: the signal became unavailable at this time (device down or the tag failed); value and text are empty"),
    ],
};

pub const OPERATIONS: Table = Table {
    what: What::Operations,
    rows: "one row per finished operation (a continuous cut with one program, operation name \
           and tool) that ended with `from` ≤ end < `to`, in order of its end.",
    columns: &[
        c("operation_id", Int, "", "row id in the agent's store"),
        c("machine_id", Text, "", "`[agent] machine_id`"),
        c("start_utc", Timestamp, "", "cutting started (after the start delay)"),
        c("end_utc", Timestamp, "", "cutting ended"),
        c("start_local", Text, "", "start_utc in the plant's local time (`[shifts] utc_offset`), RFC 3339 with its offset"),
        c("end_local", Text, "", "end_utc in the plant's local time"),
        c("duration_s", Float, "s", "end − start"),
        c("program", Text, "", "CNC program"),
        c("operation", Text, "", "operation name from the CNC"),
        c("tool_id", Text, "", "tool in the spindle"),
        c("tool_material", Text, "", "tool material (e.g. carbide)"),
        c("tool_coating", Text, "", "tool coating"),
        c("tool_diameter_mm", Float, "mm", "tool diameter"),
        c("tool_edges", Float, "", "number of cutting edges"),
        c("workpiece_material", Text, "", "workpiece material"),
        c("workpiece_group", Text, "", "ISO 513 material group (P, M, K, N, S, H)"),
        c("workpiece_hardness_hrc", Float, "HRC", "workpiece hardness"),
        c("cooling_mode", Text, "", "cooling mode while cutting (`mql`, `dry`, `flood` ...)"),
        c("part_no", Float, "", "the CNC's parts counter during the cut"),
        c("cutting_s", Float, "s", "seconds of cutting"),
        c("judged_s", Float, "s", "seconds of cutting a green-cutting profile judged (cooling mode known, a profile for it, every monitored rule with data); the rest was not judged and never counts as a pass"),
        c("compliant_s", Float, "s", "judged seconds with every applicable green-cutting rule held"),
        c("compliant_share", Float, "1", "compliant_s / judged_s (0..1); empty when nothing was judged"),
        c("speed_mean_rpm", Float, "rpm", "mean spindle speed while cutting"),
        c("feed_mean_mm_min", Float, "mm/min", "mean feed rate while cutting"),
        c("vc_mean_m_min", Float, "m/min", "mean cutting speed π·D·n/1000"),
        c("fz_mean_mm", Float, "mm", "mean feed per tooth vf/(n·z)"),
        c("spindle_load_mean_pct", Float, "%", "mean spindle load"),
        c("spindle_load_max_pct", Float, "%", "highest spindle load"),
        c("spindle_power_mean_kw", Float, "kW", "mean spindle power"),
        c("spindle_power_max_kw", Float, "kW", "highest spindle power"),
        c("energy_kwh", Float, "kWh", "spindle energy (∫ power dt)"),
        c("oil_ml", Float, "ml", "MQL oil used"),
        c("oil_ml_per_h", Float, "ml/h", "oil_ml per hour of cutting"),
        c("co2e_kg", Float, "kg", "energy_kwh × the grid emission factor + oil_ml × the lubricant's factor (`[carbon]`, at the factors in force when the operation was recorded; the default grid factor is China's 2022 national average, CO₂ only); empty for operations recorded before carbon figures"),
        c("oil_saved_ml", Float, "ml", "oil a flood-coolant process would have used in cutting_s (`[carbon] flood_oil_ml_per_h`) less oil_ml; empty without a baseline"),
        c("verdict", Text, "", "`violation` when a rule was violated during the cut; `compliant` only when all of it was judged and every rule held; else `no_data` (cooling mode unknown, or a monitored rule without data) or `not_applicable` (no profile for the cooling mode)"),
        c("violations", Int, "", "violation episodes (warning or critical) that overlapped the cut"),
        c("violated_rules", Text, "", "their rule ids, `; `-separated, in order of start"),
        c("violations_json", Json, "", "the episodes: rule_id, severity, start_ms, end_ms, worst_value, limit, unit, standard, source, verified, message, message_zh"),
    ],
};

pub const RESIDUAL_LIFE: Table = Table {
    what: What::ResidualLife,
    rows: "one row per component (as assessed at the export) and per tool life: every tool \
           life that ended by a tool change with `from` ≤ change < `to`, and every tool in \
           use whose life began before `to` (assessed at the export). Component service totals \
           from the store (cuts, parts, cutting hours) count up to `to`.",
    columns: &[
        // Identity
        c("machine_id", Text, "", "`[agent] machine_id`: the machine the item is on"),
        c("item_kind", Text, "", "`component` or `tool`"),
        c("item_id", Text, "", "component name (`spindle-bearing`, `mql-pump`, ...) or tool id"),
        c("component_type", Text, "", "what it is: rolling bearing, MQL pump, cutting tool ..."),
        c("position", Text, "", "where it sits: `spindle`, `MQL unit`; a tool: `spindle` if it is in the spindle, else `magazine`, empty for ended lives"),
        c("asset_id", Text, "", "serial or asset number where configured"),
        c("material", Text, "", "material where known (a tool: material and coating from its operations)"),
        c("life_record", Text, "", "`in_service` (still in use at the export) or `ended` (a tool change ended it)"),
        c("life_start_utc", Timestamp, "", "when this life began to be counted (a tool: first cut after its last change)"),
        c("life_end_utc", Timestamp, "", "the tool change that ended it; empty in service"),
        c("life_end_local", Text, "", "life_end_utc in the plant's local time (`[shifts] utc_offset`), RFC 3339 with its offset"),
        c("assessed_utc", Timestamp, "", "when the assessment was made: the export for components, the last prediction for tools"),
        c("assessed_local", Text, "", "assessed_utc in the plant's local time"),
        // Service history
        c("operating_h", Float, "h", "running hours (the spindle bearing: hours of spindle rotation)"),
        c("cutting_h", Float, "h", "hours of cutting (components: all operations in the store; tools: its own)"),
        c("revolutions", Float, "rev", "revolutions, where the service history records them"),
        c("cycles", Float, "", "load cycles (the MQL pump: strokes)"),
        c("parts", Int, "", "parts made (a tool: parts it cut in; components: parts recorded in the store)"),
        c("cuts", Int, "", "operations (a tool: its own; components: all in the store)"),
        c("cutting_min", Float, "min", "minutes of cutting of the tool"),
        c("cutting_distance_mm", Float, "mm", "tool path while cutting (∫ feed rate dt)"),
        c("speed_mean_rpm", Float, "rpm", "cutting conditions of the tool life: spindle speed, mean over its operations weighted by cutting time"),
        c("feed_mean_mm_min", Float, "mm/min", "the same for the feed rate"),
        c("vc_mean_m_min", Float, "m/min", "the same for the cutting speed"),
        c("fz_mean_mm", Float, "mm", "the same for the feed per tooth"),
        c("spindle_load_mean_pct", Float, "%", "the same for the spindle load"),
        c("workpiece_materials", Text, "", "workpiece materials (ISO 513 group) it cut, `; `-separated"),
        c("cooling_modes", Text, "", "cooling modes it cut with, `; `-separated"),
        c("measured_vb_mm", Float, "mm", "flank wear measured at the tool change"),
        c("wear_measurements", Int, "", "flank wear measurements taken during the tool's life, the tool staying in (POST /api/tools/{id}/wear)"),
        c("wear_measurements_json", Json, "", "those measurements: ts_ms, cutting_min, measured_vb_mm, by, and the wear model's check of each (band scored against, inside, predicted before and after)"),
        c("service_json", Json, "", "the component's service history as the agent keeps it (load spectrum: histograms of spindle speed and load, axis loads and travel, temperatures), where it has one"),
        // Assessment
        c("method", Text, "", "how remaining life was assessed: rated life, wear-limit model, health-indicator trend, with its assumptions"),
        c("model_file", Text, "", "model file of a wear-model prediction"),
        c("model_format_version", Int, "", "format version of that model file"),
        c("model_params_json", Json, "", "the model's parameters as used: data set, target and unit, wear limit, inputs, tool class"),
        c("life_unit", Text, "", "unit of `life_used`, `life_rated` and `remaining_p*`: `h`, `strokes`, `min` (cutting minutes)"),
        c("life_used", Float, "(life_unit)", "life used so far"),
        c("life_rated", Float, "(life_unit)", "rated life (a rated-life method only)"),
        c("life_used_fraction", Float, "1", "share of the life used, 0..1 (a tool: used / (used + remaining P50))"),
        c("remaining_p10", Float, "(life_unit)", "remaining life, 10 % quantile (pessimistic)"),
        c("remaining_p50", Float, "(life_unit)", "remaining life, median"),
        c("remaining_p90", Float, "(life_unit)", "remaining life, 90 % quantile"),
        c("remaining_p10_h", Float, "h", "remaining life in hours, P10 (a tool: hours of cutting); empty where life is not counted in time"),
        c("remaining_p50_h", Float, "h", "the same, P50"),
        c("remaining_p90_h", Float, "h", "the same, P90"),
        c("remaining_p10_min", Float, "min", "a tool: remaining minutes of cutting to the wear limit, P10"),
        c("remaining_p50_min", Float, "min", "the same, P50"),
        c("remaining_p90_min", Float, "min", "the same, P90"),
        c("remaining_cuts_p10", Float, "cuts", "a tool: remaining cuts at its mean minutes per cut, P10"),
        c("remaining_cuts_p50", Float, "cuts", "the same, P50"),
        c("remaining_cuts_p90", Float, "cuts", "the same, P90"),
        c("vb_p10_mm", Float, "mm", "a tool: predicted flank wear VB at the last prediction, P10"),
        c("vb_p50_mm", Float, "mm", "the same, P50"),
        c("vb_p90_mm", Float, "mm", "the same, P90"),
        c("vb_limit_mm", Float, "mm", "the wear limit remaining life counts to"),
        c("censored", Bool, "", "true: the end of this life was not observed (a preventive tool change, or still in service at the export); false: it ended worn out or broken"),
        c("change_reason", Text, "", "`worn_out`, `broken` or `preventive` (ended tool lives)"),
        c("changed_by", Text, "", "who reported the tool change"),
        c("note", Text, "", "why a figure is missing, or what it rests on"),
        // Evidence
        c("evidence_json", Json, "", "what the assessment rests on: a tool's last prediction; the bearing's health-indicator series (spindle running hours, smoothed vibration RMS) with baseline and onset"),
        c("extra_json", Json, "", "further fields of the agent's component view that have no column yet"),
    ],
};

pub const TABLES: &[&Table] = &[&RESIDUAL_LIFE, &OPERATIONS, &SIGNALS];

pub fn table(what: What) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.what == what)
        .expect("every export has a table")
}

impl Table {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

const MAPPING_NOTE: &str = "\
## Mapping notes

These say which column carries what another model asks for; they are notes, not a certified
conformance.

**Catena-X CX-0057 (remaining useful life)**: `remainingOperatingHours` ← `remaining_p50_h`
(the median; the P10/P90 band has no place there and stays in the export). For a tool the hours
are hours of cutting, for the spindle bearing hours of spindle rotation; a component whose life is
counted in other units (the MQL pump in strokes) has no hours and is left out of such a mapping.
The item is identified by `machine_id` with `item_id` (and `asset_id` where configured).

**OPC UA DI `LifetimeVariableType`** (OPC 10000-100, lifetime model): one variable per row and
`life_unit`:

| LifetimeVariableType | export |
|---|---|
| Value | `life_used` (counting up) or `remaining_p50` (counting down) |
| EngineeringUnits | `life_unit` (`h`, `strokes`, `min`) |
| StartValue | 0 when counting up; `life_used + remaining_p50` when counting down |
| LimitValue | `life_rated` where there is one (rated life); counting down: 0 |
| WarningValues | not exported: the alarm levels are in the agent's configuration |
| Indication | `TimeIndicationType` for `h` and `min`; a subtype of `BaseLifetimeIndicationType` for strokes |
";

/// The dictionary as Markdown (`agent/EXPORT.md`).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Export data dictionary\n\n\
         <!-- Generated from agent/src/export/dictionary.rs: edit that file, then run\n     \
         UPDATE_EXPORT_DOC=1 cargo test -p agent export::dictionary -->\n\n\
         `agent export --config FILE --what residual-life|operations|signals --from T --to T \
         --format csv|parquet --out FILE` (`--out -`: standard output), or \
         `GET /api/export?what=&from=&to=&format=` with the agent's token. `from` and `to` are \
         RFC 3339 (`2025-03-01T06:00:00+08:00`) or a date (`2025-03-01`, midnight UTC); \
         `from` defaults to the beginning of the store, `to` to now; the range is `from` ≤ t < `to`.\n\n\
         **CSV**: UTF-8 with a byte order mark (so Excel reads it as UTF-8; pandas and polars \
         skip it), one header row, `,` separated, units in the column names, timestamps as ISO \
         8601 text in UTC, empty cells for missing values, `true`/`false`; a text cell that \
         begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so that a \
         spreadsheet shows it as text and never runs it as a formula. \
         **Parquet**: typed columns (float64, int64, bool, string), timestamps as \
         Datetime(ms, UTC), snappy compression, one row group per chunk of rows.\n\n\
         Exports read the store file read-only while the agent keeps writing, in chunks: memory \
         does not grow with the length of the history.\n",
    );
    for t in TABLES {
        s += &format!(
            "\n## `{}`\n\nOne row per {}\n\n",
            t.what.name(),
            t.rows.trim_start_matches("one row per ")
        );
        s += "| column | type | unit | meaning |\n|---|---|---|---|\n";
        for col in t.columns {
            s += &format!(
                "| `{}` | {} | {} | {} |\n",
                col.name,
                col.kind.doc(),
                col.unit,
                col.description.replace('|', "\\|")
            );
        }
    }
    s += "\n";
    s += MAPPING_NOTE;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_snake_case_and_carry_their_unit() {
        for t in TABLES {
            let mut seen = std::collections::BTreeSet::new();
            for col in t.columns {
                assert!(
                    seen.insert(col.name),
                    "{} twice in {}",
                    col.name,
                    t.what.name()
                );
                assert!(
                    col.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                    "{}",
                    col.name
                );
                // A fixed unit is in the name (`_h`, `_mm`, `_pct`, ...), so CSV readers see it.
                let suffix = match col.unit {
                    "h" => Some("_h"),
                    "s" => Some("_s"),
                    "min" => Some("_min"),
                    "mm" => Some("_mm"),
                    "%" => Some("_pct"),
                    "kW" => Some("_kw"),
                    "kWh" => Some("_kwh"),
                    "rpm" => Some("_rpm"),
                    "ml" => Some("_ml"),
                    "ml/h" => Some("_ml_per_h"),
                    "mm/min" => Some("_mm_min"),
                    "m/min" => Some("_m_min"),
                    "HRC" => Some("_hrc"),
                    _ => None,
                };
                if let Some(sfx) = suffix {
                    assert!(col.name.ends_with(sfx), "{} in {}", col.name, col.unit);
                }
            }
        }
    }

    /// `agent/EXPORT.md` is this module rendered; `UPDATE_EXPORT_DOC=1` rewrites it.
    #[test]
    fn export_md_is_the_rendered_dictionary() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("EXPORT.md");
        let want = markdown();
        if std::env::var_os("UPDATE_EXPORT_DOC").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "agent/EXPORT.md differs from agent/src/export/dictionary.rs; regenerate it with\n  \
             UPDATE_EXPORT_DOC=1 cargo test -p agent export::dictionary"
        );
    }
}
