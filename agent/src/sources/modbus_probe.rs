//! `agent probe modbus`: reads a range of registers once and prints each decoded in every type
//! and word/byte order side by side, so a user maps an MQL unit from its manual (which rarely
//! says more than "flow, float, register 7") by recognising a plausible value.
//!
//! Read functions only, through the same connection and request code the agent polls with.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;

use super::modbus::{connect, request, table_name, Endpoint};
use crate::codec::{decode, ByteOrder, DataType, Encoding, Raw, WordOrder};
use crate::config::{Parity, Table};

/// Where and what to read.
#[derive(Debug, Clone)]
pub struct Probe {
    pub link: ProbeLink,
    pub unit_id: u8,
    pub table: Table,
    /// First address and one past the last (zero-based protocol addresses).
    pub start: u16,
    pub end: u16,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum ProbeLink {
    Tcp(String),
    Rtu {
        port: String,
        baud: u32,
        parity: Parity,
    },
}

/// The most registers (or bits) one Modbus read request may ask for (Modbus Application
/// Protocol 1.1b3, 6.3: 125 registers; 6.1: 2000 coils). Ranges are read in such chunks.
const MAX_REGISTERS: u16 = 125;
const MAX_BITS: u16 = 2000;

/// The four orders a 32-bit value is found in, as the configuration writes them.
const ORDERS: [(&str, WordOrder, ByteOrder, &str); 4] = [
    ("ABCD", WordOrder::Big, ByteOrder::Big, ""),
    (
        "CDAB",
        WordOrder::Little,
        ByteOrder::Big,
        "word_order = \"little\"",
    ),
    (
        "BADC",
        WordOrder::Big,
        ByteOrder::Little,
        "byte_order = \"little\"",
    ),
    (
        "DCBA",
        WordOrder::Little,
        ByteOrder::Little,
        "word_order = \"little\", byte_order = \"little\"",
    ),
];

/// Reads the range once; the words read, in address order.
pub async fn read(p: &Probe) -> Result<Vec<u16>> {
    if p.end <= p.start {
        bail!(
            "empty range {}..{}: give A..B with B > A (B excluded)",
            p.start,
            p.end
        );
    }
    let endpoint = match &p.link {
        ProbeLink::Tcp(a) => Endpoint::Tcp(a.clone()),
        ProbeLink::Rtu { port, baud, parity } => Endpoint::Rtu {
            port: port.clone(),
            baud: *baud,
            parity: *parity,
            data_bits: 8,
            stop_bits: 1,
        },
    };
    let mut ctx = connect(&endpoint, p.timeout).await?;
    ctx.set_slave(Slave(p.unit_id));
    let chunk = match p.table {
        Table::Coil | Table::Discrete => MAX_BITS,
        Table::Holding | Table::Input => MAX_REGISTERS,
    };
    let mut words = Vec::with_capacity(usize::from(p.end - p.start));
    let mut at = p.start;
    while at < p.end {
        let count = chunk.min(p.end - at);
        let what = format!(
            "{} {}..{} of unit {}",
            table_name(p.table),
            at,
            at + count,
            p.unit_id
        );
        match tokio::time::timeout(p.timeout, request(&mut ctx, p.table, at, count)).await {
            Err(_) => bail!("reading {what}: no answer within {:?}", p.timeout),
            Ok(Err(e)) => bail!("reading {what}: {e}"),
            Ok(Ok(Err(code))) => bail!("reading {what}: the device answers {code}"),
            Ok(Ok(Ok(w))) => words.extend(w),
        }
        at += count;
    }
    Ok(words)
}

/// The words read, decoded every way, as text for a terminal.
pub fn render(p: &Probe, words: &[u16]) -> String {
    let mut out = String::new();
    let link = match &p.link {
        ProbeLink::Tcp(a) => a.clone(),
        ProbeLink::Rtu { port, baud, .. } => format!("{port} at {baud} baud"),
    };
    let _ = writeln!(
        out,
        "{} {}..{} (zero-based; a manual's 4xxxx/3xxxx numbers are these + 1) of {link} unit {}, read once",
        table_name(p.table),
        p.start,
        p.end,
        p.unit_id
    );
    if matches!(p.table, Table::Coil | Table::Discrete) {
        for (i, w) in words.iter().enumerate() {
            let _ = writeln!(out, "{:>6}  {}", usize::from(p.start) + i, w);
        }
        return out;
    }
    let _ = writeln!(
        out,
        "Each register as hex, u16 and i16; each pair starting at it as u32, i32 and f32 in the four\n\
         orders (ABCD is the Modbus default; the configuration key for each order is on its line).\n"
    );
    let _ = writeln!(
        out,
        "{:>6}  {:>6}  {:>6}  {:>6}   {:<5} {:>11}  {:>11}  {:>14}",
        "addr", "hex", "u16", "i16", "pair", "u32", "i32", "f32"
    );
    for (i, w) in words.iter().enumerate() {
        let addr = usize::from(p.start) + i;
        let _ = write!(out, "{addr:>6}  0x{w:04X}  {w:>6}  {:>6}", *w as i16);
        let Some(next) = words.get(i + 1) else {
            let _ = writeln!(out, "   (no next register for a pair)");
            continue;
        };
        for (n, (name, word_order, byte_order, key)) in ORDERS.iter().enumerate() {
            let regs = [*w, *next];
            let value = |data_type| {
                decode(
                    &regs,
                    Encoding {
                        data_type,
                        byte_order: *byte_order,
                        word_order: *word_order,
                        bit: None,
                    },
                )
            };
            let int = |r: Result<Raw, _>| match r {
                Ok(Raw::Number(x)) => format!("{x:.0}"),
                _ => "-".to_string(),
            };
            let float = match value(DataType::F32) {
                Ok(Raw::Number(x)) => format_float(x),
                // NaN and infinities: the device would be read as unavailable in this order.
                _ => "not finite".to_string(),
            };
            if n > 0 {
                let _ = write!(out, "{:>30}", "");
            }
            let _ = writeln!(
                out,
                "   {name:<5} {:>11}  {:>11}  {float:>14}  {key}",
                int(value(DataType::U32)),
                int(value(DataType::I32)),
            );
        }
    }
    out
}

/// A float short enough to read and precise enough to recognise: 6 significant digits.
fn format_float(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10();
    if !(-4.0..9.0).contains(&magnitude) {
        return format!("{x:.5e}");
    }
    let decimals = (5 - magnitude.floor() as i32).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe {
            link: ProbeLink::Tcp("127.0.0.1:502".into()),
            unit_id: 1,
            table: Table::Input,
            start: 7,
            end: 9,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_float_in_cdab_shows_on_the_cdab_line() {
        let bits = 12.5f32.to_bits();
        // CDAB: low word first.
        let words = [bits as u16, (bits >> 16) as u16];
        let text = render(&probe(), &words);
        let line = text
            .lines()
            .find(|l| l.contains("CDAB"))
            .expect("a CDAB line");
        assert!(line.contains(" 12.5 "), "{line}");
        assert!(line.contains("word_order = \"little\""), "{line}");
        let abcd = text.lines().find(|l| l.contains("ABCD")).unwrap();
        assert!(!abcd.contains(" 12.5 "), "{abcd}");
        // The register itself: hex, u16, i16.
        assert!(text.contains(&format!("0x{:04X}", bits as u16)));
    }

    #[test]
    fn signed_and_unsigned_side_by_side() {
        let text = render(&probe(), &[0xFFFF, 0xFFFE]);
        let first = text
            .lines()
            .find(|l| l.trim_start().starts_with("7 "))
            .unwrap();
        assert!(first.contains("65535") && first.contains("-1"), "{first}");
        // ABCD: 0xFFFFFFFE = 4294967294 / -2.
        assert!(
            first.contains("4294967294") && first.contains("-2"),
            "{first}"
        );
        // The last register has no pair.
        assert!(text.contains("no next register"));
    }

    #[test]
    fn floats_read_as_people_write_them() {
        assert_eq!(format_float(12.5), "12.5");
        assert_eq!(format_float(1234.5678), "1234.57");
        assert_eq!(format_float(0.000123), "0.000123");
        assert_eq!(format_float(3.0e12), "3.00000e12");
    }
}
