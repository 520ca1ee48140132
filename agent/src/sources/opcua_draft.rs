//! A draft configuration from a browsed address space: the variables of a server that
//! implements OPC 40502 (CNC Systems) or OPC 40501-1 (Machine Tools) mapped onto the
//! vocabulary by their browse names, which those companion specifications fix, each tag with a
//! comment saying which clause its mapping comes from and whether the object's type definition
//! confirmed it. Every tag is `verified = false`: a draft is a starting point, not a fact.
//!
//! The browse names and enumeration codes below are the specifications' own; the clause is
//! cited on each rule. Nothing here is guessed: a quantity the specifications do not name
//! (a cooling mode, the tool's material) is left to the `[machine]` context, and the draft
//! says so.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use opcua::types::{NodeClass, Variant};

use super::opcua_browse::{AddressSpace, Node};
use crate::vocabulary::{self, Kind};

/// OPC 40502 (CNC Systems 1.0, 2017), its namespace as the NodeSet declares it
/// (Opc.Ua.CNC.NodeSet.xml; the specification's Annex writes it with a trailing slash).
const CNC: &str = "http://opcfoundation.org/UA/CNC";
/// OPC 40501-1 (Machine Tools 1.02), NodeSet Opc.Ua.MachineTool.NodeSet2.xml.
const MACHINE_TOOL: &str = "http://opcfoundation.org/UA/MachineTool/";

/// One mapping: a browse path suffix onto a signal.
struct Rule {
    /// Browse names down to the variable; `*` stands for any one name (an instance the server
    /// names, such as a spindle `S1` or a channel `Channel_1`).
    path: &'static [&'static str],
    signal: &'static str,
    /// Enumeration codes and the vocabulary's text for them.
    labels: &'static [(i64, &'static str)],
    /// The object whose type definition confirms the match: its position in `path` and its
    /// type (namespace, numeric id, name), from the NodeSet's NodeIds.csv.
    instance: Option<(usize, &'static str, u32, &'static str)>,
    /// Where the browse names (and codes) come from.
    source: &'static str,
}

const CNC_CHANNEL_STATUS: &[(i64, &str)] = &[(0, "active"), (1, "interrupted"), (2, "reset")];
const CNC_OPERATION_MODE: &[(i64, &str)] = &[(0, "manual"), (1, "mdi"), (2, "automatic")];
const MT_CHANNEL_STATE: &[(i64, &str)] = &[(0, "active"), (1, "interrupted"), (2, "reset")];
const MT_CHANNEL_MODE: &[(i64, &str)] = &[
    (0, "automatic"),
    (1, "mdi"),
    (2, "manual"),
    (3, "manual"),
    (4, "manual"),
    (5, "remote"),
    (6, "reference"),
    (7, "other"),
];

const SPINDLE_40502: Option<(usize, &str, u32, &str)> = Some((1, CNC, 1005, "CncSpindleType"));
const CHANNEL_40502: Option<(usize, &str, u32, &str)> = Some((1, CNC, 1002, "CncChannelType"));
const AXIS_40502: Option<(usize, &str, u32, &str)> = Some((1, CNC, 1004, "CncAxisType"));
const SPINDLE_40501: Option<(usize, &str, u32, &str)> =
    Some((1, MACHINE_TOOL, 22, "SpindleMonitoringType"));
const CHANNEL_40501: Option<(usize, &str, u32, &str)> =
    Some((1, MACHINE_TOOL, 16, "ChannelMonitoringType"));

