//! The parts of the agent that take input nobody checked before it, each with the properties
//! that must hold for any input, as checkers that panic when one does not. Three drivers use
//! them: the property tests (`agent/tests/properties.rs`, structured inputs from proptest, in
//! `cargo test`), the cargo-fuzz targets (`fuzz/`, bytes from libFuzzer) and `fuzz-bench`
//! (`tests/bench/fuzz.rs`, random bytes at a known rate, on the stable toolchain). The
//! `*_bytes` functions turn arbitrary bytes into one input of each checker.
//!
//! - register decoding (`codec::decode`): never panics; only a float can be NaN or infinite;
//!   integers round-trip in every byte and word order;
//! - Modbus request planning (`sources::modbus_plan::plan`): every tag is read by exactly one
//!   request that covers all its registers, no request exceeds the protocol's limit, and no
//!   request reads a run of registers no tag needs that is longer than `max_gap`;
//! - the configuration parser (`config::parse`): any text gives a configuration or errors that
//!   each name a line of the text, and never a panic;
//! - the OPC UA value mapping (a binary-encoded `Variant` into a value): never panics;
//!   a number that is not finite is refused; integers, booleans and strings map to their kind
//!   with their value;
//! - the MQTT outbox: events come out in the order they were pushed, every event is delivered
//!   or counted as dropped, and the file stays within its byte budget.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{decode, ByteOrder, DataType, DecodeError, Encoding, Raw, WordOrder};
use crate::config::{Table, Tag, TagSource};
use crate::fleet::outbox::{Outbox, Publish};
use crate::fleet::FleetStats;
use crate::sources::modbus_plan::{plan, MAX_BITS, MAX_REGISTERS};
use crate::value::Value;

/// Reads arbitrary bytes as a stream of small choices; zeros once they run out.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// --- Register decoding -------------------------------------------------------------------

pub const DATA_TYPES: [DataType; 9] = [
    DataType::Bool,
    DataType::U16,
    DataType::I16,
    DataType::U32,
    DataType::I32,
    DataType::U64,
    DataType::I64,
    DataType::F32,
    DataType::F64,
];

/// An encoding the configuration accepts (a bit only for a bool, 0..15).
pub fn encoding(data_type: DataType, little_bytes: bool, little_words: bool, bit: u8) -> Encoding {
    Encoding {
        data_type,
        byte_order: if little_bytes {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        },
        word_order: if little_words {
            WordOrder::Little
        } else {
            WordOrder::Big
        },
        bit: (data_type == DataType::Bool).then_some(bit % 16),
    }
}

/// Decoding any registers with any valid encoding: a short response is an error, a number is
/// finite, a bool is the chosen bit.
pub fn check_decode(regs: &[u16], enc: Encoding) {
    let needed = usize::from(enc.data_type.registers());
    match decode(regs, enc) {
        Err(DecodeError::Short { needed: n, got }) => {
            assert!(regs.len() < needed && n == needed && got == regs.len());
        }
        Ok(Raw::Number(x)) => {
            // Only a float's bits can say NaN or infinity; the tag's value refuses them later
            // (`sources::to_value`, `value::NOT_FINITE`).
            assert!(regs.len() >= needed, "{x}");
            assert!(x.is_finite() || matches!(enc.data_type, DataType::F32 | DataType::F64));
            assert!(enc.data_type != DataType::Bool);
        }
        Ok(Raw::Bool(b)) => {
            assert_eq!(enc.data_type, DataType::Bool);
            assert_eq!(b, regs[0] >> enc.bit.unwrap_or(0) & 1 == 1);
        }
    }
}

pub fn decode_bytes(data: &[u8]) {
    let mut b = Bytes::new(data);
    let flags = b.u8();
    let enc = encoding(
        DATA_TYPES[usize::from(flags % 9)],
        flags & 0x10 != 0,
        flags & 0x20 != 0,
        b.u8(),
    );
    let mut regs = Vec::new();
    while !b.is_empty() && regs.len() < 8 {
        regs.push(b.u16());
    }
    check_decode(&regs, enc);
}

// --- Modbus request planning -------------------------------------------------------------

pub const TABLES: [Table; 4] = [Table::Holding, Table::Input, Table::Coil, Table::Discrete];

