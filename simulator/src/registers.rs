//! The Modbus register map of the README: value encodings, word orders, and the register
//! images of unit 1 (MQL unit) and unit 2 (spindle condition sensor).
//!
//! Encoding goes physics value → raw integer (value / scale, rounded, saturated) → 16-bit
//! words in the stated order. `decode_*` reverses it exactly as a client does, and the
//! `Snapshot` is built from the decoded image, so what a test compares against is what was
//! served.

use crate::physics::Observation;

/// Order of the 16-bit words / bytes of a multi-register value, as in the README:
/// ABCD = high word first (the Modbus convention), CDAB = low word first,
/// BADC = bytes swapped within each word (words high first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOrder {
    Abcd,
    Cdab,
    Badc,
}

/// Big-endian bytes → words in `order`.
fn words_from_be_bytes(bytes: &[u8], order: WordOrder) -> Vec<u16> {
    let mut words: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    match order {
        WordOrder::Abcd => {}
        WordOrder::Cdab => words.reverse(),
        WordOrder::Badc => words.iter_mut().for_each(|w| *w = w.swap_bytes()),
    }
    words
}

/// Words in `order` → big-endian bytes.
fn be_bytes_from_words(words: &[u16], order: WordOrder) -> Vec<u8> {
    let mut w = words.to_vec();
    match order {
        WordOrder::Abcd => {}
        WordOrder::Cdab => w.reverse(),
        WordOrder::Badc => w.iter_mut().for_each(|x| *x = x.swap_bytes()),
    }
    w.iter().flat_map(|x| x.to_be_bytes()).collect()
}

pub fn encode_u16(v: u16) -> [u16; 1] {
    [v]
}
pub fn decode_u16(w: &[u16]) -> u16 {
    w[0]
}
pub fn encode_i16(v: i16) -> [u16; 1] {
    [v as u16]
}
pub fn decode_i16(w: &[u16]) -> i16 {
    w[0] as i16
}
pub fn encode_u32(v: u32, order: WordOrder) -> [u16; 2] {
    let w = words_from_be_bytes(&v.to_be_bytes(), order);
    [w[0], w[1]]
}
pub fn decode_u32(w: &[u16], order: WordOrder) -> u32 {
    let b = be_bytes_from_words(&w[..2], order);
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
pub fn encode_i32(v: i32, order: WordOrder) -> [u16; 2] {
    encode_u32(v as u32, order)
}
pub fn decode_i32(w: &[u16], order: WordOrder) -> i32 {
    decode_u32(w, order) as i32
}
pub fn encode_u64(v: u64, order: WordOrder) -> [u16; 4] {
    let w = words_from_be_bytes(&v.to_be_bytes(), order);
    [w[0], w[1], w[2], w[3]]
}
pub fn decode_u64(w: &[u16], order: WordOrder) -> u64 {
    let b = be_bytes_from_words(&w[..4], order);
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}
pub fn encode_f32(v: f32, order: WordOrder) -> [u16; 2] {
    encode_u32(v.to_bits(), order)
}
pub fn decode_f32(w: &[u16], order: WordOrder) -> f32 {
    f32::from_bits(decode_u32(w, order))
}
pub fn encode_f64(v: f64, order: WordOrder) -> [u16; 4] {
    encode_u64(v.to_bits(), order)
}
pub fn decode_f64(w: &[u16], order: WordOrder) -> f64 {
    f64::from_bits(decode_u64(w, order))
}

/// Value types in the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegType {
    U16,
    I16,
    U32,
    I32,
    U64,
    F32,
    F64,
    /// A u16 of status bits.
    Bits,
}

impl RegType {
    pub fn count(self) -> u16 {
        match self {
            RegType::U16 | RegType::I16 | RegType::Bits => 1,
            RegType::U32 | RegType::I32 | RegType::F32 => 2,
            RegType::U64 | RegType::F64 => 4,
        }
    }

