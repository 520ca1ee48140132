//! Turning a device's tags into as few Modbus requests as possible: tags of one table and poll
//! interval whose registers touch (or lie within `max_gap` of each other) are read in one
//! request, up to the protocol's limit per request.

use std::time::Duration;

use crate::config::{Table, Tag, TagSource};
use crate::state::SignalId;

/// Registers per read request (Modbus application protocol: 125 registers, 2000 bits).
pub const MAX_REGISTERS: u16 = 125;
pub const MAX_BITS: u16 = 2000;

/// One request and the tags it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub table: Table,
    pub start: u16,
    pub count: u16,
    /// (signal, index of the tag in the device's tag list)
    pub tags: Vec<(SignalId, usize)>,
}

/// The requests made every `interval`.
#[derive(Debug, Clone)]
pub struct PollGroup {
    pub interval: Duration,
    pub reads: Vec<Read>,
}

/// Plans the reads of one device. `first_signal` is the state id of the device's first tag
/// (tags of a device have consecutive ids).
pub fn plan(tags: &[Tag], first_signal: SignalId, max_gap: u16) -> Vec<PollGroup> {
    let mut intervals: Vec<Duration> = tags.iter().map(|t| t.interval).collect();
    intervals.sort();
    intervals.dedup();
    intervals
        .into_iter()
        .map(|interval| {
            let mut items: Vec<(Table, u16, u16, usize)> = tags
                .iter()
                .enumerate()
                .filter(|(_, t)| t.interval == interval)
                .filter_map(|(i, t)| match t.source {
                    TagSource::Modbus { table, address, .. } => {
                        Some((table, address, t.width(), i))
                    }
                    TagSource::OpcUa { .. } => None,
                })
                .collect();
            items.sort_by_key(|&(table, addr, _, _)| (table as u8, addr));
            let mut reads: Vec<Read> = Vec::new();
            for (table, addr, width, i) in items {
                let limit = match table {
                    Table::Coil | Table::Discrete => MAX_BITS,
                    Table::Holding | Table::Input => MAX_REGISTERS,
                };
                let end = u32::from(addr) + u32::from(width);
                if let Some(r) = reads.last_mut() {
                    let r_end = u32::from(r.start) + u32::from(r.count);
                    let merged_count = end.max(r_end) - u32::from(r.start);
                    if r.table == table
                        && u32::from(addr) <= r_end + u32::from(max_gap)
                        && merged_count <= u32::from(limit)
                    {
                        r.count = merged_count as u16;
                        r.tags.push((first_signal + i, i));
                        continue;
                    }
                }
                reads.push(Read {
                    table,
                    start: addr,
                    count: width,
                    tags: vec![(first_signal + i, i)],
                });
            }
            PollGroup { interval, reads }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ByteOrder, DataType, Encoding, WordOrder};

    fn tag(table: Table, address: u16, t: DataType, ms: u64) -> Tag {
        Tag {
            name: format!("t{address}"),
            signal: format!("d.t{address}"),
            canonical: false,
            text: false,
            unit: String::new(),
            interval: Duration::from_millis(ms),
            scale: 1.0,
            offset: 0.0,
            deadband: 0.0,
            labels: vec![],
            verified: true,
            source: TagSource::Modbus {
                table,
                address,
                encoding: Encoding {
                    data_type: t,
                    byte_order: ByteOrder::Big,
                    word_order: WordOrder::Big,
                    bit: (t == DataType::Bool).then_some(0),
                },
            },
        }
    }

    #[test]
    fn contiguous_registers_merge_and_gaps_split() {
        let tags = vec![
            tag(Table::Input, 0, DataType::U16, 100),
            tag(Table::Input, 1, DataType::U16, 100),
            tag(Table::Input, 3, DataType::U32, 100),
            tag(Table::Input, 7, DataType::F32, 100),
            tag(Table::Holding, 100, DataType::U16, 100),
            tag(Table::Input, 2, DataType::U16, 1000),
        ];
        let groups = plan(&tags, 10, 0);
        assert_eq!(groups.len(), 2);
        let fast = &groups[0].reads;
        let spans: Vec<(Table, u16, u16)> =
            fast.iter().map(|r| (r.table, r.start, r.count)).collect();
        assert_eq!(
            spans,
            vec![
                (Table::Holding, 100, 1),
                (Table::Input, 0, 2),
                (Table::Input, 3, 2),
                (Table::Input, 7, 2)
            ]
        );
        assert_eq!(fast[1].tags, vec![(10, 0), (11, 1)]);
        // With a gap allowance the input reads become one.
        let groups = plan(&tags, 0, 2);
        let spans: Vec<(u16, u16)> = groups[0].reads.iter().map(|r| (r.start, r.count)).collect();
        assert_eq!(spans, vec![(100, 1), (0, 9)]);
    }

    #[test]
    fn bits_of_one_register_share_a_read_and_limits_hold() {
        let mut tags = vec![
            tag(Table::Input, 5, DataType::Bool, 100),
            tag(Table::Input, 5, DataType::Bool, 100),
        ];
        let g = plan(&tags, 0, 0);
        assert_eq!((g[0].reads.len(), g[0].reads[0].count), (1, 1));
        tags = (0..130)
            .map(|a| tag(Table::Holding, a, DataType::U16, 100))
            .collect();
        let g = plan(&tags, 0, 0);
        let counts: Vec<u16> = g[0].reads.iter().map(|r| r.count).collect();
        assert_eq!(counts, vec![125, 5]);
    }
}
