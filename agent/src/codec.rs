//! Decoding Modbus registers into values: data type, byte and word order, bit extraction,
//! scaling. Pure functions, so every combination is unit-tested without a device.

use serde::Deserialize;

/// Register data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl DataType {
    /// How many 16-bit registers a value occupies (a bool occupies one coil, or one register
    /// when it is a bit of a register).
    pub fn registers(self) -> u16 {
        match self {
            DataType::Bool | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
        }
    }
}

/// Order of the bytes inside each 16-bit register. Modbus says big; some devices swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    #[default]
    Big,
    Little,
}

/// Order of the registers of a multi-register value: `big` = most significant register first
/// (ABCD, the Modbus convention), `little` = least significant first (CDAB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    #[default]
    Big,
    Little,
}

/// How one tag's raw registers become a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encoding {
    pub data_type: DataType,
    pub byte_order: ByteOrder,
    pub word_order: WordOrder,
    /// For a bool read from a register: which bit (0 = least significant).
    pub bit: Option<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("response too short: {needed} registers needed, {got} received")]
    Short { needed: usize, got: usize },
}

/// Decodes the raw registers of one tag into a raw number (before scaling), or a bit.
pub fn decode(regs: &[u16], enc: Encoding) -> Result<Raw, DecodeError> {
    let needed = usize::from(enc.data_type.registers());
    if regs.len() < needed {
        return Err(DecodeError::Short {
            needed,
            got: regs.len(),
        });
    }
    if enc.data_type == DataType::Bool {
        let bit = enc.bit.unwrap_or(0);
        return Ok(Raw::Bool(regs[0] >> bit & 1 == 1));
    }
    // Assemble big-endian bytes, most significant first.
    let mut bytes = [0u8; 8];
    let words: Vec<u16> = match enc.word_order {
        WordOrder::Big => regs[..needed].to_vec(),
        WordOrder::Little => regs[..needed].iter().rev().copied().collect(),
    };
    for (i, w) in words.iter().enumerate() {
        let [hi, lo] = w.to_be_bytes();
        let (a, b) = match enc.byte_order {
            ByteOrder::Big => (hi, lo),
            ByteOrder::Little => (lo, hi),
        };
        bytes[2 * i] = a;
        bytes[2 * i + 1] = b;
    }
    let x = match enc.data_type {
        DataType::U16 => f64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
        DataType::I16 => f64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        DataType::U32 => f64::from(u32::from_be_bytes(bytes[..4].try_into().unwrap())),
        DataType::I32 => f64::from(i32::from_be_bytes(bytes[..4].try_into().unwrap())),
        DataType::F32 => f64::from(f32::from_be_bytes(bytes[..4].try_into().unwrap())),
        // 64-bit integers above 2^53 lose precision as f64; counters never get there.
        DataType::U64 => u64::from_be_bytes(bytes) as f64,
        DataType::I64 => i64::from_be_bytes(bytes) as f64,
        DataType::F64 => f64::from_be_bytes(bytes),
        DataType::Bool => unreachable!(),
    };
    // A NaN or an infinity decodes as what the registers say; whether it is a value is decided
    // once for every source, after scaling (`sources::to_value`).
    Ok(Raw::Number(x))
}

/// A decoded raw value, before scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw {
    Number(f64),
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(t: DataType, b: ByteOrder, w: WordOrder) -> Encoding {
        Encoding {
            data_type: t,
            byte_order: b,
            word_order: w,
            bit: None,
        }
    }
    fn num(regs: &[u16], e: Encoding) -> f64 {
        match decode(regs, e).unwrap() {
            Raw::Number(x) => x,
            Raw::Bool(_) => panic!("bool"),
        }
    }
    use ByteOrder as B;
    use DataType as T;
    use WordOrder as W;

    #[test]
    fn sixteen_bit() {
        assert_eq!(num(&[0xFFFE], enc(T::U16, B::Big, W::Big)), 65534.0);
        assert_eq!(num(&[0xFFFE], enc(T::I16, B::Big, W::Big)), -2.0);
        assert_eq!(
            num(&[0x3412], enc(T::U16, B::Little, W::Big)),
            0x1234 as f64
        );
    }

    #[test]
    fn thirty_two_bit_in_every_order() {
        let v: u32 = 0x1234_5678;
        assert_eq!(
            num(&[0x1234, 0x5678], enc(T::U32, B::Big, W::Big)),
            v as f64
        );
        assert_eq!(
            num(&[0x5678, 0x1234], enc(T::U32, B::Big, W::Little)),
            v as f64
        );
        assert_eq!(
            num(&[0x3412, 0x7856], enc(T::U32, B::Little, W::Big)),
            v as f64
        );
        assert_eq!(
            num(&[0x7856, 0x3412], enc(T::U32, B::Little, W::Little)),
            v as f64
        );
        assert_eq!(num(&[0xFFFF, 0xFFFF], enc(T::I32, B::Big, W::Big)), -1.0);
    }

    #[test]
    fn floats() {
        let f = 12.5f32.to_bits();
        let (hi, lo) = ((f >> 16) as u16, f as u16);
        assert_eq!(num(&[hi, lo], enc(T::F32, B::Big, W::Big)), 12.5);
        assert_eq!(num(&[lo, hi], enc(T::F32, B::Big, W::Little)), 12.5);
        assert_eq!(
            num(
                &[hi.swap_bytes(), lo.swap_bytes()],
                enc(T::F32, B::Little, W::Big)
            ),
            12.5
        );
        let d = (-1234.0625f64).to_bits();
        let regs = [
            (d >> 48) as u16,
            (d >> 32) as u16,
            (d >> 16) as u16,
            d as u16,
        ];
        assert_eq!(num(&regs, enc(T::F64, B::Big, W::Big)), -1234.0625);
        let rev: Vec<u16> = regs.iter().rev().copied().collect();
        assert_eq!(num(&rev, enc(T::F64, B::Big, W::Little)), -1234.0625);
    }

    #[test]
    fn sixty_four_bit_integers() {
        let regs = [0x0000, 0x0001, 0x0000, 0x0002];
        assert_eq!(
            num(&regs, enc(T::U64, B::Big, W::Big)),
            ((1u64 << 32) + 2) as f64
        );
        assert_eq!(num(&[0xFFFF; 4], enc(T::I64, B::Big, W::Big)), -1.0);
    }

    #[test]
    fn bits() {
        let e = Encoding {
            data_type: T::Bool,
            byte_order: B::Big,
            word_order: W::Big,
            bit: Some(2),
        };
        assert_eq!(decode(&[0b0100], e), Ok(Raw::Bool(true)));
        assert_eq!(decode(&[0b1011], e), Ok(Raw::Bool(false)));
    }

    #[test]
    fn short_is_an_error_and_non_finite_decodes_as_sent() {
        assert_eq!(
            decode(&[1], enc(T::U32, B::Big, W::Big)),
            Err(DecodeError::Short { needed: 2, got: 1 })
        );
        let nan = f32::NAN.to_bits();
        let got = decode(
            &[(nan >> 16) as u16, nan as u16],
            enc(T::F32, B::Big, W::Big),
        );
        assert!(matches!(got, Ok(Raw::Number(x)) if x.is_nan()), "{got:?}");
    }
}