/// In order of preference: the first rule that maps a signal wins (OPC 40502's drive values
/// before OPC 40501's monitoring summary), later ones are listed as alternatives.
const RULES: &[Rule] = &[
    // OPC 40502 §8.1: the CncInterface object holds CncSpindleList, CncChannelList and
    // CncAxisList (§6.1.2 Table 7). Spindles: CncSpindleType §6.9.2 Table 15, inheriting the
    // drive values of CncDriveType §6.7.2 Table 13.
    Rule {
        path: &["CncSpindleList", "*", "ActSpeed"],
        signal: "spindle.speed",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.9.2 Table 15, CncSpindleType ActSpeed",
    },
    Rule {
        path: &["CncSpindleList", "*", "CmdSpeed"],
        signal: "spindle.speed_cmd",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.9.2 Table 15, CncSpindleType CmdSpeed",
    },
    Rule {
        path: &["CncSpindleList", "*", "ActLoad"],
        signal: "spindle.load",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActLoad",
    },
    Rule {
        path: &["CncSpindleList", "*", "ActPower"],
        signal: "spindle.power",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActPower",
    },
    Rule {
        path: &["CncSpindleList", "*", "ActTorque"],
        signal: "spindle.torque",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActTorque",
    },
    Rule {
        path: &["CncSpindleList", "*", "ActOverride"],
        signal: "spindle.override",
        labels: &[],
        instance: SPINDLE_40502,
        source: "OPC 40502 §6.9.2 Table 15, CncSpindleType ActOverride",
    },
    // Channels: CncChannelType §6.6.2 Table 12; enumerations §7.2.4 (CncChannelStatus) and
    // §7.2.6 (CncOperationMode).
    Rule {
        path: &["CncChannelList", "*", "ActMainProgramName"],
        signal: "channel.program",
        labels: &[],
        instance: CHANNEL_40502,
        source: "OPC 40502 §6.6.2 Table 12, CncChannelType ActMainProgramName",
    },
    Rule {
        path: &["CncChannelList", "*", "ActFeedrate"],
        signal: "channel.feedrate",
        labels: &[],
        instance: CHANNEL_40502,
        source: "OPC 40502 §6.6.2 Table 12, CncChannelType ActFeedrate",
    },
    Rule {
        path: &["CncChannelList", "*", "ActStatus"],
        signal: "channel.state",
        labels: CNC_CHANNEL_STATUS,
        instance: CHANNEL_40502,
        source: "OPC 40502 §6.6.2 Table 12, CncChannelType ActStatus; codes §7.2.4 Table 24 \
                 (Active_0, Interrupted_1, Reset_2)",
    },
    Rule {
        path: &["CncChannelList", "*", "ActOperationMode"],
        signal: "machine.operation_mode",
        labels: CNC_OPERATION_MODE,
        instance: CHANNEL_40502,
        source: "OPC 40502 §6.6.2 Table 12, CncChannelType ActOperationMode; codes §7.2.6 \
                 Table 28 (Manual_0, MDA_1, Automatic_2)",
    },
    // Axes: CncAxisType §6.8.2 Table 14; PosIndirect is a CncPositionVariableType whose ActPos
    // is the current position (§7.3.2 Table 32). The axes are named by the server; X, Y and Z
    // are the names of the specification's example (NodeSet instance `X`, ns=1;i=5011).
    Rule {
        path: &["CncAxisList", "X", "PosIndirect", "ActPos"],
        signal: "axis.x.position",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.8.2 Table 14 PosIndirect, §7.3.2 Table 32 ActPos",
    },
    Rule {
        path: &["CncAxisList", "Y", "PosIndirect", "ActPos"],
        signal: "axis.y.position",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.8.2 Table 14 PosIndirect, §7.3.2 Table 32 ActPos",
    },
    Rule {
        path: &["CncAxisList", "Z", "PosIndirect", "ActPos"],
        signal: "axis.z.position",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.8.2 Table 14 PosIndirect, §7.3.2 Table 32 ActPos",
    },
    Rule {
        path: &["CncAxisList", "X", "ActLoad"],
        signal: "axis.x.load",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActLoad",
    },
    Rule {
        path: &["CncAxisList", "Y", "ActLoad"],
        signal: "axis.y.load",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActLoad",
    },
    Rule {
        path: &["CncAxisList", "Z", "ActLoad"],
        signal: "axis.z.load",
        labels: &[],
        instance: AXIS_40502,
        source: "OPC 40502 §6.7.2 Table 13, CncDriveType ActLoad",
    },
    // OPC 40501-1: MachineToolType (§8.1) has Monitoring (MonitoringType §8.3.1, whose
    // <MonitoredElement>s are spindles, channels, ...) and Production (ProductionType §8.4.1).
    // SpindleMonitoringType §8.3.6 has IsRotating and Override; it publishes no speed.
    Rule {
        path: &["Monitoring", "*", "IsRotating"],
        signal: "spindle.rotating",
        labels: &[],
        instance: SPINDLE_40501,
        source: "OPC 40501-1 §8.3.6, SpindleMonitoringType IsRotating",
    },
    Rule {
        path: &["Monitoring", "*", "Override"],
        signal: "spindle.override",
        labels: &[],
        instance: SPINDLE_40501,
        source: "OPC 40501-1 §8.3.6, SpindleMonitoringType Override",
    },
    // ChannelMonitoringType §8.3.7; enumerations §12.1 (ChannelState) and §12.2 (ChannelMode).
    Rule {
        path: &["Monitoring", "*", "ChannelState"],
        signal: "channel.state",
        labels: MT_CHANNEL_STATE,
        instance: CHANNEL_40501,
        source: "OPC 40501-1 §8.3.7, ChannelMonitoringType ChannelState; codes §12.1 \
                 (Active 0, Interrupted 1, Reset 2)",
    },
    Rule {
        path: &["Monitoring", "*", "ChannelMode"],
        signal: "machine.operation_mode",
        labels: MT_CHANNEL_MODE,
        instance: CHANNEL_40501,
        source: "OPC 40501-1 §8.3.7, ChannelMonitoringType ChannelMode; codes §12.2 \
                 (Automatic 0, MdaMdi 1, JogManual 2, JogIncrement 3, TeachingHandle 4, Remote 5, \
                 Reference 6, Other 7)",
    },
    // ProductionType §8.4.1 ActiveProgram (ProductionActiveProgramType §8.4.5, its Name from
    // ProductionProgramType §8.4.4); NodeIds.csv: MachineToolType_Production_ActiveProgram_Name.
    Rule {
        path: &["Production", "ActiveProgram", "Name"],
        signal: "channel.program",
        labels: &[],
        instance: Some((1, MACHINE_TOOL, 32, "ProductionActiveProgramType")),
        source: "OPC 40501-1 §8.4.5, ProductionActiveProgramType Name",
    },
    // ProductionStatisticsType §8.4.12; NodeIds.csv: ProductionType_Statistics_PartsProducedInLifetime.
    Rule {
        path: &["Production", "Statistics", "PartsProducedInLifetime"],
        signal: "machine.parts_count",
        labels: &[],
        instance: Some((1, MACHINE_TOOL, 20, "ProductionStatisticsType")),
        source: "OPC 40501-1 §8.4.12, ProductionStatisticsType PartsProducedInLifetime",
    },
];

