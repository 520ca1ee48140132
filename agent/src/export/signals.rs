//! `signals`: every stored sample in the range, in time order.
//!
//! The sample table's key is (signal, time), so one range scan per signal needs no sort; the
//! scans are merged by time here (a heap over one open cursor per signal). SQLite sorting a
//! million rows instead would spill to temporary files on the SD card.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::Result;
use rusqlite::{params, Connection, Rows};

use super::residual_life::LifeContext;
use super::sink::{Cell, Sink};
use super::{has_table, Request};

struct Signal {
    id: i64,
    name: String,
    device: String,
    unit: String,
}

/// The head row of one signal's cursor.
struct Head {
    ts: i64,
    num: Option<f64>,
    txt: Option<String>,
}

fn next(rows: &mut Rows<'_>) -> Result<Option<Head>> {
    Ok(match rows.next()? {
        Some(r) => Some(Head {
            ts: r.get(0)?,
            num: r.get(1)?,
            txt: r.get(2)?,
        }),
        None => None,
    })
}

pub fn export(conn: &Connection, life: &LifeContext, req: &Request, sink: &mut Sink) -> Result<()> {
    if !has_table(conn, "sample")? {
        return Ok(());
    }
    let signals: Vec<Signal> = conn
        .prepare("SELECT id, name, device, unit FROM signal ORDER BY name")?
        .query_map([], |r| {
            Ok(Signal {
                id: r.get(0)?,
                name: r.get(1)?,
                device: r.get(2)?,
                unit: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmts = signals
        .iter()
        .map(|_| {
            conn.prepare(
                "SELECT ts_ms, num, txt FROM sample WHERE signal_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3
                 ORDER BY ts_ms",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut cursors = stmts
        .iter_mut()
        .zip(&signals)
        .map(|(s, g)| s.query(params![g.id, req.from_ms, req.to_ms]))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heads: Vec<Option<Head>> = Vec::with_capacity(cursors.len());
    // Ties in time go by signal name (the order of `signals`), so the order is reproducible.
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        let h = next(c)?;
        if let Some(h) = &h {
            heap.push(Reverse((h.ts, i)));
        }
        heads.push(h);
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        let h = heads[i].take().expect("a head for every heap entry");
        let g = &signals[i];
        let available = h.num.is_some() || h.txt.is_some();
        sink.push([
            Cell::Ts(h.ts),
            Cell::T(life.machine_id.clone()),
            Cell::T(g.device.clone()),
            Cell::T(g.name.clone()),
            Cell::T(g.unit.clone()),
            h.num.into(),
            h.txt.into(),
            Cell::B(available),
        ])?;
        heads[i] = next(&mut cursors[i])?;
        if let Some(n) = &heads[i] {
            heap.push(Reverse((n.ts, i)));
        }
    }
    Ok(())
}
