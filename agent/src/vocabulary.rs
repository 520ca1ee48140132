//! The canonical signal vocabulary: the one set of names and units that everything after the
//! sources (state, store, API, evaluators) speaks. A device tag is mapped onto one of these in the
//! configuration; a tag that maps to none keeps a device-local name and is stored and shown, but
//! no evaluator reads it.
//!
//! Units are ASCII so that configuration files can be typed on any keyboard.

/// What kind of value a signal carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Number,
    Bool,
    Text,
}

/// One canonical signal.
#[derive(Debug)]
pub struct SignalDef {
    pub name: &'static str,
    pub unit: &'static str,
    pub kind: Kind,
    pub meaning: &'static str,
}

const fn num(name: &'static str, unit: &'static str, meaning: &'static str) -> SignalDef {
    SignalDef {
        name,
        unit,
        kind: Kind::Number,
        meaning,
    }
}
const fn flag(name: &'static str, meaning: &'static str) -> SignalDef {
    SignalDef {
        name,
        unit: "",
        kind: Kind::Bool,
        meaning,
    }
}
const fn text(name: &'static str, meaning: &'static str) -> SignalDef {
    SignalDef {
        name,
        unit: "",
        kind: Kind::Text,
        meaning,
    }
}

/// The vocabulary. Keep `README.md`'s table in step with it (a test checks that).
pub const SIGNALS: &[SignalDef] = &[
    // Spindle (OPC 40502 names in brackets)
    num("spindle.speed", "rpm", "actual spindle speed [ActSpeed]"),
    num(
        "spindle.speed_cmd",
        "rpm",
        "commanded spindle speed [CmdSpeed]",
    ),
    num(
        "spindle.load",
        "%",
        "spindle load, % of rated power [ActLoad]",
    ),
    num("spindle.power", "kW", "spindle power [ActPower]"),
    num("spindle.torque", "Nm", "spindle torque [ActTorque]"),
    flag("spindle.rotating", "spindle turning [IsRotating]"),
    num(
        "spindle.override",
        "%",
        "spindle speed override [ActOverride]",
    ),
    num(
        "spindle.vibration_rms",
        "mm/s",
        "spindle vibration velocity RMS",
    ),
    num(
        "spindle.vibration_peak",
        "mm/s",
        "spindle vibration velocity peak",
    ),
    num(
        "spindle.bearing_temp",
        "degC",
        "front spindle bearing temperature",
    ),
    // Channel / program
    num("channel.feedrate", "mm/min", "path feed rate [ActFeedrate]"),
    text(
        "channel.program",
        "main program running [ActMainProgramName]",
    ),
    text(
        "channel.state",
        "channel state: active, interrupted or reset [ChannelState]",
    ),
    text(
        "channel.operation",
        "name of the program's current operation",
    ),
    // Tool in the spindle
    text("tool.id", "identifier of the tool in the spindle"),
    text(
        "tool.material",
        "cutting material: carbide, hss, cermet, ceramic, pcbn, pcd",
    ),
    text("tool.coating", "coating: TiAlN, AlCrN, TiN, DLC, none"),
    num("tool.diameter", "mm", "tool diameter"),
    num("tool.edges", "count", "number of cutting edges"),
    text(
        "tool.class",
        "tool class for tool-life statistics: tools of one class wear out alike",
    ),
    num(
        "tool.life_value",
        "min",
        "tool life counted by the CNC [ToolLife]",
    ),
    num(
        "tool.life_warning",
        "min",
        "tool life warning value [ToolLife WarningValue]",
    ),
    num(
        "tool.life_limit",
        "min",
        "tool life limit [ToolLife LimitValue]",
    ),
    flag(
        "tool.life_counting_up",
        "tool life counts up [ToolLife IsCountingUp]",
    ),
    // Workpiece
    text(
        "workpiece.material",
        "workpiece material designation, e.g. C45",
    ),
    text(
        "workpiece.material_group",
        "ISO 513 material group: P, M, K, N, S or H",
    ),
    num("workpiece.hardness", "HRC", "workpiece hardness"),
    // Machine
    text(
        "cooling.mode",
        "cooling mode: flood, mql, dry, cold_air or none",
    ),
    num("machine.parts_count", "count", "parts finished"),
    text("machine.operation_mode", "automatic, manual or mdi"),
    flag("machine.door_open", "operator door open"),
    num(
        "machine.clock",
        "s",
        "the machine's running clock (e.g. power-on time); when mapped, energy, oil and usage are counted on it",
    ),
    num("axis.x.load", "%", "X axis drive load"),
    num("axis.y.load", "%", "Y axis drive load"),
    num("axis.z.load", "%", "Z axis drive load"),
    num("axis.x.position", "mm", "X axis position"),
    num("axis.y.position", "mm", "Y axis position"),
    num("axis.z.position", "mm", "Z axis position"),
    // Minimum-quantity lubrication unit
    num("mql.oil_flow", "ml/h", "oil flow, measured"),
    num("mql.oil_flow_setpoint", "ml/h", "oil flow setpoint"),
    num("mql.air_pressure", "MPa", "supply air pressure"),
    num(
        "mql.air_pressure_setpoint",
        "MPa",
        "supply air pressure setpoint",
    ),
    num("mql.reservoir_level", "%", "oil reservoir level"),
    num("mql.pump_strokes", "count", "pump stroke counter"),
    num(
        "mql.oil_dispensed",
        "ml",
        "oil dispensed since commissioning",
    ),
    num("mql.pump_operating_time", "h", "pump operating time"),
    num("mql.flow_deviation", "ml/h", "oil flow minus setpoint"),
    flag("mql.aerosol_on", "aerosol being produced"),
    flag("mql.flow_ok", "unit reports oil flow within tolerance"),
    flag("mql.pressure_ok", "unit reports air pressure sufficient"),
    flag("mql.fault", "unit reports a fault"),
    num("mql.fault_code", "code", "unit fault code (0 = none)"),
    num(
        "mql.mist_concentration",
        "mg/m3",
        "oil-mist concentration at the machine",
    ),
    num(
        "mql.aerosol_temp",
        "degC",
        "aerosol (nozzle air) temperature",
    ),
    // Environment
    num(
        "environment.noise",
        "dB(A)",
        "sound level at the operator position",
    ),
];

/// Looks a canonical signal up by name.
pub fn find(name: &str) -> Option<&'static SignalDef> {
    SIGNALS.iter().find(|s| s.name == name)
}

/// The canonical name closest to `name`, for "did you mean" hints.
pub fn closest(name: &str) -> Option<&'static str> {
    SIGNALS
        .iter()
        .map(|s| (edit_distance(name, s.name), s.name))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for s in SIGNALS {
            assert!(seen.insert(s.name), "duplicate {}", s.name);
            assert!(s.name.contains('.'), "{} has no group prefix", s.name);
        }
    }

    #[test]
    fn suggests_a_near_name() {
        assert_eq!(closest("mql.oil_flwo"), Some("mql.oil_flow"));
        assert_eq!(closest("completely.different.thing"), None);
    }

    #[test]
    fn readme_documents_every_signal() {
        let readme = include_str!("../../README.md");
        for s in SIGNALS {
            assert!(
                readme.contains(&format!("`{}`", s.name)),
                "README lacks {}",
                s.name
            );
        }
    }
}