/// Engineering units (an AnalogItem's EngineeringUnits DisplayName, UNECE Rec. 20 symbols as
/// OPC 10000-8 recommends) the draft recognises, and the scale into the vocabulary's unit.
const UNITS: &[(&str, &str, f64)] = &[
    ("rpm", "1/min", 1.0),
    ("rpm", "rpm", 1.0),
    ("rpm", "r/min", 1.0),
    ("rpm", "min-1", 1.0),
    ("%", "%", 1.0),
    ("kW", "kW", 1.0),
    ("kW", "W", 0.001),
    ("Nm", "N·m", 1.0),
    ("Nm", "Nm", 1.0),
    ("mm/min", "mm/min", 1.0),
    ("mm/min", "m/min", 1000.0),
    ("mm", "mm", 1.0),
];

/// What the draft needs to know about the connection, to write the device section.
pub struct Connection<'a> {
    pub endpoint: &'a str,
    pub security_policy: &'a str,
    pub security_mode: &'a str,
    pub username: Option<&'a str>,
    pub password_file: Option<&'a str>,
    pub pki_dir: Option<&'a str>,
}

struct Mapped<'a> {
    rule: &'a Rule,
    node: &'a Node,
    confirmed: Option<bool>,
    unit_note: String,
    scale: f64,
}

