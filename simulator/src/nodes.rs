//! The CNC's OPC UA variables of the README: node ids, types, units, and where each value
//! comes from in the snapshot. The OPC UA server and `Snapshot::opcua_values` both use this
//! table, so the two cannot drift apart.

use crate::snapshot::CncValues;

/// Namespace URI of the CNC's nodes (the agent resolves the index from it).
pub const NAMESPACE_URI: &str = "urn:green-machining:simulator:cnc";

/// A served value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Double(f64),
    Boolean(bool),
    String(String),
    Int32(i32),
    UInt32(u32),
}

impl Value {
    /// Numeric value (booleans as 0/1); None for strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(v) => Some(*v),
            Value::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int32(v) => Some(*v as f64),
            Value::UInt32(v) => Some(*v as f64),
            Value::String(_) => None,
        }
    }
}

/// OPC UA built-in type of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Double,
    Boolean,
    String,
    Int32,
    UInt32,
}

/// One row of the README's OPC UA table.
#[derive(Clone, Copy)]
pub struct NodeDef {
    /// String node id (`s=`), also the dotted path of objects: `Spindle.ActSpeed` is the
    /// variable `ActSpeed` of the object `Spindle` under `Machine`.
    pub id: &'static str,
    pub node_type: NodeType,
    pub unit: &'static str,
    pub get: fn(&CncValues) -> Value,
}

impl std::fmt::Debug for NodeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDef")
            .field("id", &self.id)
            .field("node_type", &self.node_type)
            .field("unit", &self.unit)
            .finish()
    }
}

const fn n(
    id: &'static str,
    node_type: NodeType,
    unit: &'static str,
    get: fn(&CncValues) -> Value,
) -> NodeDef {
    NodeDef {
        id,
        node_type,
        unit,
        get,
    }
}

use NodeType as T;
use Value as V;

/// Every variable node of the README, in README order.
pub const NODES: &[NodeDef] = &[
    n("Spindle.ActSpeed", T::Double, "rpm", |c| {
        V::Double(c.spindle_act_speed_rpm)
    }),
    n("Spindle.CmdSpeed", T::Double, "rpm", |c| {
        V::Double(c.spindle_cmd_speed_rpm)
    }),
    n("Spindle.ActLoad", T::Double, "%", |c| {
        V::Double(c.spindle_load_pct)
    }),
    n("Spindle.ActPower", T::Double, "kW", |c| {
        V::Double(c.spindle_power_kw)
    }),
    n("Spindle.ActTorque", T::Double, "N·m", |c| {
        V::Double(c.spindle_torque_nm)
    }),
    n("Spindle.IsRotating", T::Boolean, "", |c| {
        V::Boolean(c.spindle_is_rotating)
    }),
    n("Spindle.ActOverride", T::Double, "%", |c| {
        V::Double(c.spindle_override_pct)
    }),
    n("Channel1.ActFeedrate", T::Double, "mm/min", |c| {
        V::Double(c.feedrate_mm_min)
    }),
    n("Channel1.ActMainProgramName", T::String, "", |c| {
        V::String(c.program_name.clone())
    }),
    n("Channel1.ChannelState", T::Int32, "", |c| {
        V::Int32(c.channel_state)
    }),
    n("Channel1.ActOperation", T::String, "", |c| {
        V::String(c.operation.clone())
    }),
    n("Tool.Identifier", T::String, "", |c| {
        V::String(c.tool_identifier.clone())
    }),
    n("Tool.Material", T::String, "", |c| {
        V::String(c.tool_material.clone())
    }),
    n("Tool.Coating", T::String, "", |c| {
        V::String(c.tool_coating.clone())
    }),
    n("Tool.Diameter", T::Double, "mm", |c| {
        V::Double(c.tool_diameter_mm)
    }),
    n("Tool.NumberOfEdges", T::UInt32, "", |c| {
        V::UInt32(c.tool_edges)
    }),
    n("Tool.ToolLife.Value", T::Double, "min", |c| {
        V::Double(c.tool_life_min)
    }),
    n("Tool.ToolLife.WarningValue", T::Double, "min", |c| {
        V::Double(c.tool_life_warning_min)
    }),
    n("Tool.ToolLife.LimitValue", T::Double, "min", |c| {
        V::Double(c.tool_life_limit_min)
    }),
    n("Tool.ToolLife.IsCountingUp", T::Boolean, "", |_| {
        V::Boolean(true)
    }),
    n("Workpiece.Material", T::String, "", |c| {
        V::String(c.workpiece_material.clone())
    }),
    n("Workpiece.MaterialGroup", T::String, "", |c| {
        V::String(c.workpiece_group.clone())
    }),
    n("Workpiece.HardnessHRC", T::Double, "HRC", |c| {
        V::Double(c.workpiece_hardness_hrc)
    }),
    n("Machine.CoolingMode", T::String, "", |c| {
        V::String(c.cooling_mode.clone())
    }),
    n("Machine.PartsCounter", T::UInt32, "", |c| {
        V::UInt32(c.parts_counter)
    }),
    n("Machine.OperationMode", T::String, "", |c| {
        V::String(c.operation_mode.clone())
    }),
    n("Machine.DoorOpen", T::Boolean, "", |c| {
        V::Boolean(c.door_open)
    }),
    n("Machine.PowerOnTime", T::Double, "s", |c| {
        V::Double(c.power_on_time_s)
    }),
    n("Axes.X.ActLoad", T::Double, "%", |c| {
        V::Double(c.axis_load_pct[0])
    }),
    n("Axes.Y.ActLoad", T::Double, "%", |c| {
        V::Double(c.axis_load_pct[1])
    }),
    n("Axes.Z.ActLoad", T::Double, "%", |c| {
        V::Double(c.axis_load_pct[2])
    }),
    n("Axes.X.ActPosition", T::Double, "mm", |c| {
        V::Double(c.axis_position_mm[0])
    }),
    n("Axes.Y.ActPosition", T::Double, "mm", |c| {
        V::Double(c.axis_position_mm[1])
    }),
    n("Axes.Z.ActPosition", T::Double, "mm", |c| {
        V::Double(c.axis_position_mm[2])
    }),
];

/// Objects that hold the variables: (node id, browse name, parent node id or None for the
/// `Machine` object under `Objects`). Derived from the README's dotted node ids.
pub const OBJECTS: &[(&str, &str, Option<&str>)] = &[
    ("Machine", "Machine", None),
    ("Spindle", "Spindle", Some("Machine")),
    ("Channel1", "Channel1", Some("Machine")),
    ("Tool", "Tool", Some("Machine")),
    ("Tool.ToolLife", "ToolLife", Some("Tool")),
    ("Workpiece", "Workpiece", Some("Machine")),
    ("Axes", "Axes", Some("Machine")),
    ("Axes.X", "X", Some("Axes")),
    ("Axes.Y", "Y", Some("Axes")),
    ("Axes.Z", "Z", Some("Axes")),
];

/// The object a variable belongs to and its browse name: `Tool.ToolLife.Value` →
/// (`Tool.ToolLife`, `Value`).
pub fn split_node_id(id: &str) -> (&str, &str) {
    id.rsplit_once('.').unwrap_or(("Machine", id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_has_a_parent_object() {
        for node in NODES {
            let (parent, name) = split_node_id(node.id);
            assert!(!name.is_empty());
            assert!(
                OBJECTS.iter().any(|(id, _, _)| *id == parent),
                "{} has no parent object {parent}",
                node.id
            );
        }
        let mut ids: Vec<_> = NODES.iter().map(|n| n.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), NODES.len());
        assert_eq!(NODES.len(), 34);
    }
}