    /// Decode the words of one value to a number (before scale).
    pub fn decode(self, w: &[u16], order: WordOrder) -> f64 {
        match self {
            RegType::U16 | RegType::Bits => decode_u16(w) as f64,
            RegType::I16 => decode_i16(w) as f64,
            RegType::U32 => decode_u32(w, order) as f64,
            RegType::I32 => decode_i32(w, order) as f64,
            RegType::U64 => decode_u64(w, order) as f64,
            RegType::F32 => decode_f32(w, order) as f64,
            RegType::F64 => decode_f64(w, order),
        }
    }
}

/// Modbus data tables used by the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Function 04.
    InputRegisters,
    /// Function 03.
    HoldingRegisters,
    /// Function 02.
    DiscreteInputs,
}

/// One row of the README's register tables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegisterDef {
    pub unit: u8,
    pub table: Table,
    pub address: u16,
    pub reg_type: RegType,
    pub order: WordOrder,
    /// Engineering value = raw · scale.
    pub scale: f64,
    pub unit_of_measure: &'static str,
    /// Short stable key, e.g. `mql.oil_flow`.
    pub key: &'static str,
}

pub const UNIT_MQL: u8 = 1;
pub const UNIT_SPINDLE_SENSOR: u8 = 2;

/// Unit 1 input registers 0..20.
pub const MQL_INPUT_LEN: u16 = 20;
/// Unit 1 holding registers 100..102.
pub const MQL_HOLDING_START: u16 = 100;
pub const MQL_HOLDING_LEN: u16 = 2;
/// Unit 1 discrete inputs 0..4.
pub const MQL_DISCRETE_LEN: u16 = 4;
/// Unit 2 input registers 0..4.
pub const SENSOR_INPUT_LEN: u16 = 4;

/// Status word bits (unit 1, input register 5) = discrete inputs 0..3.
pub const BIT_AEROSOL_ON: u16 = 1 << 0;
pub const BIT_FLOW_OK: u16 = 1 << 1;
pub const BIT_PRESSURE_OK: u16 = 1 << 2;
pub const BIT_FAULT: u16 = 1 << 3;

#[allow(clippy::too_many_arguments)] // one argument per README column
const fn def(
    unit: u8,
    table: Table,
    address: u16,
    reg_type: RegType,
    order: WordOrder,
    scale: f64,
    unit_of_measure: &'static str,
    key: &'static str,
) -> RegisterDef {
    RegisterDef {
        unit,
        table,
        address,
        reg_type,
        order,
        scale,
        unit_of_measure,
        key,
    }
}

use RegType::*;
use Table::*;
use WordOrder::*;

/// Every register of the README, in README order (discrete inputs listed as Bits of 1).
pub const REGISTER_MAP: &[RegisterDef] = &[
    def(1, InputRegisters, 0, U16, Abcd, 0.1, "ml/h", "mql.oil_flow"),
    def(
        1,
        InputRegisters,
        1,
        U16,
        Abcd,
        1.0,
        "kPa",
        "mql.air_pressure",
    ),
    def(
        1,
        InputRegisters,
        2,
        U16,
        Abcd,
        0.1,
        "%",
        "mql.reservoir_level",
    ),
    def(
        1,
        InputRegisters,
        3,
        U32,
        Abcd,
        1.0,
        "strokes",
        "mql.pump_strokes",
    ),
    def(1, InputRegisters, 5, Bits, Abcd, 1.0, "", "mql.status_word"),
    def(1, InputRegisters, 6, U16, Abcd, 1.0, "", "mql.fault_code"),
    def(
        1,
        InputRegisters,
        7,
        F32,
        Cdab,
        1.0,
        "mg/m³",
        "mql.mist_concentration",
    ),
    def(
        1,
        InputRegisters,
        9,
        I16,
        Abcd,
        0.1,
        "°C",
        "mql.aerosol_temperature",
    ),
    def(
        1,
        InputRegisters,
        10,
        F64,
        Abcd,
        1.0,
        "ml",
        "mql.oil_dispensed_total",
    ),
    def(
        1,
        InputRegisters,
        14,
        U64,
        Abcd,
        1.0,
        "s",
        "mql.pump_operating_time",
    ),
    def(
        1,
        InputRegisters,
        18,
        I32,
        Abcd,
        0.1,
        "ml/h",
        "mql.oil_flow_deviation",
    ),
    def(
        1,
        HoldingRegisters,
        100,
        U16,
        Abcd,
        0.1,
        "ml/h",
        "mql.oil_flow_setpoint",
    ),
    def(
        1,
        HoldingRegisters,
        101,
        U16,
        Abcd,
        1.0,
        "kPa",
        "mql.air_pressure_setpoint",
    ),
    def(1, DiscreteInputs, 0, Bits, Abcd, 1.0, "", "mql.aerosol_on"),
    def(1, DiscreteInputs, 1, Bits, Abcd, 1.0, "", "mql.flow_ok"),
    def(1, DiscreteInputs, 2, Bits, Abcd, 1.0, "", "mql.pressure_ok"),
    def(1, DiscreteInputs, 3, Bits, Abcd, 1.0, "", "mql.fault"),
    def(
        2,
        InputRegisters,
        0,
        U16,
        Abcd,
        0.01,
        "mm/s",
        "spindle.vibration_rms",
    ),
    def(
        2,
        InputRegisters,
        1,
        I16,
        Abcd,
        0.1,
        "°C",
        "spindle.bearing_temperature",
    ),
    def(
        2,
        InputRegisters,
        2,
        F32,
        Badc,
        1.0,
        "mm/s",
        "spindle.vibration_peak",
    ),
];

