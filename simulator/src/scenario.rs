//! Scenario files: what machine, program, tools and disturbances a run simulates.
//!
//! A scenario is a TOML file (see `configs/scenarios/`). Every section has defaults, so a file
//! only states what differs from the normal near-dry run (`ScenarioConfig::default()`).
//! Unknown keys are errors (`deny_unknown_fields`): a typo must not silently fall back to a
//! default. Errors name the file and the line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use serde::Deserialize;

/// A whole scenario. `Default` is the normal near-dry (MQL) run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Short name, shown in logs.
    pub name: String,
    /// What the scenario exercises.
    pub description: String,
    /// Seed for every random draw (tool life scatter, bearing onset, sensor noise).
    pub seed: u64,
    /// Simulated seconds per wall second (60: a 30-minute tool life plays in 30 s of cutting).
    pub time_scale: f64,
    /// Fixed physics step in simulated seconds.
    pub step_s: f64,
    pub opcua: OpcUaConfig,
    pub modbus: ModbusConfig,
    pub truth: TruthConfig,
    pub machine: MachineConfig,
    pub workpiece: WorkpieceConfig,
    pub tools: Vec<ToolConfig>,
    pub program: ProgramConfig,
    pub mql: MqlConfig,
    pub bearing: BearingConfig,
    pub wear: WearConfig,
    /// What a tool breakage looks like in the spindle load, and how long the program runs on.
    pub breakage: BreakageConfig,
    /// Part-to-part scatter and measurement noise of the spindle load.
    pub process: ProcessConfig,
    /// Timed disturbances; `at_s` and `duration_s` are in simulated seconds since start.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OpcUaConfig {
    /// Listen address; port 0 picks a free port (see `Simulator::opcua_endpoint`).
    pub listen: SocketAddr,
    /// Host name put into the endpoint URL the server advertises. Defaults to the listen IP,
    /// or 127.0.0.1 when listening on an unspecified address.
    pub advertised_host: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModbusConfig {
    /// Modbus TCP listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve the same map over RTU on this serial device (e.g. `/dev/ttyUSB1`).
    pub rtu_port: Option<String>,
    /// Baud rate for `rtu_port` (8N1).
    pub baud: u32,
    /// Serve RTU on a linked pty pair and print the agent-side path.
    pub rtu_pty: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TruthConfig {
    /// Ground-truth CSV path; none = no file.
    pub csv: Option<PathBuf>,
    /// One row per this many simulated seconds.
    pub interval_s: f64,
}

/// Cooling/lubrication mode, as served on `Machine.CoolingMode`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CoolingMode {
    Flood,
    Mql,
    Dry,
    ColdAir,
    None,
}

impl CoolingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CoolingMode::Flood => "flood",
            CoolingMode::Mql => "mql",
            CoolingMode::Dry => "dry",
            CoolingMode::ColdAir => "cold_air",
            CoolingMode::None => "none",
        }
    }
}

/// CNC operation mode, as served on `Machine.OperationMode`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OperationMode {
    Automatic,
    Manual,
    Mdi,
}

impl OperationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationMode::Automatic => "automatic",
            OperationMode::Manual => "manual",
            OperationMode::Mdi => "mdi",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MachineConfig {
    pub cooling: CoolingMode,
    pub operation_mode: OperationMode,
    /// Rated (S1) spindle power; `Spindle.ActLoad` is power / rated power.
    pub rated_power_kw: f64,
    pub max_speed_rpm: f64,
    /// Spindle speed ramp.
    pub spindle_accel_rpm_s: f64,
    /// Spindle rotor + tool holder inertia, for the power drawn while accelerating.
    pub spindle_inertia_kg_m2: f64,
    /// No-load spindle power (bearing friction, windage): idle_power_kw + per_krpm * n/1000.
    pub idle_power_kw: f64,
    pub idle_power_per_krpm_kw: f64,
    /// Rapid traverse rate.
    pub rapid_mm_min: f64,
    /// Axis drive force at 100 % load.
    pub axis_rated_force_n: f64,
    /// Shop air / ambient temperature.
    pub ambient_c: f64,
    /// Spindle speed override at start.
    pub spindle_override_pct: f64,
}

/// ISO 513 workpiece material group.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum MaterialGroup {
    P,
    M,
    K,
    N,
    S,
    H,
}