/// The draft configuration, as TOML with comments.
pub fn draft(space: &AddressSpace, conn: &Connection) -> String {
    let by_path: HashMap<Vec<&str>, &Node> = space
        .nodes
        .iter()
        .map(|n| (n.path.iter().map(String::as_str).collect(), n))
        .collect();
    let mut chosen: Vec<Mapped> = Vec::new();
    let mut alternatives: Vec<(String, &Rule, &Node)> = Vec::new();
    let mut taken: HashSet<&str> = HashSet::new();
    for rule in RULES {
        for node in space
            .nodes
            .iter()
            .filter(|n| n.class == NodeClass::Variable)
        {
            let Some(start) = suffix_match(&node.path, rule.path) else {
                continue;
            };
            if !fits(rule, node) {
                continue;
            }
            if !taken.insert(rule.signal) {
                alternatives.push((rule.signal.to_string(), rule, node));
                continue;
            }
            let confirmed = rule.instance.map(|(at, ns, id, _)| {
                let instance: Vec<&str> = node.path[..=start + at]
                    .iter()
                    .map(String::as_str)
                    .collect();
                by_path.get(&instance).is_some_and(|o| {
                    o.type_definition.0.trim_end_matches('/') == ns.trim_end_matches('/')
                        && o.type_definition.1 == format!("i={id}")
                })
            });
            let (unit_note, scale) = unit(rule.signal, node, &by_path);
            chosen.push(Mapped {
                rule,
                node,
                confirmed,
                unit_note,
                scale,
            });
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Draft configuration written by `agent browse` from {}.\n\
         # Each tag says where its mapping comes from: the companion specification's browse names,\n\
         # and whether the object's type definition confirmed it. Check each one on the machine\n\
         # (the value on the CNC's screen against /api/signals), then set verified = true.\n\
         # Run `agent check-config` on this file after every edit.",
        conn.endpoint
    );
    let _ = writeln!(out, "\n[agent]\nmachine_id = \"machine\"\n");
    let _ = writeln!(out, "[[device]]\nname = \"cnc\"\nprotocol = \"opcua\"");
    let _ = writeln!(out, "endpoint = {}", quote(conn.endpoint));
    if conn.security_policy != "None" {
        let _ = writeln!(
            out,
            "security_policy = {}\nsecurity_mode = {}",
            quote(conn.security_policy),
            quote(conn.security_mode)
        );
    }
    if let Some(p) = conn.pki_dir {
        let _ = writeln!(out, "pki_dir = {}", quote(p));
    }
    if let (Some(u), Some(f)) = (conn.username, conn.password_file) {
        let _ = writeln!(out, "username = {}\npassword_file = {}", quote(u), quote(f));
        if conn.security_policy == "None" {
            let _ = writeln!(out, "allow_plaintext_credentials = true");
        }
    }
    let _ = writeln!(out, "group = \"fast\"\nstale_after_ms = 3000");

    let mut names: HashSet<String> = HashSet::new();
    for m in &chosen {
        let mut name = m.rule.signal.replace('.', "_");
        while !names.insert(name.clone()) {
            name.push('_');
        }
        let how = match (m.confirmed, m.rule.instance) {
            (Some(true), Some((_, _, _, t))) => format!("type definition {t} confirms it"),
            (Some(false), Some((_, _, _, t))) => {
                format!("matched by browse names; the object's type definition is not {t}")
            }
            _ => "matched by browse names".to_string(),
        };
        let _ = writeln!(out, "\n  [[device.tag]]");
        let _ = writeln!(out, "  # {} ({how})", m.rule.source);
        let _ = writeln!(
            out,
            "  # {}: {}, {}, now {}{}",
            m.node.path_text(),
            m.node.data_type.as_deref().unwrap_or("?"),
            m.node.access_text(),
            m.node.value_text(),
            m.unit_note
        );
        let _ = writeln!(out, "  name = {}", quote(&name));
        let _ = writeln!(out, "  node = {}", quote(&space.node_text(&m.node.id)));
        let _ = writeln!(out, "  signal = {}", quote(m.rule.signal));
        if m.scale != 1.0 {
            let _ = writeln!(out, "  scale = {}", m.scale);
        }
        if !m.rule.labels.is_empty() {
            let labels: Vec<String> = m
                .rule
                .labels
                .iter()
                .map(|(c, t)| format!("\"{c}\" = {}", quote(t)))
                .collect();
            let _ = writeln!(out, "  labels = {{ {} }}", labels.join(", "));
        }
        let _ = writeln!(out, "  verified = false");
    }
    if chosen.is_empty() {
        // A configuration needs a tag: the server's own state (OPC 10000-5 §6.3.1,
        // Server_ServerStatus_State, ns=0;i=2259 in OPC 10000-6's NodeIds.csv) is on every
        // OPC UA server and shows the link works.
        let _ = writeln!(
            out,
            "\n  # No variable matched OPC 40502 or OPC 40501-1 browse names: map the machine's\n  \
             # nodes from the list `agent browse` printed. Meanwhile the server's state\n  \
             # (ServerStatus.State, OPC 10000-5 §6.3.1; 0 = Running) shows the link works.\n  \
             [[device.tag]]\n  name = \"server_state\"\n  node = \"ns=0;i=2259\"\n  verified = false"
        );
    }

    if !alternatives.is_empty() {
        let _ = writeln!(
            out,
            "\n# Also found, not used (the tag above maps the same signal; swap if this one is the\n\
             # machine's main spindle or channel):"
        );
        for (signal, rule, node) in &alternatives {
            let _ = writeln!(
                out,
                "#   {signal}: {} = {}  ({})",
                node.path_text(),
                space.node_text(&node.id),
                rule.source
            );
        }
    }

    let mapped: HashSet<&str> = chosen.iter().map(|m| m.rule.signal).collect();
    let missing: Vec<&str> = [
        "spindle.speed",
        "spindle.load",
        "spindle.power",
        "channel.feedrate",
        "channel.program",
        "channel.state",
    ]
    .into_iter()
    .filter(|s| !mapped.contains(s))
    .collect();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "\n# Not found by browse name, map them by hand from the list if the server has them: {}.",
            missing.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n# What no CNC publishes: the cooling mode, the tool's material and the workpiece's. Give\n\
         # them here (README, \"Machine context\"), or the green-cutting checks judge nothing:\n\
         # [machine]\n\
         # fixed = {{ \"cooling.mode\" = \"mql\" }}     # a machine that only cuts with MQL\n\
         # tool_table = \"tools.toml\"\n\
         # program_table = \"programs.toml\"\n\
         \n[poll_groups]\nfast = {{ interval_ms = 200 }}"
    );
    out
}

