//! The true state at one instant: every served value, in engineering units exactly as a
//! client decodes it, plus the ground truth the agent has to estimate.

use crate::nodes::{Value, NODES};
use crate::physics::Observation;
use crate::registers::{RegisterDef, RegisterImage, Table, REGISTER_MAP};

/// OPC UA values of the CNC (exactly what the nodes serve).
#[derive(Debug, Clone, PartialEq)]
pub struct CncValues {
    pub spindle_act_speed_rpm: f64,
    pub spindle_cmd_speed_rpm: f64,
    pub spindle_load_pct: f64,
    pub spindle_power_kw: f64,
    pub spindle_torque_nm: f64,
    pub spindle_is_rotating: bool,
    pub spindle_override_pct: f64,
    pub feedrate_mm_min: f64,
    pub program_name: String,
    /// OPC 40502 ChannelState: 0 Active, 1 Interrupted, 2 Reset.
    pub channel_state: i32,
    pub operation: String,
    pub tool_identifier: String,
    pub tool_material: String,
    pub tool_coating: String,
    pub tool_diameter_mm: f64,
    pub tool_edges: u32,
    pub tool_life_min: f64,
    pub tool_life_warning_min: f64,
    pub tool_life_limit_min: f64,
    pub workpiece_material: String,
    pub workpiece_group: String,
    pub workpiece_hardness_hrc: f64,
    pub cooling_mode: String,
    pub parts_counter: u32,
    pub operation_mode: String,
    pub door_open: bool,
    /// The machine's running clock: simulated seconds since start (a CNC's power-on time
    /// counter). An agent integrates on it so that a faster-than-real-time run counts right.
    pub power_on_time_s: f64,
    /// X, Y, Z.
    pub axis_load_pct: [f64; 3],
    pub axis_position_mm: [f64; 3],
}

/// Unit 1, the MQL unit, as served (raw · scale).
#[derive(Debug, Clone, PartialEq)]
pub struct MqlValues {
    pub oil_flow_ml_h: f64,
    pub air_pressure_kpa: f64,
    pub reservoir_level_pct: f64,
    pub pump_strokes: u32,
    pub status_word: u16,
    pub aerosol_on: bool,
    pub flow_ok: bool,
    pub pressure_ok: bool,
    pub fault: bool,
    pub fault_code: u16,
    pub mist_mg_m3: f32,
    pub aerosol_temp_c: f64,
    pub oil_dispensed_ml: f64,
    pub pump_operating_time_s: u64,
    pub flow_deviation_ml_h: f64,
    pub flow_setpoint_ml_h: f64,
    pub air_pressure_setpoint_kpa: f64,
}

/// Unit 2, the spindle condition sensor, as served.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorValues {
    pub vibration_rms_mm_s: f64,
    pub bearing_temp_c: f64,
    pub vibration_peak_mm_s: f32,
}

/// Ground truth (not served anywhere).
#[derive(Debug, Clone, PartialEq)]
pub struct TruthValues {
    pub cutting: bool,
    /// True flank wear of the tool in the spindle, mm.
    pub vb_mm: f64,
    /// Minutes of cutting left to VB_limit at the current (or last) conditions.
    pub remaining_life_min: Option<f64>,
    /// Consumed life fraction u of the tool in the spindle (1 = at VB_limit).
    pub life_consumed: f64,
    /// Tool life at the current cutting conditions, minutes (while cutting).
    pub life_at_conditions_min: Option<f64>,
    /// Actual cutting speed while cutting, m/min.
    pub vc_m_min: Option<f64>,
    /// True oil flow (the served one has sensor noise and 0.1 ml/h resolution).
    pub oil_flow_ml_h: f64,
    /// Oil used since start.
    pub oil_used_ml: f64,
    pub spindle_power_kw: f64,
    pub spindle_energy_kwh: f64,
    pub parts: u32,
    pub vibration_rms_mm_s: f64,
    /// Defined from the degradation onset on.
    pub bearing_remaining_fraction: Option<f64>,
    pub bearing_running_h: f64,
    /// Spindle energy (kWh) and oil used (ml) since start at the instant the last part was
    /// finished: exact part boundaries for a test that notices the counter a little late.
    pub at_last_part: (f64, f64),
    pub tool_changes: u32,
    pub breakages: u32,
}

