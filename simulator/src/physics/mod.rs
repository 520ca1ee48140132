//! The machine tool as a set of coupled physical models, stepped on a fixed step of
//! simulated time. Everything served over OPC UA and Modbus, and every ground-truth value,
//! comes out of `Machine::observe`.

pub mod bearing;
pub mod cutting;
pub mod materials;
pub mod mql;
pub mod program;
pub mod wear;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, StandardNormal};

use crate::scenario::{CoolingMode, Event, ScenarioConfig, ToolConfig};
use bearing::Bearing;
use cutting::Engagement;
use materials::{Kienzle, TaylorParams};
use mql::{Mql, MqlInputs};
use program::{cut_position, Phase, SeqEvent, Sequencer, LOAD_POSITION, Z_HOME_MM};
use wear::{ReplaceReason, ToolWear};

/// Shop air pressure upstream of the MQL unit's regulator when nothing is wrong.
const SHOP_AIR_KPA: f64 = 600.0;
/// Axis load with no motion (guide friction), and Z's share for holding the headstock
/// (assumptions for a mid-size vertical machining centre).
const AXIS_FRICTION_PCT: f64 = 3.0;
const Z_WEIGHT_PCT: f64 = 12.0;
/// Axis load per mm/min of axis speed (viscous friction), %.
const AXIS_VISCOUS_PCT_PER_MM_MIN: f64 = 0.0003;
/// Milling force ratios to the tangential force (rough, typical of end and face milling):
/// feed direction 0.5, normal 0.3, axial 0.2 (assumption).
const FEED_FORCE_RATIO: f64 = 0.5;
const NORMAL_FORCE_RATIO: f64 = 0.3;
const AXIAL_FORCE_RATIO: f64 = 0.2;
/// Bounded in-memory logs.
const MAX_PENDING: usize = 64;

/// Something the runner must do outside the physics (servers going away and coming back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    StopModbus,
    StartModbus,
    StopOpcUa,
    StartOpcUa,
}

/// A physical tool in its pocket.
#[derive(Debug, Clone)]
pub struct ToolSlot {
    pub cfg: ToolConfig,
    pub taylor: TaylorParams,
    pub wear: ToolWear,
}

/// The conditions of the current cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutState {
    pub vc_m_min: f64,
    pub fz_mm: f64,
    pub ap_mm: f64,
    pub kc_n_mm2: f64,
    /// Tool life at these conditions, minutes.
    pub life_min: f64,
    /// Tool-life multiplier from cooling.
    pub cooling_factor: f64,
    pub power_kw: f64,
    pub tangential_force_n: f64,
}

/// Everything the outside can see, plus the truth, in engineering units.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub sim_time_s: f64,
    // CNC
    pub spindle_act_speed_rpm: f64,
    pub spindle_cmd_speed_rpm: f64,
    pub spindle_load_pct: f64,
    pub spindle_power_kw: f64,
    pub spindle_torque_nm: f64,
    pub spindle_rotating: bool,
    pub spindle_override_pct: f64,
    pub feedrate_mm_min: f64,
    pub program_name: String,
    pub channel_state: i32,
    pub operation: String,
    pub tool_identifier: String,
    pub tool_material: &'static str,
    pub tool_coating: &'static str,
    pub tool_diameter_mm: f64,
    pub tool_edges: u32,
    pub tool_life_min: f64,
    pub tool_life_warning_min: f64,
    pub tool_life_limit_min: f64,
    pub workpiece_material: String,
    pub workpiece_group: &'static str,
    pub workpiece_hardness_hrc: f64,
    pub cooling_mode: &'static str,
    pub parts: u32,
    pub operation_mode: &'static str,
    pub door_open: bool,
    pub axis_load_pct: [f64; 3],
    pub axis_position_mm: [f64; 3],
    // MQL unit
    pub mql_aerosol_on: bool,
    pub mql_flow_measured_ml_h: f64,
    pub mql_flow_true_ml_h: f64,
    pub mql_flow_setpoint_ml_h: f64,
    pub mql_pressure_kpa: f64,
    pub mql_pressure_setpoint_kpa: f64,
    pub mql_reservoir_pct: f64,
    pub mql_strokes: u32,
    pub mql_flow_ok: bool,
    pub mql_pressure_ok: bool,
    pub mql_fault_code: u16,
    pub mql_mist_mg_m3: f64,
    pub mql_aerosol_temp_c: f64,
    pub mql_oil_dispensed_ml: f64,
    pub mql_pump_time_s: f64,
    pub mql_oil_used_ml: f64,
    // Spindle condition sensor
    pub vibration_rms_mm_s: f64,
    pub vibration_peak_mm_s: f64,
    pub bearing_temp_c: f64,
    // Truth
    pub cutting: bool,
    pub vb_mm: f64,
    pub remaining_life_min: Option<f64>,
    pub life_consumed: f64,
    pub cut: Option<CutState>,
    pub energy_kwh: f64,
    pub bearing_remaining_fraction: Option<f64>,
    pub bearing_running_h: f64,
    /// Spindle energy and oil used since start at the instant the last part was finished.
    pub at_last_part: (f64, f64),
    pub tool_changes: u32,
    pub breakages: u32,
    /// The program is in a cut but the tool cuts nothing (broken and running on, or missing).
    pub air_cutting: bool,
    pub feed_override_pct: f64,
}