impl MaterialGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialGroup::P => "P",
            MaterialGroup::M => "M",
            MaterialGroup::K => "K",
            MaterialGroup::N => "N",
            MaterialGroup::S => "S",
            MaterialGroup::H => "H",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkpieceConfig {
    /// Designation, e.g. `C45`.
    pub material: String,
    pub group: MaterialGroup,
    pub hardness_hrc: f64,
    /// Kienzle specific cutting force at h = 1 mm (N/mm²); default from the group.
    pub kc11: Option<f64>,
    /// Kienzle exponent; default from the group.
    pub mc: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    FaceMill,
    EndMill,
    Drill,
}

/// Cutting material, as served on `Tool.Material`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ToolMaterial {
    Carbide,
    Hss,
    Cermet,
    Ceramic,
    Pcbn,
    Pcd,
}

impl ToolMaterial {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolMaterial::Carbide => "carbide",
            ToolMaterial::Hss => "hss",
            ToolMaterial::Cermet => "cermet",
            ToolMaterial::Ceramic => "ceramic",
            ToolMaterial::Pcbn => "pcbn",
            ToolMaterial::Pcd => "pcd",
        }
    }
}

/// Coating, as served on `Tool.Coating`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Coating {
    TiAlN,
    AlCrN,
    TiN,
    #[serde(rename = "DLC")]
    Dlc,
    #[serde(rename = "none")]
    None,
}