/// The true state at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub sim_time_s: f64,
    /// Wall clock when this state was published, ms since the Unix epoch.
    pub wall_time_ms: u64,
    pub cnc: CncValues,
    pub mql: MqlValues,
    pub sensor: SensorValues,
    pub truth: TruthValues,
    /// The raw Modbus registers being served.
    pub registers: RegisterImage,
}

impl Snapshot {
    pub fn from_observation(o: &Observation, wall_time_ms: u64) -> Snapshot {
        let registers = RegisterImage::encode(o);
        let r = &registers;
        let get = |key: &str| {
            let d = REGISTER_MAP
                .iter()
                .find(|d| d.key == key)
                .expect("key in map");
            r.value(d)
        };
        let status_word = r.mql_input[5];
        let mql = MqlValues {
            oil_flow_ml_h: get("mql.oil_flow"),
            air_pressure_kpa: get("mql.air_pressure"),
            reservoir_level_pct: get("mql.reservoir_level"),
            pump_strokes: get("mql.pump_strokes") as u32,
            status_word,
            aerosol_on: r.mql_discrete[0],
            flow_ok: r.mql_discrete[1],
            pressure_ok: r.mql_discrete[2],
            fault: r.mql_discrete[3],
            fault_code: r.mql_input[6],
            mist_mg_m3: get("mql.mist_concentration") as f32,
            aerosol_temp_c: get("mql.aerosol_temperature"),
            oil_dispensed_ml: get("mql.oil_dispensed_total"),
            pump_operating_time_s: crate::registers::decode_u64(
                &r.mql_input[14..18],
                crate::registers::WordOrder::Abcd,
            ),
            flow_deviation_ml_h: get("mql.oil_flow_deviation"),
            flow_setpoint_ml_h: get("mql.oil_flow_setpoint"),
            air_pressure_setpoint_kpa: get("mql.air_pressure_setpoint"),
        };
        let sensor = SensorValues {
            vibration_rms_mm_s: get("spindle.vibration_rms"),
            bearing_temp_c: get("spindle.bearing_temperature"),
            vibration_peak_mm_s: get("spindle.vibration_peak") as f32,
        };
        let cnc = CncValues {
            spindle_act_speed_rpm: o.spindle_act_speed_rpm,
            spindle_cmd_speed_rpm: o.spindle_cmd_speed_rpm,
            spindle_load_pct: o.spindle_load_pct,
            spindle_power_kw: o.spindle_power_kw,
            spindle_torque_nm: o.spindle_torque_nm,
            spindle_is_rotating: o.spindle_rotating,
            spindle_override_pct: o.spindle_override_pct,
            feedrate_mm_min: o.feedrate_mm_min,
            program_name: o.program_name.clone(),
            channel_state: o.channel_state,
            operation: o.operation.clone(),
            tool_identifier: o.tool_identifier.clone(),
            tool_material: o.tool_material.to_string(),
            tool_coating: o.tool_coating.to_string(),
            tool_diameter_mm: o.tool_diameter_mm,
            tool_edges: o.tool_edges,
            tool_life_min: o.tool_life_min,
            tool_life_warning_min: o.tool_life_warning_min,
            tool_life_limit_min: o.tool_life_limit_min,
            workpiece_material: o.workpiece_material.clone(),
            workpiece_group: o.workpiece_group.to_string(),
            workpiece_hardness_hrc: o.workpiece_hardness_hrc,
            cooling_mode: o.cooling_mode.to_string(),
            parts_counter: o.parts,
            operation_mode: o.operation_mode.to_string(),
            door_open: o.door_open,
            power_on_time_s: o.sim_time_s,
            axis_load_pct: o.axis_load_pct,
            axis_position_mm: o.axis_position_mm,
        };
        let truth = TruthValues {
            cutting: o.cutting,
            vb_mm: o.vb_mm,
            remaining_life_min: o.remaining_life_min,
            life_consumed: o.life_consumed,
            life_at_conditions_min: o.cut.map(|c| c.life_min),
            vc_m_min: o.cut.map(|c| c.vc_m_min),
            oil_flow_ml_h: o.mql_flow_true_ml_h,
            oil_used_ml: o.mql_oil_used_ml,
            spindle_power_kw: o.spindle_power_kw,
            spindle_energy_kwh: o.energy_kwh,
            parts: o.parts,
            vibration_rms_mm_s: o.vibration_rms_mm_s,
            bearing_remaining_fraction: o.bearing_remaining_fraction,
            bearing_running_h: o.bearing_running_h,
            at_last_part: o.at_last_part,
            tool_changes: o.tool_changes,
            breakages: o.breakages,
        };
        Snapshot {
            sim_time_s: o.sim_time_s,
            wall_time_ms,
            cnc,
            mql,
            sensor,
            truth,
            registers,
        }
    }

