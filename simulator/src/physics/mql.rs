//! The MQL (minimum quantity lubrication) unit: oil metering pump, aerosol valve, supply air,
//! reservoir, and the oil mist it puts into the machine enclosure.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::scenario::MqlConfig;

/// Pressure below which the unit reports "pressure not OK" / fault 2: 3.8 bar, the low-air
/// threshold given in the SKF UFD10 MQL unit manual.
pub const PRESSURE_OK_KPA: f64 = 380.0;
/// Flow OK band around the setpoint while the aerosol is on (±30 %).
pub const FLOW_TOLERANCE: f64 = 0.3;
/// Debounce before a low flow / low pressure becomes a fault code (assumption; units latch a
/// fault only after the condition persists, so a normal start-up ramp raises none).
pub const LOW_FLOW_FAULT_AFTER_S: f64 = 10.0;
pub const LOW_PRESSURE_FAULT_AFTER_S: f64 = 2.0;
/// Reservoir level under which the unit reports "reservoir empty".
pub const RESERVOIR_EMPTY_PCT: f64 = 0.5;

/// Fault codes as served in input register 6.
pub const FAULT_NONE: u16 = 0;
pub const FAULT_LOW_FLOW: u16 = 1;
pub const FAULT_LOW_PRESSURE: u16 = 2;
pub const FAULT_RESERVOIR_EMPTY: u16 = 3;

/// What drives the unit in one step.
#[derive(Debug, Clone, Copy)]
pub struct MqlInputs {
    /// The aerosol valve is commanded on.
    pub aerosol_on: bool,
    /// The tool is in the cut (oil lands on the cut rather than in the air).
    pub cutting: bool,
    pub door_open: bool,
    /// Fraction of the setpoint the oil supply can deliver (1 normally, ~0 when starved).
    pub supply_fraction: f64,
    /// Shop air supply pressure upstream of the unit's regulator.
    pub supply_pressure_kpa: f64,
    pub ambient_c: f64,
}

#[derive(Debug, Clone)]
pub struct Mql {
    cfg: MqlConfig,
    t_s: f64,
    pub aerosol_on: bool,
    /// True oil flow through the metering line.
    pub flow_ml_h: f64,
    /// What the flow sensor reads (true flow plus 1 % sensor noise).
    pub measured_flow_ml_h: f64,
    /// Supply air pressure after the regulator, as measured.
    pub pressure_kpa: f64,
    pub reservoir_ml: f64,
    /// Oil dispensed since commissioning.
    pub oil_dispensed_ml: f64,
    /// Oil dispensed since this simulation started.
    pub oil_used_ml: f64,
    pub strokes: u32,
    stroke_acc_ml: f64,
    pub pump_time_s: f64,
    pub mist_mg_m3: f64,
    pub aerosol_temp_c: f64,
    /// Lagged 0..1: air flowing through the nozzle (pressure drop, expansion cooling).
    air_flowing: f64,
    pressure_noise_kpa: f64,
    low_flow_s: f64,
    low_pressure_s: f64,
    pub fault_code: u16,
}

impl Mql {
    pub fn new(cfg: &MqlConfig, ambient_c: f64) -> Self {
        let dispensed = cfg.oil_dispensed_initial_ml;
        Mql {
            cfg: cfg.clone(),
            t_s: 0.0,
            aerosol_on: false,
            flow_ml_h: 0.0,
            measured_flow_ml_h: 0.0,
            pressure_kpa: cfg.air_pressure_setpoint_kpa,
            reservoir_ml: cfg.reservoir_capacity_ml * cfg.reservoir_initial_pct / 100.0,
            oil_dispensed_ml: dispensed,
            oil_used_ml: 0.0,
            strokes: (dispensed / cfg.stroke_volume_ml).floor() as u32,
            stroke_acc_ml: 0.0,
            pump_time_s: cfg.pump_time_initial_s,
            mist_mg_m3: 0.0,
            aerosol_temp_c: ambient_c + 1.0,
            air_flowing: 0.0,
            pressure_noise_kpa: 0.0,
            low_flow_s: 0.0,
            low_pressure_s: 0.0,
            fault_code: FAULT_NONE,
        }
    }

    pub fn setpoint_ml_h(&self) -> f64 {
        self.cfg.flow_setpoint_ml_h
    }

    pub fn pressure_setpoint_kpa(&self) -> f64 {
        self.cfg.air_pressure_setpoint_kpa
    }

    pub fn reservoir_pct(&self) -> f64 {
        100.0 * self.reservoir_ml / self.cfg.reservoir_capacity_ml
    }

