//! Properties of the parts that take input nobody checked before it, over generated inputs
//! (proptest: a failure shrinks to the smallest input that shows it). The checkers are the
//! agent's own `fuzz_targets`, shared with the cargo-fuzz targets and `fuzz-bench`; what they
//! assert is listed there.

use std::sync::atomic::{AtomicU64, Ordering};

use agent::codec::{decode, DataType, Raw};
use agent::config::Table;
use agent::fuzz_targets::{self as ft, OutboxOp};
use opcua::types::{LocalizedText, UAString, Variant};
use proptest::prelude::*;

fn data_type() -> impl Strategy<Value = DataType> {
    prop::sample::select(ft::DATA_TYPES.to_vec())
}

/// The registers of `bytes` (most significant first) as a device with these orders sends them.
fn registers(bytes: &[u8], little_bytes: bool, little_words: bool) -> Vec<u16> {
    let mut regs: Vec<u16> = bytes
        .chunks(2)
        .map(|c| {
            if little_bytes {
                u16::from_be_bytes([c[1], c[0]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        })
        .collect();
    if little_words {
        regs.reverse();
    }
    regs
}

proptest! {
    #[test]
    fn decoding_any_registers_never_panics_and_numbers_are_finite(
        regs in prop::collection::vec(any::<u16>(), 0..6),
        t in data_type(),
        little_bytes: bool,
        little_words: bool,
        bit in 0u8..16,
    ) {
        ft::check_decode(&regs, ft::encoding(t, little_bytes, little_words, bit));
    }

    #[test]
    fn integers_and_floats_round_trip_in_every_byte_and_word_order(
        x: i64,
        t in data_type().prop_filter("numbers", |t| *t != DataType::Bool),
        little_bytes: bool,
        little_words: bool,
    ) {
        let (bytes, want): (Vec<u8>, f64) = match t {
            DataType::U16 => ((x as u16).to_be_bytes().into(), f64::from(x as u16)),
            DataType::I16 => ((x as i16).to_be_bytes().into(), f64::from(x as i16)),
            DataType::U32 => ((x as u32).to_be_bytes().into(), f64::from(x as u32)),
            DataType::I32 => ((x as i32).to_be_bytes().into(), f64::from(x as i32)),
            DataType::U64 => ((x as u64).to_be_bytes().into(), x as u64 as f64),
            DataType::I64 => (x.to_be_bytes().into(), x as f64),
            // A finite float from the bits (non-finite ones are refused: another property).
            DataType::F32 => {
                let f = (x as i32) as f32 / 7.0;
                (f.to_be_bytes().into(), f64::from(f))
            }
            DataType::F64 => {
                let f = x as f64 / 7.0;
                (f.to_be_bytes().into(), f)
            }
            DataType::Bool => unreachable!(),
        };
        let regs = registers(&bytes, little_bytes, little_words);
        let enc = ft::encoding(t, little_bytes, little_words, 0);
        prop_assert_eq!(decode(&regs, enc), Ok(Raw::Number(want)));
    }

    #[test]
    fn a_plan_reads_every_tag_once_within_the_limits_and_the_gap(
        tags in prop::collection::vec(
            (0usize..4, any::<u16>(), data_type(), prop::bool::ANY, prop::bool::ANY),
            0..40,
        ),
        max_gap in prop_oneof![Just(0u16), 0u16..16, Just(200)],
    ) {
        let tags: Vec<_> = tags
            .into_iter()
            .enumerate()
            .map(|(i, (table, address, t, near, slow))| {
                let table = ft::TABLES[table];
                let t = match table {
                    Table::Coil | Table::Discrete => DataType::Bool,
                    _ => t,
                };
                let width = match table {
                    Table::Coil | Table::Discrete => 1,
                    _ => t.registers(),
                };
                // Half of the tags near each other, so that requests merge and hit the limit.
                let address = if near { address % 300 } else { address };
                let address = address.min(u16::MAX - width + 1);
                ft::modbus_tag(i, table, address, t, if slow { 1000 } else { 100 })
            })
            .collect();
        ft::check_plan(&tags, max_gap);
    }

    #[test]
    fn any_text_is_a_configuration_or_errors_that_each_name_a_line(text in ".{0,400}") {
        let (file, _) = ft::example_config();
        ft::check_config(&file, &text);
    }

    #[test]
    fn toml_shaped_text_is_a_configuration_or_errors_that_each_name_a_line(
        lines in prop::collection::vec(
            prop_oneof![
                "\\[\\[?[a-z_.]{1,12}\\]\\]?",
                "[a-z_]{1,10} = (\"[^\"\\n]{0,10}\"|-?[0-9]{1,6}(\\.[0-9]{1,3})?|true|\\[\\]|\\{\\})",
                ".{0,30}",
            ],
            0..20,
        ),
    ) {
        let (file, _) = ft::example_config();
        ft::check_config(&file, &lines.join("\n"));
    }

    #[test]
    fn an_edited_example_configuration_is_one_or_errors_that_each_name_a_line(
        how in 0u8..4,
        at: u16,
        fragment in prop_oneof![".{0,40}", "-?[0-9]{1,20}(\\.[0-9]{0,5})?", "\"[^\"]{0,12}\""],
    ) {
        let example = ft::example_config();
        let mut data = vec![how, at as u8, (at >> 8) as u8];
        data.extend(fragment.as_bytes());
        ft::config_bytes(&example, &data);
    }

    #[test]
    fn opc_ua_values_keep_their_kind_and_value(
        kind in 0u8..3,
        v in prop_oneof![
            any::<bool>().prop_map(Variant::Boolean),
            any::<i8>().prop_map(Variant::SByte),
            any::<u8>().prop_map(Variant::Byte),
            any::<i16>().prop_map(Variant::Int16),
            any::<u16>().prop_map(Variant::UInt16),
            any::<i32>().prop_map(Variant::Int32),
            any::<u32>().prop_map(Variant::UInt32),
            any::<i64>().prop_map(Variant::Int64),
            any::<u64>().prop_map(Variant::UInt64),
            any::<f32>().prop_map(Variant::Float),
            any::<f64>().prop_map(Variant::Double),
            ".{0,20}".prop_map(|s| Variant::String(UAString::from(s))),
            ".{0,20}".prop_map(|s| Variant::LocalizedText(Box::new(LocalizedText::new("en", &s)))),
        ],
    ) {
        ft::check_variant(&ft::opcua_tag(kind), &v);
    }

    #[test]
    fn opc_ua_binary_from_a_server_never_panics_the_mapping(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        ft::variant_bytes(&bytes);
    }
}

fn outbox_op() -> impl Strategy<Value = OutboxOp> {
    prop_oneof![
        6 => (prop::option::of(0u8..4), 0u16..400)
            .prop_map(|(retained, size)| OutboxOp::Push { retained, size }),
        2 => Just(OutboxOp::Spill),
        2 => (0u8..16, any::<bool>()).prop_map(|(n, ack)| OutboxOp::Deliver { n, ack }),
        1 => Just(OutboxOp::Reconnect),
        1 => Just(OutboxOp::Restart),
    ]
}

static CASE: AtomicU64 = AtomicU64::new(0);

proptest! {
    // Each case opens a SQLite file, and restarts open it again: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_outbox_keeps_the_order_loses_nothing_uncounted_and_keeps_its_budget(
        budget in 1_500u64..20_000,
        ops in prop::collection::vec(outbox_op(), 0..120),
    ) {
        // A real SQLite file, on tmpfs where there is one: the property is about the outbox,
        // not the disk's speed.
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!(
            "agent-props-outbox-{}-{}",
            std::process::id(),
            CASE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        ft::check_outbox(&dir.join("o.db"), budget, &ops);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