/// A Modbus tag as the configuration would make it.
pub fn modbus_tag(i: usize, table: Table, address: u16, data_type: DataType, ms: u64) -> Tag {
    Tag {
        name: format!("t{i}"),
        signal: format!("d.t{i}"),
        canonical: false,
        unit: String::new(),
        interval: Duration::from_millis(ms),
        scale: 1.0,
        offset: 0.0,
        deadband: 0.0,
        labels: vec![],
        text: false,
        verified: true,
        source: TagSource::Modbus {
            table,
            address,
            encoding: encoding(data_type, false, false, 0),
        },
    }
}

/// The plan of any tags the configuration accepts (address + width within the 65,536
/// registers; tags may overlap or repeat): see the module's comment.
pub fn check_plan(tags: &[Tag], max_gap: u16) {
    let first = 100;
    let groups = plan(tags, first, max_gap);
    let mut read_by = vec![0usize; tags.len()];
    for g in &groups {
        for r in &g.reads {
            let limit = match r.table {
                Table::Coil | Table::Discrete => MAX_BITS,
                Table::Holding | Table::Input => MAX_REGISTERS,
            };
            assert!(r.count >= 1 && r.count <= limit, "{r:?}");
            let end = u32::from(r.start) + u32::from(r.count);
            assert!(end <= 1 << 16, "past the last register: {r:?}");
            // Which registers of the request some tag needs.
            let mut needed = vec![false; usize::from(r.count)];
            for &(signal, i) in &r.tags {
                assert_eq!(signal, first + i);
                let t = &tags[i];
                read_by[i] += 1;
                assert_eq!(t.interval, g.interval, "tag {i} in another group");
                let TagSource::Modbus { table, address, .. } = t.source else {
                    panic!("an OPC UA tag in a Modbus plan");
                };
                assert_eq!(table, r.table);
                let t_end = u32::from(address) + u32::from(t.width());
                assert!(
                    address >= r.start && t_end <= end,
                    "tag {i} not covered by {r:?}"
                );
                for a in u32::from(address)..t_end.min(end) {
                    needed[(a - u32::from(r.start)) as usize] = true;
                }
            }
            let mut run = 0u32;
            for n in needed {
                run = if n { 0 } else { run + 1 };
                assert!(run <= u32::from(max_gap), "a gap above {max_gap} in {r:?}");
            }
        }
    }
    for (i, t) in tags.iter().enumerate() {
        let modbus = matches!(t.source, TagSource::Modbus { .. });
        assert_eq!(
            read_by[i],
            usize::from(modbus),
            "tag {i} read {} times",
            read_by[i]
        );
    }
}

pub fn plan_bytes(data: &[u8]) {
    let mut b = Bytes::new(data);
    let max_gap = u16::from(b.u8() % 32);
    let mut tags = Vec::new();
    while !b.is_empty() && tags.len() < 64 {
        let kind = b.u8();
        let table = TABLES[usize::from(kind % 4)];
        let data_type = match table {
            Table::Coil | Table::Discrete => DataType::Bool,
            _ => DATA_TYPES[usize::from(kind / 4 % 9)],
        };
        let width = match table {
            Table::Coil | Table::Discrete => 1,
            _ => data_type.registers(),
        };
        // Addresses cluster (so that merging happens) or spread over the whole table.
        let address = if kind & 0x80 != 0 {
            b.u16()
        } else {
            u16::from(b.u8())
        }
        .min(u16::MAX - width + 1);
        let ms = [100, 1000][usize::from(b.u8() % 2)];
        tags.push(modbus_tag(tags.len(), table, address, data_type, ms));
    }
    check_plan(&tags, max_gap);
}

// --- The configuration parser ------------------------------------------------------------

/// The example configuration, whose mutations reach far into the checks.
pub fn example_config() -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml");
    let text = std::fs::read_to_string(&path).expect("configs/agent.toml");
    (path, text)
}

/// Any text: a configuration, or problems that each name a line of the text (1-based, at
/// most one past the last line).
pub fn check_config(file: &Path, text: &str) {
    if let Err(e) = crate::config::parse(file, text) {
        let lines = text.split('\n').count();
        assert!(!e.problems.is_empty(), "an error without a problem");
        for p in &e.problems {
            assert!(
                p.line >= 1 && p.line <= lines && p.column >= 1,
                "{}:{}: {} (the text has {lines} lines)",
                p.line,
                p.column,
                p.message
            );
        }
    }
}