/// Where `suffix` matches the end of `path` (`*` matches any one name): the index of its first
/// element in `path`.
fn suffix_match(path: &[String], suffix: &[&str]) -> Option<usize> {
    let start = path.len().checked_sub(suffix.len())?;
    path[start..]
        .iter()
        .zip(suffix)
        .all(|(p, s)| *s == "*" || p == s)
        .then_some(start)
}

/// The node's value can feed the signal: a number for a number, a bool for a bool, a number
/// with labels or text for text.
fn fits(rule: &Rule, node: &Node) -> bool {
    let Some(def) = vocabulary::find(rule.signal) else {
        return false;
    };
    let value = match &node.value {
        Some(Ok(v)) => v,
        // Unreadable now (a Bad status): the data type decides.
        _ => {
            return !matches!(
                (def.kind, node.data_type.as_deref()),
                (Kind::Number, Some("String")) | (Kind::Bool, Some("String" | "Double" | "Float"))
            )
        }
    };
    let number = matches!(
        value,
        Variant::SByte(_)
            | Variant::Byte(_)
            | Variant::Int16(_)
            | Variant::UInt16(_)
            | Variant::Int32(_)
            | Variant::UInt32(_)
            | Variant::Int64(_)
            | Variant::UInt64(_)
            | Variant::Float(_)
            | Variant::Double(_)
    );
    match def.kind {
        Kind::Number => number,
        Kind::Bool => matches!(value, Variant::Boolean(_)),
        Kind::Text => number || matches!(value, Variant::String(_) | Variant::LocalizedText(_)),
    }
}