impl Coating {
    pub fn as_str(self) -> &'static str {
        match self {
            Coating::TiAlN => "TiAlN",
            Coating::AlCrN => "AlCrN",
            Coating::TiN => "TiN",
            Coating::Dlc => "DLC",
            Coating::None => "none",
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolConfig {
    /// Magazine pocket, the `T` number (`T2-0007` is the 7th tool put in pocket 2).
    pub pocket: u32,
    pub kind: ToolKind,
    pub material: ToolMaterial,
    #[serde(default = "default_coating")]
    pub coating: Coating,
    pub diameter_mm: f64,
    /// Cutting edges (teeth, flutes).
    pub edges: u32,
    /// CNC tool-life monitoring: limit and pre-warning, minutes of cutting.
    pub life_limit_min: f64,
    pub life_warning_min: f64,
    /// Multiplies the Taylor constant C of this tool (e.g. < 1 for drills, whose centre and
    /// margins wear faster than a milling edge at the same vc).
    #[serde(default = "one")]
    pub taylor_c_factor: f64,
}

fn default_coating() -> Coating {
    Coating::TiAlN
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramConfig {
    /// Main program name, e.g. `O1001`.
    pub name: String,
    /// Rapid approach / retract time before each operation's cut.
    pub air_move_s: f64,
    /// Tool change time (spindle stopped).
    pub tool_change_s: f64,
    /// Unload / load at the end of each cycle (one part per cycle).
    pub part_change_s: f64,
    /// The operator door opens during the part change.
    pub door_opens_on_part_change: bool,
    /// Down time after a tool breakage (operator clears the spindle) before the tool change.
    pub breakage_downtime_s: f64,
    /// Retract and reposition time between drilled holes.
    pub drill_retract_s: f64,
    pub operations: Vec<OperationConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Face,
    Pocket,
    Slot,
    Contour,
    Drill,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperationConfig {
    /// Served on `Channel1.ActOperation`, e.g. `OP20 pocket`.
    pub name: String,
    pub kind: OperationKind,
    /// Tool pocket (must be one of `[[tools]]`).
    pub tool: u32,
    /// Cutting speed, m/min.
    pub vc: f64,
    /// Feed per tooth, mm (for a drill: per cutting lip; feed per rev = fz * edges).
    pub fz: f64,
    /// Axial depth of cut, mm (drill: ignored, D/2 is used).
    #[serde(default)]
    pub ap: f64,
    /// Radial engagement, mm (milling only).
    #[serde(default)]
    pub ae: f64,
    /// Milling: path length in the cut, or
    pub cut_length_mm: Option<f64>,
    /// the time in the cut at programmed feed (exactly one of the two).
    pub cut_time_s: Option<f64>,
    /// Drilling: number of holes and depth of each.
    pub holes: Option<u32>,
    pub hole_depth_mm: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqlConfig {
    /// Oil flow setpoint (holding register 100).
    pub flow_setpoint_ml_h: f64,
    /// Supply air pressure setpoint (holding register 101).
    pub air_pressure_setpoint_kpa: f64,
    /// Oil per pump stroke.
    pub stroke_volume_ml: f64,
    /// First-order lag of the oil flow after the aerosol switches.
    pub flow_time_constant_s: f64,
    pub reservoir_capacity_ml: f64,
    pub reservoir_initial_pct: f64,
    /// Counters at start (the unit has been in service before).
    pub oil_dispensed_initial_ml: f64,
    pub pump_time_initial_s: f64,
    /// Enclosure volume and extraction flow: mist time constant V/Q.
    pub enclosure_m3: f64,
    pub extraction_m3_h: f64,
    pub oil_density_mg_ml: f64,
    /// Share of the oil that stays airborne as mist while cutting / when sprayed into air.
    pub airborne_fraction_cutting: f64,
    pub airborne_fraction_idle: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BearingConfig {
    /// Healthy vibration RMS = baseline + per_krpm * n/1000 (mm/s).
    pub baseline_mm_s: f64,
    pub per_krpm_mm_s: f64,
    /// Degradation onset, spindle running hours, drawn uniformly in [min, max] from the seed.
    pub onset_h_min: f64,
    pub onset_h_max: f64,
    /// Exponential growth rate of the defect vibration, 1/h of running.
    pub growth_per_h: f64,
    /// Defect vibration amplitude scale at onset, mm/s.
    pub initial_amplitude_mm_s: f64,
    /// End of life: vibration RMS at the reference speed reaches this (mm/s).
    pub failure_mm_s: f64,
    /// Reference speed for the failure criterion.
    pub reference_rpm: f64,
    /// Running hours at start.
    pub running_hours_initial: f64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WearConfig {
    /// Flank wear limit VB that defines tool life (ISO 3685 style criterion, 0.3 mm).
    pub vb_limit_mm: f64,
    /// Extended Taylor exponents on ap (x) and fz (y).
    pub taylor_x: f64,
    pub taylor_y: f64,
    /// Per-tool scatter: sigma of ln(C factor).
    pub life_scatter_sigma: f64,
    /// Cutting force grows with flank wear: factor (1 + k * VB), k in 1/mm.
    pub force_k_per_mm: f64,
    /// Breakage hazard per minute of cutting: base + wear * u^exponent.
    pub breakage_base_per_min: f64,
    pub breakage_wear_per_min: f64,
    pub breakage_wear_exponent: f64,
    /// Tool-life multipliers by cooling mode (MQL = 1).
    pub life_factor_dry: f64,
    pub life_factor_mql: f64,
    pub life_factor_flood: f64,
    pub life_factor_cold_air: f64,
}

/// A breakage's signature. By default the CNC stops the spindle at the instant of the breakage
/// (no signature, no run-on); with `run_on_s` the program goes on with the broken tool cutting
/// air, as it does on a machine with no process monitor until someone notices.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakageConfig {
    /// The cutting load jumps by this factor at the breakage (the edge jams before it goes) ...
    pub spike_factor: f64,
    /// ... for this long (simulated seconds), then the tool cuts nothing.
    pub spike_s: f64,
    /// Seconds the program runs on with the broken tool (at most to the end of its operation)
    /// before the machine is interrupted; 0: interrupted at once.
    pub run_on_s: f64,
}

impl Default for BreakageConfig {
    fn default() -> Self {
        BreakageConfig {
            spike_factor: 1.0,
            spike_s: 0.0,
            run_on_s: 0.0,
        }
    }
}

/// What makes one part's cut differ from the last (all off by default).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessConfig {
    /// σ of ln(cutting force factor) drawn per part (stock allowance, hardness from blank to
    /// blank).
    pub part_scatter_sigma: f64,
    /// σ of the noise on the served spindle load (% of rated) and power (the same share).
    pub load_noise_pct: f64,
}

/// A timed disturbance. All times are simulated seconds since start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The oil supply to the MQL nozzle fails (clogged line, air in the pump): the oil flow
    /// ramps to `flow_fraction` of the setpoint while the aerosol is on.
    MqlStarvation {
        at_s: f64,
        duration_s: Option<f64>,
        #[serde(default = "starvation_fraction")]
        flow_fraction: f64,
        #[serde(default = "default_ramp")]
        ramp_s: f64,
    },
    /// Shop air supply pressure ramps to `pressure_kpa`.
    AirPressure {
        at_s: f64,
        duration_s: Option<f64>,
        pressure_kpa: f64,
        #[serde(default = "default_ramp")]
        ramp_s: f64,
    },
    /// The aerosol valve stays on whatever the spindle does.
    AerosolStuckOn { at_s: f64, duration_s: Option<f64> },
    /// The program is stopped (reset): spindle off, door open if `door_open`.
    MachineStop {
        at_s: f64,
        duration_s: Option<f64>,
        #[serde(default = "yes")]
        door_open: bool,
    },
    /// The tool in cut breaks (at the next cutting step if not cutting at `at_s`).
    ToolBreakage { at_s: f64 },
    /// The Modbus server (TCP and RTU) goes away and comes back.
    ModbusOffline { at_s: f64, duration_s: f64 },
    /// The OPC UA server goes away and comes back.
    OpcuaOffline { at_s: f64, duration_s: f64 },
    /// Spindle speed override changes (feed follows, fz stays).
    SpindleOverride {
        at_s: f64,
        duration_s: Option<f64>,
        percent: f64,
    },
    /// Feed override changes (the speed stays, the feed per tooth follows).
    FeedOverride {
        at_s: f64,
        duration_s: Option<f64>,
        percent: f64,
    },
    /// The spindle holds no tool (or a wrong, short one): the program runs, cutting air.
    MissingTool { at_s: f64, duration_s: Option<f64> },
}

fn starvation_fraction() -> f64 {
    0.02
}
fn default_ramp() -> f64 {
    20.0
}
fn yes() -> bool {
    true
}

impl Event {
    pub fn at_s(&self) -> f64 {
        match self {
            Event::MqlStarvation { at_s, .. }
            | Event::AirPressure { at_s, .. }
            | Event::AerosolStuckOn { at_s, .. }
            | Event::MachineStop { at_s, .. }
            | Event::ToolBreakage { at_s }
            | Event::ModbusOffline { at_s, .. }
            | Event::OpcuaOffline { at_s, .. }
            | Event::SpindleOverride { at_s, .. }
            | Event::FeedOverride { at_s, .. }
            | Event::MissingTool { at_s, .. } => *at_s,
        }
    }

    /// Seconds the disturbance lasts; `None` = until the end of the run.
    pub fn duration_s(&self) -> Option<f64> {
        match self {
            Event::MqlStarvation { duration_s, .. }
            | Event::AirPressure { duration_s, .. }
            | Event::AerosolStuckOn { duration_s, .. }
            | Event::MachineStop { duration_s, .. }
            | Event::SpindleOverride { duration_s, .. }
            | Event::FeedOverride { duration_s, .. }
            | Event::MissingTool { duration_s, .. } => *duration_s,
            Event::ModbusOffline { duration_s, .. } | Event::OpcuaOffline { duration_s, .. } => {
                Some(*duration_s)
            }
            Event::ToolBreakage { .. } => Some(0.0),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Event::MqlStarvation { .. } => "mql_starvation",
            Event::AirPressure { .. } => "air_pressure",
            Event::AerosolStuckOn { .. } => "aerosol_stuck_on",
            Event::MachineStop { .. } => "machine_stop",
            Event::ToolBreakage { .. } => "tool_breakage",
            Event::ModbusOffline { .. } => "modbus_offline",
            Event::OpcuaOffline { .. } => "opcua_offline",
            Event::SpindleOverride { .. } => "spindle_override",
            Event::FeedOverride { .. } => "feed_override",
            Event::MissingTool { .. } => "missing_tool",
        }
    }
}

impl Default for ScenarioConfig {
    fn default() -> Self {
        ScenarioConfig {
            name: "normal-near-dry".into(),
            description: "C45 part, face / pocket / drill with coated carbide, MQL near-dry".into(),
            seed: 1,
            time_scale: 60.0,
            step_s: 0.1,
            opcua: OpcUaConfig::default(),
            modbus: ModbusConfig::default(),
            truth: TruthConfig::default(),
            machine: MachineConfig::default(),
            workpiece: WorkpieceConfig::default(),
            tools: default_tools(),
            program: ProgramConfig::default(),
            mql: MqlConfig::default(),
            bearing: BearingConfig::default(),
            wear: WearConfig::default(),
            breakage: BreakageConfig::default(),
            process: ProcessConfig::default(),
            events: Vec::new(),
        }
    }
}

impl Default for OpcUaConfig {
    fn default() -> Self {
        OpcUaConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4840)),
            advertised_host: None,
        }
    }
}

impl Default for ModbusConfig {
    fn default() -> Self {
        ModbusConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5020)),
            rtu_port: None,
            baud: 19200,
            rtu_pty: false,
        }
    }
}