/// Raw register contents of both units, one consistent instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterImage {
    /// Unit 1 input registers 0..20.
    pub mql_input: [u16; MQL_INPUT_LEN as usize],
    /// Unit 1 holding registers 100..102.
    pub mql_holding: [u16; MQL_HOLDING_LEN as usize],
    /// Unit 1 discrete inputs 0..4.
    pub mql_discrete: [bool; MQL_DISCRETE_LEN as usize],
    /// Unit 2 input registers 0..4.
    pub sensor_input: [u16; SENSOR_INPUT_LEN as usize],
}

/// Round value/scale to the nearest raw integer and saturate to the type's range.
fn raw(value: f64, scale: f64, min: f64, max: f64) -> f64 {
    let r = (value / scale).round();
    if r.is_nan() {
        0.0
    } else {
        r.clamp(min, max)
    }
}

fn put(dst: &mut [u16], at: u16, words: &[u16]) {
    let at = at as usize;
    dst[at..at + words.len()].copy_from_slice(words);
}

impl RegisterImage {
    /// Encode the physical state into registers per the README map.
    pub fn encode(o: &Observation) -> RegisterImage {
        let mut ir = [0u16; MQL_INPUT_LEN as usize];
        let u16max = u16::MAX as f64;
        let flow_raw = raw(o.mql_flow_measured_ml_h, 0.1, 0.0, u16max);
        let sp_raw = raw(o.mql_flow_setpoint_ml_h, 0.1, 0.0, u16max);
        put(&mut ir, 0, &encode_u16(flow_raw as u16));
        put(
            &mut ir,
            1,
            &encode_u16(raw(o.mql_pressure_kpa, 1.0, 0.0, u16max) as u16),
        );
        put(
            &mut ir,
            2,
            &encode_u16(raw(o.mql_reservoir_pct, 0.1, 0.0, 1000.0) as u16),
        );
        put(&mut ir, 3, &encode_u32(o.mql_strokes, Abcd));
        let fault = o.mql_fault_code != 0;
        let mut status = 0u16;
        if o.mql_aerosol_on {
            status |= BIT_AEROSOL_ON;
        }
        if o.mql_flow_ok {
            status |= BIT_FLOW_OK;
        }
        if o.mql_pressure_ok {
            status |= BIT_PRESSURE_OK;
        }
        if fault {
            status |= BIT_FAULT;
        }
        put(&mut ir, 5, &encode_u16(status));
        put(&mut ir, 6, &encode_u16(o.mql_fault_code));
        put(&mut ir, 7, &encode_f32(o.mql_mist_mg_m3 as f32, Cdab));
        let temp = raw(o.mql_aerosol_temp_c, 0.1, i16::MIN as f64, i16::MAX as f64);
        put(&mut ir, 9, &encode_i16(temp as i16));
        put(&mut ir, 10, &encode_f64(o.mql_oil_dispensed_ml, Abcd));
        put(
            &mut ir,
            14,
            &encode_u64(o.mql_pump_time_s.max(0.0).floor() as u64, Abcd),
        );
        // Deviation from the quantised values, so it equals (reg 0 - reg 100) exactly.
        put(&mut ir, 18, &encode_i32((flow_raw - sp_raw) as i32, Abcd));

        let holding = [
            sp_raw as u16,
            raw(o.mql_pressure_setpoint_kpa, 1.0, 0.0, u16max) as u16,
        ];
        let discrete = [o.mql_aerosol_on, o.mql_flow_ok, o.mql_pressure_ok, fault];

        let mut sensor = [0u16; SENSOR_INPUT_LEN as usize];
        put(
            &mut sensor,
            0,
            &encode_u16(raw(o.vibration_rms_mm_s, 0.01, 0.0, u16max) as u16),
        );
        let bt = raw(o.bearing_temp_c, 0.1, i16::MIN as f64, i16::MAX as f64);
        put(&mut sensor, 1, &encode_i16(bt as i16));
        put(
            &mut sensor,
            2,
            &encode_f32(o.vibration_peak_mm_s as f32, Badc),
        );

        RegisterImage {
            mql_input: ir,
            mql_holding: holding,
            mql_discrete: discrete,
            sensor_input: sensor,
        }
    }

