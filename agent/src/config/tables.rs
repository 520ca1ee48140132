//! The tool table and the program table: what a real controller does not publish about the
//! tool in the spindle and the part being cut, kept by the shop in two small TOML files the
//! agent reads at start, reloads when they change, and writes when the machinist edits them
//! from the page. Checked like the configuration: every problem with its file and line.
//!
//! ```toml
//! # tools.toml
//! [[tool]]
//! id = "T1"                 # as the CNC reports tool.id
//! material = "carbide"      # tool.material
//! coating = "TiAlN"         # tool.coating
//! diameter_mm = 63.0        # tool.diameter
//! edges = 5                 # tool.edges
//! class = "face mill 63"    # tool.class: tools of one class wear out alike (tool life)
//!
//! # programs.toml
//! [[program]]
//! name = "O1001"            # as the CNC reports channel.program
//! workpiece_material = "C45"
//! material_group = "P"      # ISO 513: P, M, K, N, S or H
//! hardness_hrc = 18.0
//! cooling_mode = "mql"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::diagnostic::{read, toml, Diagnostics};
use super::ConfigError;
use crate::value::Value;

/// What the tool table knows of one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolEntry {
    pub id: String,
    pub material: Option<String>,
    pub coating: Option<String>,
    pub diameter_mm: Option<f64>,
    pub edges: Option<f64>,
    pub class: Option<String>,
}

/// What the program table knows of one program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    pub name: String,
    pub workpiece_material: Option<String>,
    pub material_group: Option<String>,
    pub hardness_hrc: Option<f64>,
    pub cooling_mode: Option<String>,
}

/// The signals a tool table entry feeds, with their values.
pub const TOOL_SIGNALS: &[&str] = &[
    "tool.material",
    "tool.coating",
    "tool.diameter",
    "tool.edges",
    "tool.class",
];

/// The signals a program table entry feeds.
pub const PROGRAM_SIGNALS: &[&str] = &[
    "workpiece.material",
    "workpiece.material_group",
    "workpiece.hardness",
    "cooling.mode",
];

impl ToolEntry {
    /// The entry's value for one of [`TOOL_SIGNALS`] (`None` where the table leaves it empty).
    pub fn value(&self, signal: &str) -> Option<Value> {
        match signal {
            "tool.material" => self.material.clone().map(Value::Text),
            "tool.coating" => self.coating.clone().map(Value::Text),
            "tool.diameter" => self.diameter_mm.map(Value::Number),
            "tool.edges" => self.edges.map(Value::Number),
            "tool.class" => self.class.clone().map(Value::Text),
            _ => None,
        }
    }
}

impl ProgramEntry {
    /// The entry's value for one of [`PROGRAM_SIGNALS`].
    pub fn value(&self, signal: &str) -> Option<Value> {
        match signal {
            "workpiece.material" => self.workpiece_material.clone().map(Value::Text),
            "workpiece.material_group" => self.material_group.clone().map(Value::Text),
            "workpiece.hardness" => self.hardness_hrc.map(Value::Number),
            "cooling.mode" => self.cooling_mode.clone().map(Value::Text),
            _ => None,
        }
    }
}

/// A table as read: entries by their key (tool id, program name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table<E> {
    pub entries: BTreeMap<String, E>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTools {
    #[serde(default)]
    tool: Vec<Spanned<ToolEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrograms {
    #[serde(default)]
    program: Vec<Spanned<ProgramEntry>>,
}

const GROUPS: &[&str] = &["P", "M", "K", "N", "S", "H"];

pub fn load_tools(file: &Path) -> Result<Table<ToolEntry>, ConfigError> {
    parse_tools(file, &read(file)?)
}

pub fn load_programs(file: &Path) -> Result<Table<ProgramEntry>, ConfigError> {
    parse_programs(file, &read(file)?)
}

pub fn parse_tools(file: &Path, text: &str) -> Result<Table<ToolEntry>, ConfigError> {
    let raw: RawTools = toml(file, text)?;
    let mut d = Diagnostics::new(file, text);
    let mut entries = BTreeMap::new();
    for t in raw.tool {
        let span = t.span();
        let e = t.into_inner();
        if e.id.trim().is_empty() {
            d.at(
                span.clone(),
                "a tool needs an `id`, as the CNC reports tool.id",
            );
        }
        for (what, v) in [("diameter_mm", e.diameter_mm), ("edges", e.edges)] {
            if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                d.at(
                    span.clone(),
                    format!("tool `{}`: {what} must be greater than 0", e.id),
                );
            }
        }
        if entries.contains_key(&e.id) {
            d.at(span.clone(), format!("tool `{}` is listed twice", e.id));
        }
        entries.insert(e.id.clone(), e);
    }
    d.into_result(Table { entries })
}