impl Default for TruthConfig {
    fn default() -> Self {
        TruthConfig {
            csv: None,
            interval_s: 1.0,
        }
    }
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            cooling: CoolingMode::Mql,
            operation_mode: OperationMode::Automatic,
            rated_power_kw: 15.0,
            max_speed_rpm: 12000.0,
            spindle_accel_rpm_s: 6000.0,
            spindle_inertia_kg_m2: 0.008,
            idle_power_kw: 0.15,
            idle_power_per_krpm_kw: 0.09,
            rapid_mm_min: 15000.0,
            axis_rated_force_n: 6000.0,
            ambient_c: 22.0,
            spindle_override_pct: 100.0,
        }
    }
}

impl Default for WorkpieceConfig {
    fn default() -> Self {
        WorkpieceConfig {
            material: "C45".into(),
            group: MaterialGroup::P,
            // C45 normalised is about 200 HB; 18 HRC is the nominal conversion (below the
            // range where HRC is normally used, but the node is a Double in HRC).
            hardness_hrc: 18.0,
            kc11: None,
            mc: None,
        }
    }
}

fn default_tools() -> Vec<ToolConfig> {
    vec![
        ToolConfig {
            pocket: 1,
            kind: ToolKind::FaceMill,
            material: ToolMaterial::Carbide,
            coating: Coating::TiAlN,
            diameter_mm: 63.0,
            edges: 5,
            life_limit_min: 15.0,
            life_warning_min: 12.0,
            taylor_c_factor: 1.0,
        },
        ToolConfig {
            pocket: 2,
            kind: ToolKind::EndMill,
            material: ToolMaterial::Carbide,
            coating: Coating::TiAlN,
            diameter_mm: 12.0,
            edges: 4,
            life_limit_min: 25.0,
            life_warning_min: 20.0,
            taylor_c_factor: 1.0,
        },
        ToolConfig {
            pocket: 3,
            kind: ToolKind::Drill,
            material: ToolMaterial::Carbide,
            coating: Coating::TiAlN,
            diameter_mm: 8.5,
            edges: 2,
            life_limit_min: 30.0,
            life_warning_min: 25.0,
            taylor_c_factor: 0.8,
        },
    ]
}