/// Arbitrary bytes as text (lossily), or as an edit of the example configuration: a line
/// replaced by, or a fragment spliced in from, the bytes.
pub fn config_bytes(example: &(std::path::PathBuf, String), data: &[u8]) {
    let mut b = Bytes::new(data);
    let how = b.u8();
    let (file, base) = example;
    let text = match how % 4 {
        0 => String::from_utf8_lossy(b.rest()).into_owned(),
        mode => {
            let lines: Vec<&str> = base.lines().collect();
            let at = usize::from(b.u16()) % lines.len();
            let fragment = String::from_utf8_lossy(b.rest()).into_owned();
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            match mode {
                1 => out[at] = fragment,
                2 => out.insert(at, fragment),
                _ => {
                    // Keep the key, replace the value.
                    let key = out[at].split('=').next().unwrap_or("").to_string();
                    out[at] = format!("{key}= {fragment}");
                }
            }
            out.join("\n")
        }
    };
    check_config(file, &text);
}

// --- The OPC UA value mapping ------------------------------------------------------------

/// Any variant: no panic; a number that is not finite (as sent or once scaled) is refused,
/// never a value; integers, booleans and strings keep their kind and value (with scale 1 and
/// no labels).
pub fn check_variant(tag: &Tag, v: &opcua::types::Variant) {
    use opcua::types::Variant as V;
    let mapped = crate::sources::opcua::map_variant(tag, v);
    if let Some(Ok(Value::Number(x))) = &mapped {
        assert!(x.is_finite(), "{v:?} became {x}");
    }
    if let V::Double(x) = v {
        if !x.is_finite() {
            assert!(matches!(mapped, Some(Err(_))), "{v:?} became {mapped:?}");
        }
    }
    let got = mapped.and_then(|r| r.ok());
    let plain = tag.labels.is_empty() && tag.scale == 1.0 && tag.offset == 0.0;
    let int = match v {
        V::SByte(x) => Some(f64::from(*x)),
        V::Byte(x) => Some(f64::from(*x)),
        V::Int16(x) => Some(f64::from(*x)),
        V::UInt16(x) => Some(f64::from(*x)),
        V::Int32(x) => Some(f64::from(*x)),
        V::UInt32(x) => Some(f64::from(*x)),
        V::Int64(x) => Some(*x as f64),
        V::UInt64(x) => Some(*x as f64),
        _ => None,
    };
    match (v, &got) {
        (_, Some(Value::Number(x))) if int.is_some() && plain => assert_eq!(Some(*x), int),
        _ if int.is_some() && plain => panic!("{v:?} became {got:?}"),
        (V::Boolean(b), g) => assert_eq!(g, &Some(Value::Bool(*b))),
        (V::String(s), g) => assert_eq!(g, &Some(Value::Text(s.as_ref().to_string()))),
        (V::Double(x), g) if x.is_finite() && plain => assert_eq!(g, &Some(Value::Number(*x))),
        _ => {}
    }
}

/// A tag as an OPC UA source has it: plain, scaled, or with labels.
pub fn opcua_tag(kind: u8) -> Tag {
    let mut t = modbus_tag(0, Table::Input, 0, DataType::F64, 100);
    t.source = TagSource::OpcUa {
        node: "ns=2;s=X".into(),
    };
    match kind % 3 {
        0 => {}
        1 => {
            t.scale = 0.1;
            t.offset = -40.0;
        }
        _ => t.labels = vec![(0, "active".into()), (1, "interrupted".into())],
    }
    t
}

/// Bytes decoded as an OPC UA binary `Variant`, as a server's answer would be, then mapped.
pub fn variant_bytes(data: &[u8]) {
    use opcua::types::BinaryDecodable;
    let mut b = Bytes::new(data);
    let tag = opcua_tag(b.u8());
    let mut rest = b.rest();
    let ctx = opcua::types::ContextOwned::default();
    if let Ok(v) = opcua::types::Variant::decode(&mut rest, &ctx.context()) {
        check_variant(&tag, &v);
    }
}

// --- The MQTT outbox ---------------------------------------------------------------------

/// What happens to an outbox.
#[derive(Debug, Clone, Copy)]
pub enum OutboxOp {
    /// A producer hands in a message of about `size` bytes: an event, or a retained state of
    /// one of a few topics.
    Push { retained: Option<u8>, size: u16 },
    /// Everything in memory goes to disk (the broker is away).
    Spill,
    /// The broker takes up to `n` messages, and acknowledges them (with all before) or not yet.
    Deliver { n: u8, ack: bool },
    /// The connection drops: sending starts again from the oldest unacknowledged message.
    Reconnect,
    /// A clean stop and a start.
    Restart,
}