    /// Registers of `unit`/`table` from `address`, or None if any is outside the map.
    pub fn read_registers(
        &self,
        unit: u8,
        table: Table,
        address: u16,
        count: u16,
    ) -> Option<&[u16]> {
        let (base, regs): (u16, &[u16]) = match (unit, table) {
            (UNIT_MQL, InputRegisters) => (0, &self.mql_input),
            (UNIT_MQL, HoldingRegisters) => (MQL_HOLDING_START, &self.mql_holding),
            (UNIT_SPINDLE_SENSOR, InputRegisters) => (0, &self.sensor_input),
            _ => return None,
        };
        let start = address.checked_sub(base)? as usize;
        let end = start.checked_add(count as usize)?;
        if count == 0 || end > regs.len() {
            return None;
        }
        Some(&regs[start..end])
    }

    /// Discrete inputs of `unit` from `address`, or None if outside the map.
    pub fn read_bits(&self, unit: u8, address: u16, count: u16) -> Option<&[bool]> {
        if unit != UNIT_MQL {
            return None;
        }
        let start = address as usize;
        let end = start + count as usize;
        if count == 0 || end > self.mql_discrete.len() {
            return None;
        }
        Some(&self.mql_discrete[start..end])
    }

    /// Engineering value of one map row, decoded as a client would (raw · scale).
    pub fn value(&self, d: &RegisterDef) -> f64 {
        if d.table == DiscreteInputs {
            let b = self.read_bits(d.unit, d.address, 1).expect("row in map");
            return if b[0] { 1.0 } else { 0.0 };
        }
        let w = self
            .read_registers(d.unit, d.table, d.address, d.reg_type.count())
            .expect("row in map");
        d.reg_type.decode(w, d.order) * d.scale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_orders_of_a_known_u32() {
        // 0xAABBCCDD: A = AA, B = BB, C = CC, D = DD
        assert_eq!(encode_u32(0xAABB_CCDD, Abcd), [0xAABB, 0xCCDD]);
        assert_eq!(encode_u32(0xAABB_CCDD, Cdab), [0xCCDD, 0xAABB]);
        assert_eq!(encode_u32(0xAABB_CCDD, Badc), [0xBBAA, 0xDDCC]);
        // 1.0f32 = 0x3F800000
        assert_eq!(encode_f32(1.0, Abcd), [0x3F80, 0x0000]);
        assert_eq!(encode_f32(1.0, Cdab), [0x0000, 0x3F80]);
        assert_eq!(encode_f32(1.0, Badc), [0x803F, 0x0000]);
        // 1.0f64 = 0x3FF0000000000000
        assert_eq!(encode_f64(1.0, Abcd), [0x3FF0, 0, 0, 0]);
        assert_eq!(
            encode_u64(0x0102_0304_0506_0708, Abcd),
            [0x0102, 0x0304, 0x0506, 0x0708]
        );
        assert_eq!(encode_i16(-1), [0xFFFF]);
        assert_eq!(encode_i32(-2, Abcd), [0xFFFF, 0xFFFE]);
    }

    #[test]
    fn every_type_and_order_round_trips() {
        let orders = [Abcd, Cdab, Badc];
        for &o in &orders {
            for v in [0u32, 1, 0xAABB_CCDD, u32::MAX, 123_456_789] {
                assert_eq!(decode_u32(&encode_u32(v, o), o), v);
            }
            for v in [0i32, -1, i32::MIN, i32::MAX, -300] {
                assert_eq!(decode_i32(&encode_i32(v, o), o), v);
            }
            for v in [0u64, 1, u64::MAX, 0x0102_0304_0506_0708] {
                assert_eq!(decode_u64(&encode_u64(v, o), o), v);
            }
            for v in [0.0f32, -1.5, 0.45, f32::MAX, f32::MIN_POSITIVE, 1234.5678] {
                assert_eq!(decode_f32(&encode_f32(v, o), o).to_bits(), v.to_bits());
            }
            for v in [0.0f64, -1.5, 12_529.123_456_789, f64::MAX, 1e-300] {
                assert_eq!(decode_f64(&encode_f64(v, o), o).to_bits(), v.to_bits());
            }
        }
        for v in [0u16, 1, 65535] {
            assert_eq!(decode_u16(&encode_u16(v)), v);
        }
        for v in [0i16, -1, i16::MIN, i16::MAX, 221] {
            assert_eq!(decode_i16(&encode_i16(v)), v);
        }
        // Different orders give different words for an asymmetric value.
        let v = 0x1234_5678u32;
        assert_ne!(encode_u32(v, Abcd), encode_u32(v, Cdab));
        assert_ne!(encode_u32(v, Abcd), encode_u32(v, Badc));
        assert_ne!(encode_u32(v, Cdab), encode_u32(v, Badc));
    }

    #[test]
    fn map_rows_do_not_overlap_and_fit_the_images() {
        for (i, a) in REGISTER_MAP.iter().enumerate() {
            for b in &REGISTER_MAP[i + 1..] {
                if a.unit == b.unit && a.table == b.table {
                    let (a0, a1) = (a.address, a.address + a.reg_type.count());
                    let (b0, b1) = (b.address, b.address + b.reg_type.count());
                    assert!(a1 <= b0 || b1 <= a0, "{} overlaps {}", a.key, b.key);
                }
            }
        }
    }

    #[test]
    fn out_of_map_reads_are_refused() {
        let img = RegisterImage {
            mql_input: [0; 20],
            mql_holding: [0; 2],
            mql_discrete: [false; 4],
            sensor_input: [0; 4],
        };
        assert!(img.read_registers(1, InputRegisters, 0, 20).is_some());
        assert!(img.read_registers(1, InputRegisters, 19, 2).is_none());
        assert!(img.read_registers(1, InputRegisters, 20, 1).is_none());
        assert!(img.read_registers(1, InputRegisters, 0, 0).is_none());
        assert!(img.read_registers(1, HoldingRegisters, 100, 2).is_some());
        assert!(img.read_registers(1, HoldingRegisters, 99, 1).is_none());
        assert!(img.read_registers(1, HoldingRegisters, 0, 1).is_none());
        assert!(img.read_registers(2, InputRegisters, 0, 4).is_some());
        assert!(img.read_registers(2, InputRegisters, 4, 1).is_none());
        assert!(img.read_registers(2, HoldingRegisters, 100, 1).is_none());
        assert!(img.read_registers(3, InputRegisters, 0, 1).is_none());
        assert!(img.read_bits(1, 0, 4).is_some());
        assert!(img.read_bits(1, 3, 2).is_none());
        assert!(img.read_bits(2, 0, 1).is_none());
        assert!(img
            .read_registers(1, InputRegisters, u16::MAX, u16::MAX)
            .is_none());
    }
}