    /// Every OPC UA variable of the README with the value being served: (node id, value).
    pub fn opcua_values(&self) -> Vec<(&'static str, Value)> {
        NODES.iter().map(|n| (n.id, (n.get)(&self.cnc))).collect()
    }

    /// The served value of one OPC UA node id (e.g. `Spindle.ActSpeed`).
    pub fn opcua_value(&self, node_id: &str) -> Option<Value> {
        NODES
            .iter()
            .find(|n| n.id == node_id)
            .map(|n| (n.get)(&self.cnc))
    }

    /// Every Modbus register row of the README with its engineering value (raw · scale;
    /// discrete inputs and status bits as 0/1).
    pub fn modbus_values(&self) -> Vec<(&'static RegisterDef, f64)> {
        REGISTER_MAP
            .iter()
            .map(|d| (d, self.registers.value(d)))
            .collect()
    }

    /// The engineering value of one Modbus row by unit, table and address.
    pub fn modbus_value(&self, unit: u8, table: Table, address: u16) -> Option<f64> {
        REGISTER_MAP
            .iter()
            .find(|d| d.unit == unit && d.table == table && d.address == address)
            .map(|d| self.registers.value(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::Machine;
    use crate::scenario::ScenarioConfig;

    #[test]
    fn served_values_decode_back_to_the_physics() {
        let cfg = ScenarioConfig::default();
        let mut m = Machine::new(&cfg);
        for _ in 0..300 {
            m.step(0.1);
        }
        let o = m.observe();
        let s = Snapshot::from_observation(&o, 0);
        assert!((s.mql.oil_flow_ml_h - o.mql_flow_measured_ml_h).abs() <= 0.05 + 1e-9);
        assert!((s.mql.air_pressure_kpa - o.mql_pressure_kpa).abs() <= 0.5 + 1e-9);
        assert!((s.mql.reservoir_level_pct - o.mql_reservoir_pct).abs() <= 0.05 + 1e-9);
        assert_eq!(s.mql.pump_strokes, o.mql_strokes);
        assert_eq!(s.mql.mist_mg_m3, o.mql_mist_mg_m3 as f32);
        assert_eq!(s.mql.oil_dispensed_ml, o.mql_oil_dispensed_ml);
        assert_eq!(s.mql.pump_operating_time_s, o.mql_pump_time_s as u64);
        assert!((s.mql.aerosol_temp_c - o.mql_aerosol_temp_c).abs() <= 0.05 + 1e-9);
        assert!(
            (s.mql.flow_deviation_ml_h - (s.mql.oil_flow_ml_h - s.mql.flow_setpoint_ml_h)).abs()
                < 1e-9
        );
        assert_eq!(s.mql.flow_setpoint_ml_h, 300.0 * 0.1);
        assert_eq!(s.mql.air_pressure_setpoint_kpa, 550.0);
        assert_eq!(s.mql.aerosol_on, s.mql.status_word & 1 == 1);
        assert_eq!(s.mql.fault, s.mql.fault_code != 0);
        assert!((s.sensor.vibration_rms_mm_s - o.vibration_rms_mm_s).abs() <= 0.005 + 1e-9);
        assert!((s.sensor.bearing_temp_c - o.bearing_temp_c).abs() <= 0.05 + 1e-9);
        assert_eq!(s.sensor.vibration_peak_mm_s, o.vibration_peak_mm_s as f32);
        // Cutting 26 s in: aerosol on, spindle turning.
        assert!(s.truth.cutting && s.mql.aerosol_on && s.cnc.spindle_is_rotating);
        assert_eq!(s.opcua_values().len(), 34);
        assert_eq!(s.modbus_values().len(), 20);
        assert_eq!(
            s.opcua_value("Tool.Identifier"),
            Some(Value::String("T1-0001".into()))
        );
        assert_eq!(
            s.modbus_value(1, Table::HoldingRegisters, 100),
            Some(300.0 * 0.1)
        );
    }
}