/// Runs `ops` against an outbox on a fresh file at `path` with `budget` bytes, then delivers
/// everything: events come out in push order, each either delivered or counted as dropped,
/// and the file within its budget after every spill.
pub fn check_outbox(path: &Path, budget: u64, ops: &[OutboxOp]) {
    let stats = Arc::new(FleetStats::default());
    let mut o = Some(Outbox::open(path, budget, stats.clone()));
    let (mut pushed_events, mut pushed) = (0i64, 0u64);
    // The consumer: push index of the last event received, events and messages received
    // (first deliveries only, told apart by the message's own number `n`), and where sending
    // stands.
    let (mut last, mut events, mut received) = (-1i64, 0u64, 0u64);
    let mut sent: Option<u64> = None;
    let mut seen = std::collections::BTreeSet::new();
    let mut take = |o: &mut Outbox, sent: &mut Option<u64>, n: usize, ack: bool| -> usize {
        let page = o.next(*sent, n);
        for m in &page {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            assert!(v["epoch"].is_string(), "{v}");
            if seen.insert(v["n"].as_u64().unwrap()) {
                received += 1;
                if !m.retain {
                    let i = v["i"].as_i64().unwrap();
                    assert!(i > last, "event {i} after event {last}");
                    last = i;
                    events += 1;
                }
            }
        }
        if let Some(m) = page.last() {
            *sent = Some(m.pos);
            if ack {
                o.acked(m.pos, page.len() as u64);
            }
        }
        page.len()
    };
    for op in ops {
        let ob = o.as_mut().unwrap();
        match *op {
            OutboxOp::Push { retained, size } => {
                let mut body = serde_json::Map::new();
                body.insert("pad".into(), "x".repeat(usize::from(size)).into());
                body.insert("n".into(), pushed.into());
                let topic = match retained {
                    Some(t) => format!("m/state/{}", t % 4),
                    None => {
                        body.insert("i".into(), pushed_events.into());
                        pushed_events += 1;
                        "m/signals/x".into()
                    }
                };
                pushed += 1;
                ob.push(Publish {
                    topic,
                    retain: retained.is_some(),
                    body,
                    cursor: None,
                });
            }
            OutboxOp::Spill => {
                ob.spill(Duration::ZERO);
                let on_disk = stats.disk_bytes.load(Ordering::Relaxed);
                assert!(
                    on_disk <= budget,
                    "{on_disk} bytes on disk, budget {budget}"
                );
            }
            OutboxOp::Deliver { n, ack } => {
                take(ob, &mut sent, usize::from(n), ack);
            }
            OutboxOp::Reconnect => sent = None,
            OutboxOp::Restart => {
                o.take().unwrap().close();
                o = Some(Outbox::open(path, budget, stats.clone()));
                sent = None;
            }
        }
    }
    let ob = o.as_mut().unwrap();
    sent = None;
    while take(ob, &mut sent, 64, true) > 0 {}
    // A message dropped while in flight may have reached the broker all the same: the count
    // can be above what is missing, never below it.
    let dropped = stats.dropped.load(Ordering::Relaxed);
    let lost = pushed_events as u64 - events;
    assert!(
        lost <= dropped && dropped <= pushed,
        "{pushed_events} events pushed, {events} delivered, {dropped} counted as dropped \
         ({pushed} messages, {received} delivered)"
    );
}

/// Bytes as a run of outbox operations against a file in `dir` (emptied first).
pub fn outbox_bytes(dir: &Path, data: &[u8]) {
    let _ = std::fs::remove_dir_all(dir);
    let mut b = Bytes::new(data);
    let budget = 2_000 + u64::from(b.u16() % 8_000);
    let mut ops = Vec::new();
    while !b.is_empty() && ops.len() < 256 {
        let k = b.u8();
        ops.push(match k % 8 {
            0..=3 => OutboxOp::Push {
                retained: (k & 0x40 != 0).then_some(k >> 3),
                size: u16::from(b.u8()) * 4,
            },
            4 => OutboxOp::Spill,
            5 => {
                let n = b.u8();
                OutboxOp::Deliver {
                    n: n % 16,
                    ack: n & 0x80 == 0,
                }
            }
            6 => OutboxOp::Reconnect,
            _ if k & 0x80 != 0 => OutboxOp::Restart,
            _ => OutboxOp::Spill,
        });
    }
    check_outbox(&dir.join("o.db"), budget, &ops);
}