#[derive(Debug, Clone)]
pub struct Machine {
    cfg: ScenarioConfig,
    pub t_s: f64,
    kienzle: Kienzle,
    pub tools: Vec<ToolSlot>,
    pub seq: Sequencer,
    spindle_tool: usize,
    act_rpm: f64,
    cmd_rpm: f64,
    override_pct: f64,
    power_kw: f64,
    torque_nm: f64,
    cut: Option<CutState>,
    pos: [f64; 3],
    axis_load: [f64; 3],
    feedrate: f64,
    pub mql: Mql,
    pub bearing: Bearing,
    energy_kwh: f64,
    stopped: Option<bool>,
    pending_breakage: bool,
    /// (energy kWh, oil ml) when the last part was finished.
    at_last_part: (f64, f64),
    fired_start: Vec<bool>,
    fired_end: Vec<bool>,
    tool_changes: u32,
    breakages: u32,
    /// Feed override now (%).
    feed_override_pct: f64,
    /// In a cut with nothing cutting (a broken tool running on, a missing tool).
    air_cutting: bool,
    /// Seconds of the breakage's load spike still to come.
    spike_left_s: f64,
    /// A broken tool running on: its operation and when the machine is interrupted.
    run_on: Option<(usize, f64)>,
    /// This part's cutting force factor (part-to-part scatter).
    part_factor: f64,
    /// Noise on the served spindle load now, % of rated.
    load_noise_pct: f64,
    rng_process: StdRng,
    rng_tools: StdRng,
    rng_break: StdRng,
    rng_noise: StdRng,
    log: Vec<String>,
    actions: Vec<Action>,
}

impl Machine {
    pub fn new(cfg: &ScenarioConfig) -> Self {
        // Independent streams, so e.g. more sensor noise draws never change tool lives.
        let mut rng_tools = StdRng::seed_from_u64(cfg.seed ^ 0x7001_5eed);
        let rng_break = StdRng::seed_from_u64(cfg.seed ^ 0xb4ea_c0de);
        let rng_noise = StdRng::seed_from_u64(cfg.seed ^ 0x0153_1234);
        // Its own stream: scatter and load noise never change the other draws.
        let mut rng_process = StdRng::seed_from_u64(cfg.seed ^ 0x9a27_5ca7);
        let part_factor = life_factor(&mut rng_process, cfg.process.part_scatter_sigma);
        let mut rng_bearing = StdRng::seed_from_u64(cfg.seed ^ 0xbea4_1a9e);
        let group = cfg.workpiece.group;
        let mut kienzle = materials::kienzle(group);
        if let Some(k) = cfg.workpiece.kc11 {
            kienzle.kc11 = k;
        }
        if let Some(m) = cfg.workpiece.mc {
            kienzle.mc = m;
        }
        let tools = cfg
            .tools
            .iter()
            .map(|t| ToolSlot {
                cfg: t.clone(),
                taylor: materials::taylor(t.material, t.coating, group),
                wear: ToolWear::new(
                    t.pocket,
                    1,
                    life_factor(&mut rng_tools, cfg.wear.life_scatter_sigma),
                ),
            })
            .collect();
        let seq = Sequencer::new(&cfg.program, &cfg.tools, cfg.machine.max_speed_rpm);
        let spindle_tool = seq.plans[0].tool_index;
        let bearing = Bearing::new(&cfg.bearing, cfg.machine.ambient_c, &mut rng_bearing);
        Machine {
            cfg: cfg.clone(),
            t_s: 0.0,
            kienzle,
            tools,
            seq,
            spindle_tool,
            act_rpm: 0.0,
            cmd_rpm: 0.0,
            override_pct: cfg.machine.spindle_override_pct,
            power_kw: 0.0,
            torque_nm: 0.0,
            cut: None,
            pos: [0.0, 0.0, Z_HOME_MM],
            axis_load: [AXIS_FRICTION_PCT, AXIS_FRICTION_PCT, Z_WEIGHT_PCT],
            feedrate: 0.0,
            mql: Mql::new(&cfg.mql, cfg.machine.ambient_c),
            bearing,
            energy_kwh: 0.0,
            stopped: None,
            pending_breakage: false,
            at_last_part: (0.0, 0.0),
            fired_start: vec![false; cfg.events.len()],
            fired_end: vec![false; cfg.events.len()],
            tool_changes: 0,
            breakages: 0,
            feed_override_pct: 100.0,
            air_cutting: false,
            spike_left_s: 0.0,
            run_on: None,
            part_factor,
            load_noise_pct: 0.0,
            rng_process,
            rng_tools,
            rng_break,
            rng_noise,
            log: Vec::new(),
            actions: Vec::new(),
        }
    }

    pub fn config(&self) -> &ScenarioConfig {
        &self.cfg
    }