    /// How well the air atomises and carries the oil to the cut at this pressure: full above
    /// 450 kPa, none below 250 kPa, linear between (assumption of this model).
    pub fn atomisation(&self) -> f64 {
        ((self.pressure_kpa - 250.0) / 200.0).clamp(0.0, 1.0)
    }

    /// Lubrication actually reaching the cut, as a fraction of the setpoint (0..1).
    pub fn delivered_fraction(&self) -> f64 {
        if self.cfg.flow_setpoint_ml_h <= 0.0 {
            return 0.0;
        }
        (self.flow_ml_h * self.atomisation() / self.cfg.flow_setpoint_ml_h).clamp(0.0, 1.0)
    }

    pub fn flow_ok(&self) -> bool {
        let sp = self.cfg.flow_setpoint_ml_h;
        self.aerosol_on && (self.measured_flow_ml_h - sp).abs() <= FLOW_TOLERANCE * sp
    }

    pub fn pressure_ok(&self) -> bool {
        self.pressure_kpa > PRESSURE_OK_KPA
    }

    pub fn step(&mut self, dt: f64, inp: MqlInputs, rng: &mut impl Rng) {
        self.t_s += dt;
        self.aerosol_on = inp.aerosol_on;
        let lag = |tau: f64| 1.0 - (-dt / tau).exp();

        // Oil flow: first-order lag towards what the pump can deliver.
        let empty = self.reservoir_pct() <= RESERVOIR_EMPTY_PCT;
        let target = if inp.aerosol_on && !empty {
            self.cfg.flow_setpoint_ml_h * inp.supply_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.flow_ml_h += (target - self.flow_ml_h) * lag(self.cfg.flow_time_constant_s);
        let noise: f64 = rng.sample(StandardNormal);
        self.measured_flow_ml_h = (self.flow_ml_h * (1.0 + 0.01 * noise)).max(0.0);

        // Oil delivered: reservoir, totals, and one pump stroke per stroke volume.
        let oil = (self.flow_ml_h * dt / 3600.0).min(self.reservoir_ml);
        self.reservoir_ml -= oil;
        self.oil_dispensed_ml += oil;
        self.oil_used_ml += oil;
        self.stroke_acc_ml += oil;
        while self.stroke_acc_ml >= self.cfg.stroke_volume_ml {
            self.stroke_acc_ml -= self.cfg.stroke_volume_ml;
            self.strokes = self.strokes.wrapping_add(1);
        }
        if inp.aerosol_on {
            self.pump_time_s += dt;
        }

        // Supply air: the regulator holds the setpoint if the shop air allows; the nozzle's
        // air consumption drops it a little; the compressor's load/unload cycle and the
        // regulator leave a slow ripple and some noise.
        let on = if inp.aerosol_on { 1.0 } else { 0.0 };
        self.air_flowing += (on - self.air_flowing) * lag(1.0);
        let w: f64 = rng.sample(StandardNormal);
        self.pressure_noise_kpa += (w * 1.0 - self.pressure_noise_kpa) * lag(2.0);
        let regulated = inp
            .supply_pressure_kpa
            .min(self.cfg.air_pressure_setpoint_kpa);
        let ripple = 4.0 * (2.0 * std::f64::consts::PI * self.t_s / 75.0).sin();
        self.pressure_kpa =
            (regulated - 12.0 * self.air_flowing + ripple + self.pressure_noise_kpa).max(0.0);

        // Nozzle air temperature: shop air a little above ambient, cooled by expansion while
        // flowing.
        let t_target = inp.ambient_c + 1.0 - 2.0 * self.air_flowing;
        self.aerosol_temp_c += (t_target - self.aerosol_temp_c) * lag(20.0);

        // Oil mist in the enclosure: well-mixed volume V with extraction Q,
        // dC/dt = (E - Q·C)/V, emission E = flow · density · airborne share · atomisation.
        // An open door lets half the extraction capture escape (assumption).
        let share = if inp.cutting {
            self.cfg.airborne_fraction_cutting
        } else {
            self.cfg.airborne_fraction_idle
        };
        let emission_mg_h =
            self.flow_ml_h * self.cfg.oil_density_mg_ml * share * self.atomisation();
        let q = if inp.door_open {
            self.cfg.extraction_m3_h / 2.0
        } else {
            self.cfg.extraction_m3_h
        };
        let c_ss = emission_mg_h / q;
        let tau_s = self.cfg.enclosure_m3 / q * 3600.0;
        self.mist_mg_m3 += (c_ss - self.mist_mg_m3) * lag(tau_s);

        // Fault code, most severe first.
        let low_flow = inp.aerosol_on
            && self.measured_flow_ml_h < (1.0 - FLOW_TOLERANCE) * self.cfg.flow_setpoint_ml_h;
        self.low_flow_s = if low_flow { self.low_flow_s + dt } else { 0.0 };
        self.low_pressure_s = if self.pressure_ok() {
            0.0
        } else {
            self.low_pressure_s + dt
        };
        self.fault_code = if self.reservoir_pct() <= RESERVOIR_EMPTY_PCT {
            FAULT_RESERVOIR_EMPTY
        } else if self.low_pressure_s >= LOW_PRESSURE_FAULT_AFTER_S {
            FAULT_LOW_PRESSURE
        } else if self.low_flow_s >= LOW_FLOW_FAULT_AFTER_S {
            FAULT_LOW_FLOW
        } else {
            FAULT_NONE
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn inputs(on: bool) -> MqlInputs {
        MqlInputs {
            aerosol_on: on,
            cutting: on,
            door_open: false,
            supply_fraction: 1.0,
            supply_pressure_kpa: 600.0,
            ambient_c: 22.0,
        }
    }

    #[test]
    fn flow_follows_setpoint_and_counts_strokes() {
        let cfg = MqlConfig::default();
        let mut m = Mql::new(&cfg, 22.0);
        let mut rng = StdRng::seed_from_u64(1);
        let strokes0 = m.strokes;
        // One hour with the aerosol on.
        for _ in 0..36_000 {
            m.step(0.1, inputs(true), &mut rng);
        }
        assert!((m.flow_ml_h - 30.0).abs() < 0.01);
        assert!(m.flow_ok() && m.pressure_ok());
        assert_eq!(m.fault_code, FAULT_NONE);
        // 30 ml/h for an hour minus the 3 s start-up lag: ~29.975 ml, 0.03 ml per stroke.
        assert!((m.oil_used_ml - 29.975).abs() < 0.01, "{}", m.oil_used_ml);
        let strokes = m.strokes - strokes0;
        assert!((998..=1000).contains(&strokes), "{strokes}");
        assert!((m.reservoir_pct() - (75.0 - 100.0 * m.oil_used_ml / 2000.0)).abs() < 1e-9);
        assert!((m.pump_time_s - 1_503_600.0).abs() < 0.01);
        // Mist at steady state: 30 ml/h · 900 mg/ml · 1 % / 1000 m³/h = 0.27 mg/m³.
        assert!((m.mist_mg_m3 - 0.27).abs() < 0.01, "{}", m.mist_mg_m3);
    }

    #[test]
    fn starvation_raises_low_flow_after_debounce() {
        let cfg = MqlConfig::default();
        let mut m = Mql::new(&cfg, 22.0);
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..600 {
            m.step(0.1, inputs(true), &mut rng);
        }
        let mut starved = inputs(true);
        starved.supply_fraction = 0.02;
        for _ in 0..100 {
            m.step(0.1, starved, &mut rng);
        }
        // 10 s in: flow has fallen (τ = 3 s) but the fault needs 10 s below 70 %.
        assert!(!m.flow_ok());
        assert_eq!(m.fault_code, FAULT_NONE);
        for _ in 0..100 {
            m.step(0.1, starved, &mut rng);
        }
        assert_eq!(m.fault_code, FAULT_LOW_FLOW);
        assert!(m.delivered_fraction() < 0.05);
    }

    #[test]
    fn low_air_pressure_is_a_fault() {
        let cfg = MqlConfig::default();
        let mut m = Mql::new(&cfg, 22.0);
        let mut rng = StdRng::seed_from_u64(3);
        let mut low = inputs(true);
        low.supply_pressure_kpa = 320.0;
        for _ in 0..100 {
            m.step(0.1, low, &mut rng);
        }
        assert!(!m.pressure_ok());
        assert_eq!(m.fault_code, FAULT_LOW_PRESSURE);
        assert!(m.atomisation() < 0.5);
    }

    #[test]
    fn idle_aerosol_makes_more_mist_than_cutting() {
        let cfg = MqlConfig::default();
        let mut rng = StdRng::seed_from_u64(4);
        let mut cutting = Mql::new(&cfg, 22.0);
        let mut idle = Mql::new(&cfg, 22.0);
        let mut idle_in = inputs(true);
        idle_in.cutting = false;
        idle_in.door_open = true;
        for _ in 0..3000 {
            cutting.step(0.1, inputs(true), &mut rng);
            idle.step(0.1, idle_in, &mut rng);
        }
        assert!(idle.mist_mg_m3 > 5.0 * cutting.mist_mg_m3);
    }
}