impl Default for ProgramConfig {
    fn default() -> Self {
        ProgramConfig {
            name: "O1001".into(),
            air_move_s: 4.0,
            tool_change_s: 6.0,
            part_change_s: 30.0,
            door_opens_on_part_change: true,
            breakage_downtime_s: 120.0,
            drill_retract_s: 0.6,
            operations: vec![
                OperationConfig {
                    name: "OP10 face".into(),
                    kind: OperationKind::Face,
                    tool: 1,
                    vc: 220.0,
                    fz: 0.12,
                    ap: 1.5,
                    ae: 45.0,
                    cut_length_mm: Some(600.0),
                    cut_time_s: None,
                    holes: None,
                    hole_depth_mm: None,
                },
                OperationConfig {
                    name: "OP20 pocket".into(),
                    kind: OperationKind::Pocket,
                    tool: 2,
                    vc: 220.0,
                    fz: 0.06,
                    ap: 6.0,
                    ae: 3.0,
                    cut_length_mm: Some(1500.0),
                    cut_time_s: None,
                    holes: None,
                    hole_depth_mm: None,
                },
                OperationConfig {
                    name: "OP30 drill".into(),
                    kind: OperationKind::Drill,
                    tool: 3,
                    vc: 140.0,
                    fz: 0.08,
                    ap: 0.0,
                    ae: 0.0,
                    cut_length_mm: None,
                    cut_time_s: None,
                    holes: Some(8),
                    hole_depth_mm: Some(20.0),
                },
            ],
        }
    }
}

impl Default for MqlConfig {
    fn default() -> Self {
        MqlConfig {
            flow_setpoint_ml_h: 30.0,
            air_pressure_setpoint_kpa: 550.0,
            stroke_volume_ml: 0.03,
            flow_time_constant_s: 3.0,
            reservoir_capacity_ml: 2000.0,
            reservoir_initial_pct: 75.0,
            oil_dispensed_initial_ml: 12500.0,
            pump_time_initial_s: 1_500_000.0,
            enclosure_m3: 2.5,
            extraction_m3_h: 1000.0,
            oil_density_mg_ml: 900.0,
            airborne_fraction_cutting: 0.01,
            airborne_fraction_idle: 0.05,
        }
    }
}