pub fn parse_programs(file: &Path, text: &str) -> Result<Table<ProgramEntry>, ConfigError> {
    let raw: RawPrograms = toml(file, text)?;
    let mut d = Diagnostics::new(file, text);
    let mut entries = BTreeMap::new();
    for p in raw.program {
        let span = p.span();
        let e = p.into_inner();
        if e.name.trim().is_empty() {
            d.at(
                span.clone(),
                "a program needs a `name`, as the CNC reports channel.program",
            );
        }
        if let Some(g) = &e.material_group {
            if !GROUPS.contains(&g.as_str()) {
                d.at(
                    span.clone(),
                    format!(
                        "program `{}`: material_group `{g}` is not an ISO 513 group (P, M, K, N, S, H)",
                        e.name
                    ),
                );
            }
        }
        if e.hardness_hrc.is_some_and(|h| !(h.is_finite() && h >= 0.0)) {
            d.at(
                span.clone(),
                format!("program `{}`: hardness_hrc must be ≥ 0", e.name),
            );
        }
        if e.cooling_mode.as_deref().is_some_and(str::is_empty) {
            d.at(
                span.clone(),
                format!("program `{}`: empty cooling_mode", e.name),
            );
        }
        if entries.contains_key(&e.name) {
            d.at(
                span.clone(),
                format!("program `{}` is listed twice", e.name),
            );
        }
        entries.insert(e.name.clone(), e);
    }
    d.into_result(Table { entries })
}

/// The tool table as TOML, for writing it back after an edit from the page.
pub fn tools_to_toml(t: &Table<ToolEntry>) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        tool: Vec<&'a ToolEntry>,
    }
    let body = toml::to_string(&Out {
        tool: t.entries.values().collect(),
    })
    .unwrap_or_default();
    format!("# Tool table of the green-machining agent (tool.id → what the CNC does not publish).\n\n{body}")
}

/// The program table as TOML.
pub fn programs_to_toml(t: &Table<ProgramEntry>) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        program: Vec<&'a ProgramEntry>,
    }
    let body = toml::to_string(&Out {
        program: t.entries.values().collect(),
    })
    .unwrap_or_default();
    format!("# Program table of the green-machining agent (channel.program → workpiece, cooling).\n\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_read_check_and_write_back() {
        let t = parse_tools(
            Path::new("tools.toml"),
            "[[tool]]\nid = \"T1\"\nmaterial = \"carbide\"\ndiameter_mm = 63\nedges = 5\n",
        )
        .unwrap();
        let e = &t.entries["T1"];
        assert_eq!(
            e.value("tool.material"),
            Some(Value::Text("carbide".into()))
        );
        assert_eq!(e.value("tool.diameter"), Some(Value::Number(63.0)));
        assert_eq!(e.value("tool.coating"), None);
        let again = parse_tools(Path::new("t"), &tools_to_toml(&t)).unwrap();
        assert_eq!(again, t);

        let err = parse_programs(
            Path::new("programs.toml"),
            "[[program]]\nname = \"O1\"\nmaterial_group = \"X\"\n\n[[program]]\nname = \"O1\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("programs.toml:1:") && err.contains("ISO 513"),
            "{err}"
        );
        assert!(err.contains("listed twice"), "{err}");
        let err = parse_tools(
            Path::new("tools.toml"),
            "[[tool]]\nid = \"T1\"\ncolour = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tools.toml:3:") && err.contains("colour"),
            "{err}"
        );
    }
}