    /// Server actions due since the last call.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Notable happenings since the last call (tool changes, breakages, events).
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }

    fn note(&mut self, s: String) {
        tracing::debug!(sim_s = self.t_s, "{s}");
        if self.log.len() < MAX_PENDING {
            self.log.push(s);
        }
    }

    fn act(&mut self, a: Action) {
        if self.actions.len() < MAX_PENDING {
            self.actions.push(a);
        }
    }

    /// Tool index `i` must be replaced: why, or None.
    fn replace_reason(&self, i: usize) -> Option<ReplaceReason> {
        let slot = &self.tools[i];
        if slot.wear.broken {
            Some(ReplaceReason::Breakage)
        } else if slot.wear.counter_min >= slot.cfg.life_limit_min {
            Some(ReplaceReason::LifeCounter)
        } else if slot.wear.vb_mm(self.cfg.wear.vb_limit_mm) >= self.cfg.wear.vb_limit_mm {
            Some(ReplaceReason::WearLimit)
        } else {
            None
        }
    }

    fn needs_tool_change(&self, op: usize) -> bool {
        let i = self.seq.plans[op].tool_index;
        i != self.spindle_tool || self.replace_reason(i).is_some()
    }

    fn start_op(&mut self, op: usize) {
        let change = self.needs_tool_change(op);
        self.seq.start_op(op, change);
    }

    /// The tool for `op` arrives in the spindle; a worn-out or broken one is swapped for a
    /// new tool with a new identifier and a new random life.
    fn tool_change_done(&mut self, op: usize) {
        let i = self.seq.plans[op].tool_index;
        if let Some(reason) = self.replace_reason(i) {
            let old = self.tools[i].wear.identifier();
            let pocket = self.tools[i].cfg.pocket;
            let serial = self.tools[i].wear.serial + 1;
            let factor = life_factor(&mut self.rng_tools, self.cfg.wear.life_scatter_sigma);
            self.tools[i].wear = ToolWear::new(pocket, serial, factor);
            self.tool_changes += 1;
            let new = self.tools[i].wear.identifier();
            self.note(format!("tool_replaced:{old}->{new}:{}", reason.as_str()));
        }
        self.spindle_tool = i;
    }

    /// Evaluate the scenario's timed disturbances at the current time.
    fn apply_events(&mut self) -> Disturbances {
        let t = self.t_s;
        let mut d = Disturbances {
            supply_fraction: 1.0,
            supply_pressure_kpa: SHOP_AIR_KPA,
            aerosol_stuck: false,
            stop: None,
            override_pct: self.cfg.machine.spindle_override_pct,
            feed_override_pct: 100.0,
            missing_tool: false,
        };
        let events = self.cfg.events.clone();
        for (i, e) in events.iter().enumerate() {
            let start = e.at_s();
            let end = e.duration_s().map(|d| start + d);
            let active = t >= start && end.is_none_or(|end| t < end);
            if t >= start && !self.fired_start[i] {
                self.fired_start[i] = true;
                self.note(format!("event_start:{}", e.kind_name()));
                match e {
                    Event::ToolBreakage { .. } => self.pending_breakage = true,
                    Event::ModbusOffline { .. } => self.act(Action::StopModbus),
                    Event::OpcuaOffline { .. } => self.act(Action::StopOpcUa),
                    _ => {}
                }
            }
            if let Some(end) = end {
                if t >= end && !self.fired_end[i] && !matches!(e, Event::ToolBreakage { .. }) {
                    self.fired_end[i] = true;
                    self.note(format!("event_end:{}", e.kind_name()));
                    match e {
                        Event::ModbusOffline { .. } => self.act(Action::StartModbus),
                        Event::OpcuaOffline { .. } => self.act(Action::StartOpcUa),
                        _ => {}
                    }
                }
            }
            match *e {
                Event::MqlStarvation {
                    flow_fraction,
                    ramp_s,
                    ..
                } => {
                    let f = ramped(t, start, end, ramp_s, 1.0, flow_fraction);
                    d.supply_fraction = d.supply_fraction.min(f);
                }
                Event::AirPressure {
                    pressure_kpa,
                    ramp_s,
                    ..
                } => {
                    let p = ramped(t, start, end, ramp_s, SHOP_AIR_KPA, pressure_kpa);
                    d.supply_pressure_kpa = d.supply_pressure_kpa.min(p);
                }
                Event::AerosolStuckOn { .. } if active => d.aerosol_stuck = true,
                Event::MachineStop { door_open, .. } if active => d.stop = Some(door_open),
                Event::SpindleOverride { percent, .. } if active => d.override_pct = percent,
                Event::FeedOverride { percent, .. } if active => d.feed_override_pct = percent,
                Event::MissingTool { .. } if active => d.missing_tool = true,
                _ => {}
            }
        }
        d
    }

    /// One fixed step of `dt` simulated seconds.
    pub fn step(&mut self, dt: f64) {
        self.t_s += dt;
        let dist = self.apply_events();
        self.override_pct = dist.override_pct;
        self.feed_override_pct = dist.feed_override_pct;
        self.run_on_check();

        // Machine stop / reset: the program halts; when released it redoes the operation.
        match (self.stopped, dist.stop) {
            (None, Some(door)) => {
                self.stopped = Some(door);
                self.note("machine_stopped".into());
            }
            (Some(_), None) => {
                self.stopped = None;
                self.seq.restart_current_op();
                self.note("machine_restarted".into());
            }
            (Some(_), Some(door)) => self.stopped = Some(door),
            (None, None) => {}
        }

        // Program progress.
        if self.stopped.is_none() {
            let feed = self.cut_feed_rate();
            if let Some(ev) = self.seq.advance(dt, feed) {
                match ev {
                    SeqEvent::StartOp { op } => self.start_op(op),
                    SeqEvent::ToolChangeDone { op } => self.tool_change_done(op),
                    SeqEvent::PartFinished => {
                        let n = self.seq.parts;
                        self.part_factor =
                            life_factor(&mut self.rng_process, self.cfg.process.part_scatter_sigma);
                        self.at_last_part = (self.energy_kwh, self.mql.oil_used_ml);
                        self.note(format!("part_finished:{n}"));
                    }
                }
            }
        }

        // Spindle: commanded speed from the phase, actual follows at the drive's acceleration.
        let running_phase = matches!(
            self.seq.phase,
            Phase::Approach { .. } | Phase::Cut { .. } | Phase::Retract { .. }
        );
        self.cmd_rpm = match (self.stopped, self.seq.current_op()) {
            (None, Some(op)) if running_phase => (self.seq.plans[op].speed_rpm * self.override_pct
                / 100.0)
                .min(self.cfg.machine.max_speed_rpm),
            _ => 0.0,
        };
        let max_delta = self.cfg.machine.spindle_accel_rpm_s * dt;
        let prev_rpm = self.act_rpm;
        self.act_rpm += (self.cmd_rpm - self.act_rpm).clamp(-max_delta, max_delta);
        let omega = self.act_rpm * std::f64::consts::PI / 30.0;
        let alpha = (self.act_rpm - prev_rpm) * std::f64::consts::PI / 30.0 / dt;
        // Power to accelerate the rotor; braking energy goes to the brake resistor (not shown
        // as negative power).
        let accel_kw = (self.cfg.machine.spindle_inertia_kg_m2 * omega * alpha / 1000.0).max(0.0);

        // The cut.
        self.cut = None;
        self.air_cutting = false;
        let mut forces = [0.0; 3];
        if let (None, Phase::Cut { op, hole, done_mm }) = (self.stopped, self.seq.phase.clone()) {
            if self.act_rpm > 50.0 {
                let broken = self.tools[self.seq.plans[op].tool_index].wear.broken;
                if dist.missing_tool || (broken && self.spike_left_s <= 0.0) {
                    // The program moves the tool along its path; nothing is cut.
                    self.air_cutting = true;
                } else {
                    let (mut cut, f) = self.cut_step(op, dt);
                    let mut k = self.part_factor;
                    if broken {
                        // The breakage's spike: the edge jams before it goes.
                        k *= self.cfg.breakage.spike_factor;
                        self.spike_left_s -= dt;
                    }
                    cut.power_kw *= k;
                    cut.tangential_force_n *= k;
                    forces = f.map(|x| x * k);
                    self.cut = Some(cut);
                    if !broken {
                        self.breakage_check(op, dt);
                    }
                }
                let plan = &self.seq.plans[op];
                let (p, _) = cut_position(plan, hole, done_mm);
                self.move_to(p, f64::INFINITY);
            }
        }

        // Spindle power: cutting + no-load losses + acceleration.
        let idle_kw = if self.act_rpm > 1.0 {
            self.cfg.machine.idle_power_kw
                + self.cfg.machine.idle_power_per_krpm_kw * self.act_rpm / 1000.0
        } else {
            0.0
        };
        let cut_kw = self.cut.map_or(0.0, |c| c.power_kw);
        self.power_kw = cut_kw + idle_kw + accel_kw;
        self.torque_nm = cutting::torque_nm(self.power_kw, self.act_rpm);
        self.energy_kwh += self.power_kw * dt / 3600.0;

        // Axes outside the cut: rapid moves towards where the phase wants them.
        let rapid_mm_s = self.cfg.machine.rapid_mm_min / 60.0;
        let prev_pos = self.pos;
        if self.cut.is_none() && !self.air_cutting {
            let target = self.phase_target();
            self.move_to(target, rapid_mm_s * dt);
        }
        let vel_mm_min: Vec<f64> = (0..3)
            .map(|k| (self.pos[k] - prev_pos[k]) / dt * 60.0)
            .collect();
        self.feedrate = if self.cut.is_some() || self.air_cutting {
            self.cut_feed_rate()
        } else {
            (vel_mm_min[0].powi(2) + vel_mm_min[1].powi(2) + vel_mm_min[2].powi(2)).sqrt()
        };
        let rated = self.cfg.machine.axis_rated_force_n;
        for k in 0..3 {
            let base = if k == 2 {
                Z_WEIGHT_PCT
            } else {
                AXIS_FRICTION_PCT
            };
            self.axis_load[k] = base
                + AXIS_VISCOUS_PCT_PER_MM_MIN * vel_mm_min[k].abs()
                + 100.0 * forces[k] / rated;
        }

        let sigma = self.cfg.process.load_noise_pct;
        if sigma > 0.0 {
            let n: f64 = self.rng_process.sample(StandardNormal);
            self.load_noise_pct = sigma * n;
        }

        // MQL unit. The CNC switches the aerosol with the operation (M-code at the approach),
        // so the oil is flowing when the tool enters the cut and stays on between holes.
        let aerosol_on = (self.cfg.machine.cooling == CoolingMode::Mql
            && self.stopped.is_none()
            && matches!(
                self.seq.phase,
                Phase::Approach { .. } | Phase::Cut { .. } | Phase::Retract { .. }
            ))
            || dist.aerosol_stuck;
        let door_open = self.door_open();
        self.mql.step(
            dt,
            MqlInputs {
                aerosol_on,
                cutting: self.cut.is_some(),
                door_open,
                supply_fraction: dist.supply_fraction,
                supply_pressure_kpa: dist.supply_pressure_kpa,
                ambient_c: self.cfg.machine.ambient_c,
            },
            &mut self.rng_noise,
        );

        // Spindle bearings.
        let load_fraction = self.power_kw / self.cfg.machine.rated_power_kw;
        self.bearing.step(
            dt,
            self.act_rpm,
            load_fraction,
            self.power_kw,
            self.cfg.machine.ambient_c,
            &mut self.rng_noise,
        );
    }

    /// Actual feed rate in the current cut (feed per tooth is kept; the feed follows the
    /// actual spindle speed, as with a spindle-speed override).
    fn cut_feed_rate(&self) -> f64 {
        match self.seq.phase {
            Phase::Cut { op, .. } => {
                let plan = &self.seq.plans[op];
                cutting::feed_rate_mm_min(plan.cfg.fz, plan.edges, self.act_rpm)
                    * self.feed_override_pct
                    / 100.0
            }
            _ => 0.0,
        }
    }

    /// Cutting power, forces, tool life and wear for one step in operation `op`.
    fn cut_step(&mut self, op: usize, dt: f64) -> (CutState, [f64; 3]) {
        let plan = self.seq.plans[op].clone();
        let w = self.cfg.wear.clone();
        let vc = cutting::cutting_speed_m_min(self.act_rpm, plan.diameter_mm);
        // A feed override changes the feed per tooth (the speed stays).
        let fz = plan.cfg.fz * self.feed_override_pct / 100.0;
        let vb = self.tools[plan.tool_index]
            .wear
            .vb_mm(self.cfg.wear.vb_limit_mm);
        // Cutting force rises with flank wear (larger contact on the flank).
        let wear_factor = 1.0 + w.force_k_per_mm * vb;
        let vf = cutting::feed_rate_mm_min(fz, plan.edges, self.act_rpm);
        let (kc, power, forces, ft) = if plan.is_drill() {
            let fn_mm = fz * plan.edges as f64;
            let kc = cutting::specific_cutting_force(
                self.kienzle,
                cutting::chip_thickness_drilling(fn_mm),
            );
            let p = cutting::drilling_power_kw(fn_mm, vc, plan.diameter_mm, kc) * wear_factor;
            let thrust = cutting::drill_thrust_n(kc, plan.diameter_mm, fn_mm) * wear_factor;
            (
                kc,
                p,
                [0.0, 0.0, thrust],
                cutting::tangential_force_n(p, vc),
            )
        } else {
            let how = if plan.cfg.kind == crate::scenario::OperationKind::Face {
                Engagement::Centred
            } else {
                Engagement::Side
            };
            let h = cutting::mean_chip_thickness_milling(fz, plan.cfg.ae, plan.diameter_mm, how);
            let kc = cutting::specific_cutting_force(self.kienzle, h);
            let p = cutting::milling_power_kw(plan.ap_mm, plan.cfg.ae, vf, kc) * wear_factor;
            let ft = cutting::tangential_force_n(p, vc);
            // Path along X (lanes) or Y (contour sides): feed force along, normal across.
            let (_, dir) = match self.seq.phase {
                Phase::Cut { hole, done_mm, .. } => cut_position(&plan, hole, done_mm),
                _ => ([0.0; 3], [1.0, 0.0]),
            };
            let fx = ft * (FEED_FORCE_RATIO * dir[0].abs() + NORMAL_FORCE_RATIO * dir[1].abs());
            let fy = ft * (FEED_FORCE_RATIO * dir[1].abs() + NORMAL_FORCE_RATIO * dir[0].abs());
            (kc, p, [fx, fy, AXIAL_FORCE_RATIO * ft], ft)
        };

        let cooling_factor = self.cooling_life_factor();
        let slot = &mut self.tools[plan.tool_index];
        let c =
            slot.taylor.c(w.taylor_x, w.taylor_y) * slot.wear.c_factor * slot.cfg.taylor_c_factor;
        let life =
            wear::taylor_life_min(c, slot.taylor.n, w.taylor_x, w.taylor_y, vc, fz, plan.ap_mm)
                * cooling_factor;
        slot.wear.cut(dt / 60.0, life);
        (
            CutState {
                vc_m_min: vc,
                fz_mm: fz,
                ap_mm: plan.ap_mm,
                kc_n_mm2: kc,
                life_min: life,
                cooling_factor,
                power_kw: power,
                tangential_force_n: ft,
            },
            forces,
        )
    }

    /// Tool-life multiplier of the cooling mode; MQL degrades towards dry when the oil does
    /// not reach the cut (starved pump, poor atomisation at low air pressure).
    fn cooling_life_factor(&self) -> f64 {
        let w = &self.cfg.wear;
        match self.cfg.machine.cooling {
            CoolingMode::Mql => {
                w.life_factor_dry
                    + (w.life_factor_mql - w.life_factor_dry) * self.mql.delivered_fraction()
            }
            CoolingMode::Flood => w.life_factor_flood,
            CoolingMode::ColdAir => w.life_factor_cold_air,
            CoolingMode::Dry | CoolingMode::None => w.life_factor_dry,
        }
    }

    fn breakage_check(&mut self, op: usize, dt: f64) {
        let w = &self.cfg.wear;
        let i = self.seq.plans[op].tool_index;
        let u = self.tools[i].wear.consumed;
        let p = wear::breakage_hazard_per_min(
            w.breakage_base_per_min,
            w.breakage_wear_per_min,
            w.breakage_wear_exponent,
            u,
        ) * dt
            / 60.0;
        let random_break = self.rng_break.random::<f64>() < p;
        if random_break || self.pending_breakage {
            self.pending_breakage = false;
            self.tools[i].wear.broken = true;
            self.breakages += 1;
            let id = self.tools[i].wear.identifier();
            let why = if random_break { "wear" } else { "forced" };
            self.note(format!("tool_breakage:{id}:{why}"));
            let b = &self.cfg.breakage;
            self.spike_left_s = b.spike_s;
            if b.run_on_s > 0.0 {
                // Nobody notices yet: the program goes on with the broken tool.
                self.run_on = Some((op, self.t_s + b.run_on_s));
            } else {
                self.seq.interrupt(op);
                // The CNC stops the spindle at once (emergency retract).
                self.cmd_rpm = 0.0;
            }
        }
    }

    /// A broken tool running on: the machine is interrupted when its time is up or its
    /// operation is over, and the operation is redone with a new tool.
    fn run_on_check(&mut self) {
        let Some((op, until)) = self.run_on else {
            return;
        };
        let in_op = matches!(
            self.seq.phase,
            Phase::Cut { op: o, .. } | Phase::Retract { op: o, .. } if o == op
        );
        if self.t_s >= until || !in_op {
            self.run_on = None;
            self.spike_left_s = 0.0;
            self.seq.interrupt(op);
            self.note("interrupted_after_breakage".into());
        }
    }

    fn door_open(&self) -> bool {
        match self.stopped {
            Some(door) => door,
            None => match self.seq.phase {
                Phase::PartChange { .. } => self.cfg.program.door_opens_on_part_change,
                Phase::Interrupted { .. } => true,
                _ => false,
            },
        }
    }

    /// Where the axes head outside the cut.
    fn phase_target(&self) -> [f64; 3] {
        if self.stopped.is_some() {
            return self.pos;
        }
        match self.seq.phase {
            Phase::ToolChange { .. } | Phase::Interrupted { .. } => {
                [self.pos[0], self.pos[1], Z_HOME_MM]
            }
            Phase::Approach { op, .. } => cut_position(&self.seq.plans[op], 0, 0.0).0,
            Phase::Retract { op, hole, .. } => {
                let mut p = cut_position(&self.seq.plans[op], hole, 0.0).0;
                p[2] = 2.0;
                p
            }
            Phase::Cut { op, hole, done_mm } => cut_position(&self.seq.plans[op], hole, done_mm).0,
            Phase::PartChange { .. } => LOAD_POSITION,
        }
    }

    /// Move each axis towards `target` by at most `max_step` mm.
    fn move_to(&mut self, target: [f64; 3], max_step: f64) {
        for (p, t) in self.pos.iter_mut().zip(target) {
            *p += (t - *p).clamp(-max_step, max_step);
        }
    }

    /// The state in engineering units (served values before Modbus quantisation) and truth.
    /// Spindle energy since start (the truth, ∫ power dt over every step).
    pub fn energy_kwh(&self) -> f64 {
        self.energy_kwh
    }

    pub fn observe(&self) -> Observation {
        let m = &self.cfg.machine;
        let slot = &self.tools[self.spindle_tool];
        let vb_limit = self.cfg.wear.vb_limit_mm;
        let stopped = self.stopped.is_some();
        let channel_state = if stopped {
            2
        } else if matches!(self.seq.phase, Phase::Interrupted { .. }) {
            1
        } else {
            0
        };
        let operation = match (stopped, &self.seq.phase) {
            (true, _) | (_, Phase::ToolChange { .. }) | (_, Phase::PartChange { .. }) => {
                String::new()
            }
            (false, _) => self
                .seq
                .current_op()
                .map(|op| self.seq.plans[op].cfg.name.clone())
                .unwrap_or_default(),
        };
        let operation_mode = if matches!(self.seq.phase, Phase::Interrupted { .. }) && !stopped {
            "manual"
        } else {
            m.operation_mode.as_str()
        };
        // Remaining life at the current conditions, else at the last ones this tool cut.
        let remaining = match self.cut {
            Some(c) => Some(((1.0 - slot.wear.consumed) * c.life_min).max(0.0)),
            None => slot.wear.remaining_life_min(),
        };
        Observation {
            sim_time_s: self.t_s,
            spindle_act_speed_rpm: self.act_rpm,
            spindle_cmd_speed_rpm: self.cmd_rpm,
            spindle_load_pct: (100.0 * self.power_kw / m.rated_power_kw + self.load_noise_pct)
                .max(0.0),
            spindle_power_kw: (self.power_kw + self.load_noise_pct / 100.0 * m.rated_power_kw)
                .max(0.0),
            spindle_torque_nm: self.torque_nm,
            spindle_rotating: self.act_rpm > 1.0,
            spindle_override_pct: self.override_pct,
            feedrate_mm_min: self.feedrate,
            program_name: self.cfg.program.name.clone(),
            channel_state,
            operation,
            tool_identifier: slot.wear.identifier(),
            tool_material: slot.cfg.material.as_str(),
            tool_coating: slot.cfg.coating.as_str(),
            tool_diameter_mm: slot.cfg.diameter_mm,
            tool_edges: slot.cfg.edges,
            tool_life_min: slot.wear.counter_min,
            tool_life_warning_min: slot.cfg.life_warning_min,
            tool_life_limit_min: slot.cfg.life_limit_min,
            workpiece_material: self.cfg.workpiece.material.clone(),
            workpiece_group: self.cfg.workpiece.group.as_str(),
            workpiece_hardness_hrc: self.cfg.workpiece.hardness_hrc,
            cooling_mode: m.cooling.as_str(),
            parts: self.seq.parts,
            operation_mode,
            door_open: self.door_open(),
            axis_load_pct: self.axis_load,
            axis_position_mm: self.pos,
            mql_aerosol_on: self.mql.aerosol_on,
            mql_flow_measured_ml_h: self.mql.measured_flow_ml_h,
            mql_flow_true_ml_h: self.mql.flow_ml_h,
            mql_flow_setpoint_ml_h: self.mql.setpoint_ml_h(),
            mql_pressure_kpa: self.mql.pressure_kpa,
            mql_pressure_setpoint_kpa: self.mql.pressure_setpoint_kpa(),
            mql_reservoir_pct: self.mql.reservoir_pct(),
            mql_strokes: self.mql.strokes,
            mql_flow_ok: self.mql.flow_ok(),
            mql_pressure_ok: self.mql.pressure_ok(),
            mql_fault_code: self.mql.fault_code,
            mql_mist_mg_m3: self.mql.mist_mg_m3,
            mql_aerosol_temp_c: self.mql.aerosol_temp_c,
            mql_oil_dispensed_ml: self.mql.oil_dispensed_ml,
            mql_pump_time_s: self.mql.pump_time_s,
            mql_oil_used_ml: self.mql.oil_used_ml,
            vibration_rms_mm_s: self.bearing.vibration_rms_mm_s,
            vibration_peak_mm_s: self.bearing.vibration_peak_mm_s,
            bearing_temp_c: self.bearing.temperature_c,
            cutting: self.cut.is_some(),
            vb_mm: slot.wear.vb_mm(vb_limit),
            remaining_life_min: remaining,
            life_consumed: slot.wear.consumed,
            cut: self.cut,
            energy_kwh: self.energy_kwh,
            bearing_remaining_fraction: self.bearing.remaining_fraction(),
            bearing_running_h: self.bearing.running_h,
            at_last_part: self.at_last_part,
            tool_changes: self.tool_changes,
            breakages: self.breakages,
            air_cutting: self.air_cutting,
            feed_override_pct: self.feed_override_pct,
        }
    }
}