impl Default for BearingConfig {
    fn default() -> Self {
        BearingConfig {
            baseline_mm_s: 0.55,
            per_krpm_mm_s: 0.035,
            onset_h_min: 40.0,
            onset_h_max: 80.0,
            growth_per_h: 0.35,
            initial_amplitude_mm_s: 0.05,
            failure_mm_s: 4.5,
            reference_rpm: 6000.0,
            running_hours_initial: 0.0,
        }
    }
}

impl Default for WearConfig {
    fn default() -> Self {
        WearConfig {
            vb_limit_mm: 0.3,
            taylor_x: 0.15,
            taylor_y: 0.6,
            life_scatter_sigma: 0.08,
            force_k_per_mm: 1.0,
            breakage_base_per_min: 0.0003,
            breakage_wear_per_min: 0.01,
            breakage_wear_exponent: 6.0,
            life_factor_dry: 0.65,
            life_factor_mql: 1.0,
            life_factor_flood: 1.0,
            life_factor_cold_air: 0.8,
        }
    }
}

/// A validation problem, located where possible at a TOML table header.
#[derive(Debug)]
struct Invalid {
    /// (array-of-tables header, index) to find the line in the source.
    at: Option<(&'static str, usize)>,
    message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn invalid(at: Option<(&'static str, usize)>, message: impl Into<String>) -> Invalid {
    Invalid {
        at,
        message: message.into(),
    }
}

impl ScenarioConfig {
    /// Reads and validates a scenario file. Errors name the file and, where they can, the line.
    pub fn from_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading scenario file {}", path.display()))?;
        Self::from_toml_str(&text).map_err(|e| anyhow!("scenario file {}:{e}", path.display()))
    }

    /// Parses and validates scenario text. The error text starts with a line number
    /// (`12: ...`) when one is known, or the TOML parser's own located message.
    pub fn from_toml_str(text: &str) -> Result<Self, String> {
        let cfg: ScenarioConfig = toml::from_str(text).map_err(|e| format!(" {e}"))?;
        match cfg.validate_inner() {
            Ok(()) => Ok(cfg),
            Err(inv) => {
                let line = inv
                    .at
                    .and_then(|(hdr, idx)| nth_header_line(text, hdr, idx));
                Err(match line {
                    Some(l) => format!("{l}: {}", inv.message),
                    None => format!(" {}", inv.message),
                })
            }
        }
    }

    /// Checks cross references and ranges that serde cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_inner()
            .map_err(|e| anyhow!("invalid scenario: {e}"))
    }

    fn validate_inner(&self) -> Result<(), Invalid> {
        if !(self.time_scale > 0.0 && self.time_scale.is_finite()) {
            return Err(invalid(None, "time_scale must be > 0"));
        }
        if !(self.step_s > 0.0 && self.step_s <= 1.0) {
            return Err(invalid(None, "step_s must be in (0, 1] simulated seconds"));
        }
        if self.truth.interval_s < self.step_s {
            return Err(invalid(None, "truth.interval_s must be >= step_s"));
        }
        if self.machine.rated_power_kw <= 0.0 || self.machine.max_speed_rpm <= 0.0 {
            return Err(invalid(
                None,
                "machine.rated_power_kw and max_speed_rpm must be > 0",
            ));
        }
        if self.modbus.rtu_pty && self.modbus.rtu_port.is_some() {
            return Err(invalid(
                None,
                "modbus: set either rtu_port or rtu_pty, not both",
            ));
        }
        let b = &self.breakage;
        if !(b.spike_factor >= 1.0 && b.spike_s >= 0.0 && b.run_on_s >= 0.0) {
            return Err(invalid(
                None,
                "breakage: spike_factor must be >= 1, spike_s and run_on_s >= 0",
            ));
        }
        let p = &self.process;
        if !(p.part_scatter_sigma >= 0.0 && p.load_noise_pct >= 0.0) {
            return Err(invalid(
                None,
                "process: part_scatter_sigma and load_noise_pct must be >= 0",
            ));
        }
        if self.tools.is_empty() {
            return Err(invalid(None, "at least one [[tools]] entry is needed"));
        }
        for (i, t) in self.tools.iter().enumerate() {
            let at = Some(("[[tools]]", i));
            if self.tools[..i].iter().any(|o| o.pocket == t.pocket) {
                return Err(invalid(
                    at,
                    format!("tool pocket {} defined twice", t.pocket),
                ));
            }
            if t.diameter_mm <= 0.0 || t.edges == 0 {
                return Err(invalid(
                    at,
                    format!("tool T{}: diameter_mm and edges must be > 0", t.pocket),
                ));
            }
            if t.life_limit_min <= 0.0 || t.life_warning_min > t.life_limit_min {
                return Err(invalid(
                    at,
                    format!(
                        "tool T{}: need 0 < life_warning_min <= life_limit_min",
                        t.pocket
                    ),
                ));
            }
            if t.taylor_c_factor <= 0.0 {
                return Err(invalid(
                    at,
                    format!("tool T{}: taylor_c_factor must be > 0", t.pocket),
                ));
            }
        }
        if self.program.operations.is_empty() {
            return Err(invalid(None, "the program needs at least one operation"));
        }
        for (i, op) in self.program.operations.iter().enumerate() {
            let at = Some(("[[program.operations]]", i));
            let name = &op.name;
            let Some(tool) = self.tools.iter().find(|t| t.pocket == op.tool) else {
                return Err(invalid(
                    at,
                    format!(
                        "operation '{name}': tool pocket {} is not in [[tools]]",
                        op.tool
                    ),
                ));
            };
            if op.vc <= 0.0 || op.fz <= 0.0 {
                return Err(invalid(
                    at,
                    format!("operation '{name}': vc and fz must be > 0"),
                ));
            }
            if op.kind == OperationKind::Drill {
                if tool.kind != ToolKind::Drill {
                    return Err(invalid(
                        at,
                        format!(
                            "operation '{name}': drilling needs a drill, T{} is a {:?}",
                            op.tool, tool.kind
                        ),
                    ));
                }
                match (op.holes, op.hole_depth_mm) {
                    (Some(h), Some(d)) if h > 0 && d > 0.0 => {}
                    _ => {
                        return Err(invalid(
                            at,
                            format!("operation '{name}': a drill operation needs holes > 0 and hole_depth_mm > 0"),
                        ))
                    }
                }
                if op.cut_length_mm.is_some() || op.cut_time_s.is_some() {
                    return Err(invalid(
                        at,
                        format!("operation '{name}': a drill operation uses holes and hole_depth_mm, not cut_length_mm / cut_time_s"),
                    ));
                }
            } else {
                if tool.kind == ToolKind::Drill {
                    return Err(invalid(
                        at,
                        format!("operation '{name}': cannot mill with drill T{}", op.tool),
                    ));
                }
                if op.ap <= 0.0 || op.ae <= 0.0 || op.ae > tool.diameter_mm {
                    return Err(invalid(
                        at,
                        format!(
                            "operation '{name}': need ap > 0 and 0 < ae <= tool diameter ({} mm)",
                            tool.diameter_mm
                        ),
                    ));
                }
                match (op.cut_length_mm, op.cut_time_s) {
                    (Some(l), None) if l > 0.0 => {}
                    (None, Some(t)) if t > 0.0 => {}
                    _ => {
                        return Err(invalid(
                            at,
                            format!("operation '{name}': give exactly one of cut_length_mm or cut_time_s (> 0)"),
                        ))
                    }
                }
                if op.holes.is_some() || op.hole_depth_mm.is_some() {
                    return Err(invalid(
                        at,
                        format!(
                            "operation '{name}': holes / hole_depth_mm are for drill operations"
                        ),
                    ));
                }
            }
        }
        let p = &self.program;
        if p.air_move_s < 0.0
            || p.tool_change_s < 0.0
            || p.part_change_s < 0.0
            || p.breakage_downtime_s < 0.0
            || p.drill_retract_s < 0.0
        {
            return Err(invalid(None, "program times must be >= 0"));
        }
        let m = &self.mql;
        if m.flow_setpoint_ml_h < 0.0
            || m.stroke_volume_ml <= 0.0
            || m.reservoir_capacity_ml <= 0.0
            || m.flow_time_constant_s <= 0.0
            || m.extraction_m3_h <= 0.0
            || m.enclosure_m3 <= 0.0
        {
            return Err(invalid(
                None,
                "mql: stroke_volume_ml, reservoir_capacity_ml, flow_time_constant_s, extraction_m3_h, enclosure_m3 must be > 0",
            ));
        }
        let b = &self.bearing;
        if b.onset_h_min < 0.0 || b.onset_h_max < b.onset_h_min || b.growth_per_h <= 0.0 {
            return Err(invalid(
                None,
                "bearing: need 0 <= onset_h_min <= onset_h_max and growth_per_h > 0",
            ));
        }
        if b.failure_mm_s <= b.baseline_mm_s + b.per_krpm_mm_s * b.reference_rpm / 1000.0 {
            return Err(invalid(
                None,
                "bearing: failure_mm_s must exceed the healthy level at reference_rpm",
            ));
        }
        let w = &self.wear;
        if w.vb_limit_mm <= 0.0 || w.life_scatter_sigma < 0.0 {
            return Err(invalid(
                None,
                "wear: vb_limit_mm > 0 and life_scatter_sigma >= 0 needed",
            ));
        }
        for (i, e) in self.events.iter().enumerate() {
            let at = Some(("[[events]]", i));
            if e.at_s().is_nan() || e.at_s() < 0.0 {
                return Err(invalid(
                    at,
                    format!("event {}: at_s must be >= 0", e.kind_name()),
                ));
            }
            if let Some(d) = e.duration_s() {
                if d.is_nan() || d < 0.0 || (d == 0.0 && !matches!(e, Event::ToolBreakage { .. })) {
                    return Err(invalid(
                        at,
                        format!("event {}: duration_s must be > 0", e.kind_name()),
                    ));
                }
            }
            match e {
                Event::MqlStarvation { flow_fraction, .. }
                    if !(0.0..=1.0).contains(flow_fraction) =>
                {
                    return Err(invalid(
                        at,
                        "mql_starvation: flow_fraction must be in [0, 1]",
                    ))
                }
                Event::AirPressure { pressure_kpa, .. } if *pressure_kpa < 0.0 => {
                    return Err(invalid(at, "air_pressure: pressure_kpa must be >= 0"))
                }
                Event::SpindleOverride { percent, .. } if !(1.0..=200.0).contains(percent) => {
                    return Err(invalid(at, "spindle_override: percent must be in [1, 200]"))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Line (1-based) of the `index`-th `header` (e.g. `[[tools]]`) in `text`.
fn nth_header_line(text: &str, header: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(header))
        .nth(index)
        .map(|(n, _)| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        ScenarioConfig::default().validate().unwrap();
    }

    #[test]
    fn empty_file_is_the_default() {
        let cfg = ScenarioConfig::from_toml_str("").unwrap();
        assert_eq!(cfg, ScenarioConfig::default());
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let text = "seed = 3\n\n[machine]\ncooling = \"mql\"\nspeed_limit = 3\n";
        let err = ScenarioConfig::from_toml_str(text).unwrap_err();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("speed_limit"), "{err}");
    }

    #[test]
    fn unknown_event_field_is_an_error() {
        let text = "[[events]]\nkind = \"tool_breakage\"\nat_s = 3.0\nwhen = 4\n";
        let err = ScenarioConfig::from_toml_str(text).unwrap_err();
        assert!(err.contains("when"), "{err}");
    }

    #[test]
    fn events_parse() {
        let text = r#"
[[events]]
kind = "mql_starvation"
at_s = 100.0
flow_fraction = 0.05

[[events]]
kind = "modbus_offline"
at_s = 10.0
duration_s = 5.0
"#;
        let cfg = ScenarioConfig::from_toml_str(text).unwrap();
        assert_eq!(cfg.events.len(), 2);
        assert_eq!(
            cfg.events[0],
            Event::MqlStarvation {
                at_s: 100.0,
                duration_s: None,
                flow_fraction: 0.05,
                ramp_s: 20.0
            }
        );
        assert_eq!(cfg.events[1].duration_s(), Some(5.0));
    }

    #[test]
    fn bad_tool_reference_names_the_line() {
        let text = r#"
[[tools]]
pocket = 1
kind = "end_mill"
material = "carbide"
diameter_mm = 10.0
edges = 4
life_limit_min = 20.0
life_warning_min = 15.0

[program]
name = "O1"

[[program.operations]]
name = "OP10"
kind = "pocket"
tool = 1
vc = 200.0
fz = 0.05
ap = 5.0
ae = 2.0
cut_length_mm = 100.0

[[program.operations]]
name = "OP20"
kind = "pocket"
tool = 7
vc = 200.0
fz = 0.05
ap = 5.0
ae = 2.0
cut_length_mm = 100.0
"#;
        let err = ScenarioConfig::from_toml_str(text).unwrap_err();
        assert!(err.starts_with("24: "), "{err}");
        assert!(err.contains("tool pocket 7"), "{err}");
    }

    #[test]
    fn from_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("sim-scn-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "time_scale = \"fast\"\n").unwrap();
        let err = ScenarioConfig::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        assert!(err.contains("line 1"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