/// The unit comment and scale for a number signal, from the variable's EngineeringUnits.
fn unit(signal: &str, node: &Node, by_path: &HashMap<Vec<&str>, &Node>) -> (String, f64) {
    let Some(def) = vocabulary::find(signal) else {
        return (String::new(), 1.0);
    };
    if def.kind != Kind::Number {
        return (String::new(), 1.0);
    }
    let mut eu_path: Vec<&str> = node.path.iter().map(String::as_str).collect();
    eu_path.push("EngineeringUnits");
    let eu = by_path.get(&eu_path).and_then(|n| n.engineering_units());
    match eu {
        None => (
            format!(
                "; publishes no EngineeringUnits: confirm it is in {}",
                def.unit
            ),
            1.0,
        ),
        Some(eu) => match UNITS
            .iter()
            .find(|(to, from, _)| *to == def.unit && *from == eu)
        {
            Some((_, _, scale)) if *scale == 1.0 => (format!("; EngineeringUnits {eu}"), 1.0),
            Some((_, _, scale)) => (
                format!("; EngineeringUnits {eu}, scaled into {}", def.unit),
                *scale,
            ),
            None => (
                format!(
                    "; EngineeringUnits {eu:?}: not {}, scale it before trusting it",
                    def.unit
                ),
                1.0,
            ),
        },
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opcua::types::NodeId;

    fn node(path: &str, value: Option<Variant>, type_def: (&str, &str)) -> Node {
        Node {
            id: NodeId::new(2, path.replace('/', ".")),
            path: path.split('/').map(String::from).collect(),
            class: if value.is_some() {
                NodeClass::Variable
            } else {
                NodeClass::Object
            },
            type_definition: (type_def.0.to_string(), type_def.1.to_string()),
            data_type: None,
            access_level: Some(1),
            value: value.map(Ok),
        }
    }

    fn space(nodes: Vec<Node>) -> AddressSpace {
        AddressSpace {
            nodes,
            namespaces: vec![
                "http://opcfoundation.org/UA/".into(),
                "urn:x".into(),
                "urn:cnc".into(),
            ],
            stopped: vec![],
        }
    }

    fn conn() -> Connection<'static> {
        Connection {
            endpoint: "opc.tcp://127.0.0.1:4840/",
            security_policy: "None",
            security_mode: "None",
            username: None,
            password_file: None,
            pki_dir: None,
        }
    }

    const BASE: (&str, &str) = ("http://opcfoundation.org/UA/", "i=58");

    #[test]
    fn machine_tool_browse_names_map_and_the_draft_is_a_valid_configuration() {
        let s = space(vec![
            node("Objects/Machine", None, ("urn:cnc", "i=1")),
            node("Objects/Machine/Monitoring", None, BASE),
            node(
                "Objects/Machine/Monitoring/Spindle",
                None,
                (MACHINE_TOOL, "i=22"),
            ),
            node(
                "Objects/Machine/Monitoring/Spindle/IsRotating",
                Some(Variant::Boolean(true)),
                BASE,
            ),
            node("Objects/Machine/Monitoring/Channel1", None, BASE),
            node(
                "Objects/Machine/Monitoring/Channel1/ChannelState",
                Some(Variant::Int32(0)),
                BASE,
            ),
            node(
                "Objects/Machine/Production/ActiveProgram/Name",
                Some(Variant::Int32(1001)),
                BASE,
            ),
            // A string where a number belongs is not mapped.
            node(
                "Objects/CncInterface/CncSpindleList/S1/ActSpeed",
                Some(Variant::String("fast".into())),
                BASE,
            ),
        ]);
        let text = draft(&s, &conn());
        let config = crate::config::parse(std::path::Path::new("draft.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let tags = &config.devices[0].tags;
        let signals: Vec<&str> = tags.iter().map(|t| t.signal.as_str()).collect();
        assert_eq!(
            signals,
            ["spindle.rotating", "channel.state", "channel.program"],
            "{text}"
        );
        assert!(tags.iter().all(|t| !t.verified));
        assert_eq!(
            tags[1].labels,
            vec![
                (0, "active".to_string()),
                (1, "interrupted".to_string()),
                (2, "reset".to_string())
            ]
        );
        // The spindle's type definition is the MachineTool one; the channel's is not.
        assert!(text.contains("type definition SpindleMonitoringType confirms it"));
        assert!(text.contains("not ChannelMonitoringType"));
        assert!(text.contains("OPC 40501-1 §8.3.7"));
        assert!(
            text.contains("node = \"nsu=urn:cnc;s=Objects.Machine.Monitoring.Spindle.IsRotating\"")
        );
        assert!(text.contains("Not found by browse name"));
        assert!(text.contains("spindle.speed"));
    }

    #[test]
    fn cnc_drive_values_come_first_and_units_are_scaled() {
        let s = space(vec![
            node(
                "Objects/CncInterface/CncSpindleList/S1/ActPower",
                Some(Variant::Double(7500.0)),
                BASE,
            ),
            node(
                "Objects/CncInterface/CncSpindleList/S1/ActPower/EngineeringUnits",
                None,
                BASE,
            ),
            node(
                "Objects/CncInterface/CncSpindleList/S1/ActOverride",
                Some(Variant::Double(100.0)),
                BASE,
            ),
            node(
                "Objects/Machine/Monitoring/Spindle/Override",
                Some(Variant::Double(100.0)),
                BASE,
            ),
        ]);
        let mut s = s;
        // The EngineeringUnits property of ActPower says W.
        s.nodes[1].class = NodeClass::Variable;
        s.nodes[1].value = Some(Ok(Variant::from(
            opcua::types::ExtensionObject::from_message(opcua::types::EUInformation {
                namespace_uri: "http://www.opcfoundation.org/UA/units/un/cefact".into(),
                unit_id: 5723475,
                display_name: "W".into(),
                description: "watt".into(),
            }),
        )));
        let text = draft(&s, &conn());
        let config = crate::config::parse(std::path::Path::new("draft.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let tags = &config.devices[0].tags;
        let power = tags.iter().find(|t| t.signal == "spindle.power").unwrap();
        assert_eq!(power.scale, 0.001);
        // ActOverride (40502) wins; the 40501 Override is listed as an alternative.
        assert_eq!(
            tags.iter()
                .filter(|t| t.signal == "spindle.override")
                .count(),
            1
        );
        assert!(text.contains("#   spindle.override: Objects/Machine/Monitoring/Spindle/Override"));
    }

    #[test]
    fn nothing_known_still_gives_a_configuration_that_reads_the_server_state() {
        let s = space(vec![node(
            "Objects/Plc/Temp",
            Some(Variant::Double(21.0)),
            BASE,
        )]);
        let text = draft(&s, &conn());
        let config = crate::config::parse(std::path::Path::new("draft.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.devices[0].tags[0].name, "server_state");
    }
}