/// Disturbances in force at one instant.
struct Disturbances {
    supply_fraction: f64,
    supply_pressure_kpa: f64,
    aerosol_stuck: bool,
    /// Some(door open) while a machine stop is in force.
    stop: Option<bool>,
    override_pct: f64,
    feed_override_pct: f64,
    missing_tool: bool,
}

/// A value that ramps from `normal` to `disturbed` over `ramp_s` after `start`, holds, and
/// ramps back over `ramp_s` after `end`.
fn ramped(t: f64, start: f64, end: Option<f64>, ramp_s: f64, normal: f64, disturbed: f64) -> f64 {
    let frac = |dt: f64| {
        if ramp_s <= 0.0 {
            1.0
        } else {
            (dt / ramp_s).clamp(0.0, 1.0)
        }
    };
    if t < start {
        return normal;
    }
    let into = frac(t - start);
    let level = match end {
        Some(end) if t >= end => into * (1.0 - frac(t - end)),
        _ => into,
    };
    normal + (disturbed - normal) * level
}

/// Per-tool multiplier on Taylor's C: lognormal with median 1.
fn life_factor(rng: &mut StdRng, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return 1.0;
    }
    LogNormal::new(0.0, sigma)
        .map(|d| d.sample(rng))
        .unwrap_or(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &ScenarioConfig, seconds: f64) -> Machine {
        let mut m = Machine::new(cfg);
        let steps = (seconds / cfg.step_s).round() as u64;
        for _ in 0..steps {
            m.step(cfg.step_s);
        }
        m
    }

    #[test]
    fn same_seed_same_run() {
        let cfg = ScenarioConfig::default();
        let a = run(&cfg, 600.0).observe();
        let b = run(&cfg, 600.0).observe();
        assert_eq!(a, b);
        let other = ScenarioConfig {
            seed: 99,
            ..cfg.clone()
        };
        let c = run(&other, 600.0).observe();
        assert_ne!(a.mql_pressure_kpa, c.mql_pressure_kpa);
    }

    #[test]
    fn a_cycle_makes_a_part_and_uses_power() {
        let cfg = ScenarioConfig::default();
        let mut m = Machine::new(&cfg);
        let mut saw_cut = [false; 3];
        let mut max_load: f64 = 0.0;
        while m.seq.parts == 0 {
            m.step(cfg.step_s);
            let o = m.observe();
            if o.cutting {
                let op = m.seq.current_op().unwrap();
                saw_cut[op] = true;
                assert!(o.mql_aerosol_on);
                assert!(o.spindle_power_kw > 0.5);
                max_load = max_load.max(o.spindle_load_pct);
            }
            assert!(m.t_s < 1000.0, "no part after 1000 s");
        }
        assert_eq!(saw_cut, [true; 3]);
        assert!(max_load > 5.0 && max_load < 60.0, "{max_load}");
        let o = m.observe();
        assert_eq!(o.parts, 1);
        assert!(o.energy_kwh > 0.0);
        assert!(o.mql_oil_used_ml > 0.0);
    }

    #[test]
    fn only_cutting_wears_the_tool() {
        let cfg = ScenarioConfig::default();
        let mut m = Machine::new(&cfg);
        let mut last = m.tools.iter().map(|t| t.wear.consumed).collect::<Vec<_>>();
        for _ in 0..20_000 {
            m.step(cfg.step_s);
            let now = m.tools.iter().map(|t| t.wear.consumed).collect::<Vec<_>>();
            let cutting = m.observe().cutting;
            for (a, b) in last.iter().zip(&now) {
                if !cutting {
                    assert!(b <= a || *b == 0.0, "wear without cutting");
                }
            }
            last = now;
        }
    }

    #[test]
    fn dry_wears_faster_than_mql() {
        let mql = ScenarioConfig::default();
        let mut dry = mql.clone();
        dry.machine.cooling = CoolingMode::Dry;
        let a = run(&mql, 1200.0);
        let b = run(&dry, 1200.0);
        assert!(b.tools[0].wear.consumed > a.tools[0].wear.consumed * 1.3);
        assert_eq!(b.observe().mql_oil_used_ml, 0.0);
    }

    #[test]
    fn forced_breakage_interrupts_and_replaces() {
        let mut cfg = ScenarioConfig::default();
        cfg.events.push(Event::ToolBreakage { at_s: 30.0 });
        let mut m = Machine::new(&cfg);
        let first = m.observe().tool_identifier;
        let mut saw_interrupt = false;
        for _ in 0..4000 {
            m.step(cfg.step_s);
            let o = m.observe();
            if o.channel_state == 1 {
                saw_interrupt = true;
                assert!(o.door_open);
                assert_eq!(o.spindle_cmd_speed_rpm, 0.0);
            }
        }
        assert!(saw_interrupt);
        let o = m.observe();
        assert_eq!(o.breakages, 1);
        assert_eq!(o.tool_changes, 1);
        assert_eq!(first, "T1-0001");
        assert_eq!(m.tools[0].wear.identifier(), "T1-0002");
    }

    #[test]
    fn a_breakage_with_run_on_spikes_then_cuts_air_while_the_program_goes_on() {
        let mut cfg = ScenarioConfig {
            step_s: 0.01,
            ..ScenarioConfig::default()
        };
        cfg.breakage.spike_factor = 2.5;
        cfg.breakage.spike_s = 0.05;
        cfg.breakage.run_on_s = 5.0;
        cfg.events.push(Event::ToolBreakage { at_s: 30.0 });
        let mut m = Machine::new(&cfg);
        let mut before = None;
        while m.observe().breakages == 0 {
            let o = m.observe();
            if o.cutting {
                before = Some(o.spindle_load_pct);
            }
            m.step(cfg.step_s);
            assert!(m.t_s < 100.0);
        }
        let before = before.unwrap();
        // The spike, from the step after: the same cut at 2.5x (its idle share aside).
        m.step(cfg.step_s);
        let o = m.observe();
        assert!(
            o.spindle_load_pct > 1.8 * before,
            "{} vs {before}",
            o.spindle_load_pct
        );
        for _ in 0..10 {
            m.step(cfg.step_s);
        }
        // Air: the feed goes on, the load is the spindle's idle share, nothing is cut.
        let o = m.observe();
        assert!(o.air_cutting && !o.cutting);
        assert!(o.feedrate_mm_min > 0.0 && o.channel_state == 0);
        assert!(o.spindle_load_pct < 0.5 * before, "{}", o.spindle_load_pct);
        // Interrupted when the run-on is over (or its operation is).
        for _ in 0..600 {
            m.step(cfg.step_s);
        }
        assert_eq!(m.observe().channel_state, 1);
    }

    #[test]
    fn a_missing_tool_cuts_air_and_a_feed_override_moves_feed_and_load() {
        let mut cfg = ScenarioConfig::default();
        cfg.events.push(Event::FeedOverride {
            at_s: 20.0,
            duration_s: Some(10.0),
            percent: 120.0,
        });
        cfg.events.push(Event::MissingTool {
            at_s: 40.0,
            duration_s: Some(5.0),
        });
        let mut m = Machine::new(&cfg);
        let at = |m: &mut Machine, t: f64| {
            while m.t_s < t {
                m.step(cfg.step_s);
            }
            m.observe()
        };
        let normal = at(&mut m, 15.0);
        let fast = at(&mut m, 25.0);
        assert!(normal.cutting && fast.cutting);
        assert!((fast.feedrate_mm_min / normal.feedrate_mm_min - 1.2).abs() < 1e-6);
        assert!(fast.spindle_load_pct > normal.spindle_load_pct * 1.05);
        let air = at(&mut m, 42.0);
        assert!(air.air_cutting && !air.cutting && air.feedrate_mm_min > 0.0);
        assert!(air.spindle_load_pct < 0.5 * normal.spindle_load_pct);
        assert!(at(&mut m, 47.0).cutting);
    }

    #[test]
    fn parts_scatter_and_the_load_is_noisy_only_when_asked() {
        let mut cfg = ScenarioConfig::default();
        let quiet = run(&cfg, 20.0).observe();
        assert_eq!(quiet, run(&cfg, 20.0).observe());
        cfg.process.load_noise_pct = 0.5;
        cfg.process.part_scatter_sigma = 0.05;
        let mut m = run(&cfg, 20.0);
        let a = m.observe().spindle_load_pct;
        m.step(cfg.step_s);
        assert_ne!(a, m.observe().spindle_load_pct, "noise");
        // A new part, a new factor.
        let f0 = m.part_factor;
        while m.seq.parts == 0 {
            m.step(cfg.step_s);
        }
        assert_ne!(f0, m.part_factor);
        assert!((m.part_factor.ln()).abs() < 0.3);
    }

    #[test]
    fn life_counter_limit_changes_the_tool() {
        let mut cfg = ScenarioConfig::default();
        cfg.tools[0].life_limit_min = 1.0;
        cfg.tools[0].life_warning_min = 0.5;
        let m = run(&cfg, 1500.0);
        assert!(m.tools[0].wear.serial >= 2);
        // The counter never runs far past the limit: at most one operation's cut.
        assert!(m.tools[0].wear.counter_min < 2.0);
    }

    #[test]
    fn ramp_shapes() {
        assert_eq!(ramped(5.0, 10.0, Some(20.0), 2.0, 1.0, 0.0), 1.0);
        assert_eq!(ramped(11.0, 10.0, Some(20.0), 2.0, 1.0, 0.0), 0.5);
        assert_eq!(ramped(15.0, 10.0, Some(20.0), 2.0, 1.0, 0.0), 0.0);
        assert_eq!(ramped(21.0, 10.0, Some(20.0), 2.0, 1.0, 0.0), 0.5);
        assert_eq!(ramped(30.0, 10.0, Some(20.0), 2.0, 1.0, 0.0), 1.0);
        assert_eq!(ramped(30.0, 10.0, None, 2.0, 1.0, 0.0), 0.0);
    }

    #[test]
    fn starvation_shortens_life() {
        let normal = ScenarioConfig::default();
        let mut starved = normal.clone();
        starved.events.push(Event::MqlStarvation {
            at_s: 0.0,
            duration_s: None,
            flow_fraction: 0.0,
            ramp_s: 1.0,
        });
        let a = run(&normal, 900.0);
        let b = run(&starved, 900.0);
        assert!(b.tools[0].wear.consumed > a.tools[0].wear.consumed * 1.3);
        let o = b.observe();
        assert!(o.mql_oil_used_ml < 0.01, "{}", o.mql_oil_used_ml);
    }
}
