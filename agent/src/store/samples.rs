//! Signals and their samples: one row per stored change (the state queues changes beyond a
//! deadband and a heartbeat, never every poll), history reads, retention, and the time-ordered
//! scan the signals export streams.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use anyhow::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::{Reader, Tx};
use crate::state::{Sample, State};
use crate::value::Value;

/// A stored sample, as the history API returns it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct StoredSample {
    pub ts_ms: i64,
    /// `None` where the signal was unavailable.
    #[schema(value_type = Option<crate::value::SignalValue>)]
    pub value: Option<Value>,
}

/// One sample of the time-ordered scan, with its signal.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow<'a> {
    pub ts_ms: i64,
    pub signal: &'a str,
    pub device: &'a str,
    pub unit: &'a str,
    pub num: Option<f64>,
    pub txt: Option<String>,
}

fn value(num: Option<f64>, txt: Option<String>) -> Option<Value> {
    txt.map(Value::Text).or(num.map(Value::Number))
}

/// Gives every signal of the state its row id in the store (names are the stable key across
/// restarts and configuration changes). Writes only what changed: a restart on a full disk
/// must still open the store.
pub(super) fn register_signals(conn: &mut Connection, state: &State) -> Result<Vec<i64>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::new();
    for s in state.signals() {
        let device = &state.devices()[s.device].name;
        let known: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT id, device, unit FROM signal WHERE name = ?1",
                [&s.name],
                |r| Ok((r.get("id")?, r.get("device")?, r.get("unit")?)),
            )
            .optional()?;
        let id = match known {
            Some((id, d, u)) if d == *device && u == s.unit => id,
            _ => {
                tx.execute(
                    "INSERT INTO signal (name, device, unit) VALUES (?1, ?2, ?3)
                     ON CONFLICT(name) DO UPDATE SET device = excluded.device, unit = excluded.unit",
                    params![s.name, device, s.unit],
                )?;
                tx.query_row("SELECT id FROM signal WHERE name = ?1", [&s.name], |r| {
                    r.get("id")
                })?
            }
        };
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}

/// How far a sample may be moved past a millisecond that an earlier sample of its signal
/// already holds (see [`Tx::insert_samples`]); beyond, it is dropped and logged.
const MAX_SHIFT_MS: i64 = 1000;

impl Tx<'_> {
    /// `ids`: the store's row id of each state signal. Returns how many samples were moved to
    /// a later millisecond.
    ///
    /// Two samples of one signal can carry the same millisecond (two changes within one ms, a
    /// heartbeat meeting a change, the wall clock stepped back by NTP). The key (signal, ms)
    /// stays, so history reads and retention keep their one index; a sample whose millisecond
    /// is taken goes to the next free one instead of replacing the stored one (which
    /// `INSERT OR REPLACE` did, silently). It lands after the sample that arrived before it,
    /// so both values are kept in the order they came, a millisecond apart: far below any
    /// poll interval. A sample that finds no free millisecond within a second (a clock stepped
    /// back into densely stored history) is dropped and logged rather than overwrite one.
    pub(super) fn insert_samples(&self, ids: &[i64], batch: &[Sample]) -> Result<u64> {
        let mut stmt = self.0.prepare_cached(
            "INSERT INTO sample (signal_id, ts_ms, num, txt) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (signal_id, ts_ms) DO NOTHING",
        )?;
        let mut shifted = 0;
        for s in batch {
            let (num, txt) = match &s.value {
                None => (None, None),
                Some(Value::Text(t)) => (None, Some(t.as_str())),
                Some(v) => (v.as_f64(), None),
            };
            let mut ts = s.ts_ms;
            while stmt.execute(params![ids[s.signal], ts, num, txt])? == 0 {
                ts += 1;
                if ts - s.ts_ms > MAX_SHIFT_MS {
                    tracing::warn!(
                        "store: a sample of signal id {} at {} ms found no free millisecond \
                         within {MAX_SHIFT_MS} ms (the clock stepped back?); dropped",
                        ids[s.signal],
                        s.ts_ms
                    );
                    break;
                }
            }
            if ts != s.ts_ms && ts - s.ts_ms <= MAX_SHIFT_MS {
                shifted += 1;
            }
        }
        Ok(shifted)
    }
}

impl Reader {
    /// Stored samples of one signal between two times (ms since the Unix epoch), oldest first.
    pub fn history(
        &self,
        signal: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredSample>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.ts_ms, s.num, s.txt FROM sample s JOIN signal g ON g.id = s.signal_id
             WHERE g.name = ?1 AND s.ts_ms >= ?2 AND s.ts_ms <= ?3 ORDER BY s.ts_ms LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![signal, from_ms, to_ms, limit as i64], |r| {
            Ok(StoredSample {
                ts_ms: r.get("ts_ms")?,
                value: value(r.get("num")?, r.get("txt")?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn sample_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) AS n FROM sample", [], |r| r.get("n"))?;
        Ok(n as u64)
    }

    /// The last value a signal had (a row marking it unavailable is no value).
    pub fn last_value(&self, signal: &str) -> Result<Option<Value>> {
        Ok(self
            .conn
            .query_row(
                "SELECT s.num, s.txt FROM sample s JOIN signal g ON g.id = s.signal_id
                 WHERE g.name = ?1 AND (s.num IS NOT NULL OR s.txt IS NOT NULL)
                 ORDER BY s.ts_ms DESC LIMIT 1",
                [signal],
                |r| Ok(value(r.get("num")?, r.get("txt")?)),
            )
            .optional()?
            .flatten())
    }

    /// A signal's unit as last registered.
    pub fn unit_of(&self, signal: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT unit FROM signal WHERE name = ?1", [signal], |r| {
                r.get("unit")
            })
            .optional()?)
    }

    /// Every sample in [from, to), in time order (ties by signal name), handed to `each`.
    ///
    /// The sample table's key is (signal, time), so one range scan per signal needs no sort;
    /// the scans are merged by time here (a heap over one open cursor per signal). SQLite
    /// sorting a million rows instead would spill to temporary files on the SD card.
    pub fn scan_samples(
        &self,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(SampleRow<'_>) -> Result<()>,
    ) -> Result<()> {
        struct Signal {
            id: i64,
            name: String,
            device: String,
            unit: String,
        }
        struct Head {
            ts: i64,
            num: Option<f64>,
            txt: Option<String>,
        }
        fn next(rows: &mut rusqlite::Rows<'_>) -> Result<Option<Head>> {
            Ok(match rows.next()? {
                Some(r) => Some(Head {
                    ts: r.get("ts_ms")?,
                    num: r.get("num")?,
                    txt: r.get("txt")?,
                }),
                None => None,
            })
        }
        let signals: Vec<Signal> = self
            .conn
            .prepare("SELECT id, name, device, unit FROM signal ORDER BY name")?
            .query_map([], |r| {
                Ok(Signal {
                    id: r.get("id")?,
                    name: r.get("name")?,
                    device: r.get("device")?,
                    unit: r.get("unit")?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmts = signals
            .iter()
            .map(|_| {
                self.conn.prepare(
                    "SELECT ts_ms, num, txt FROM sample
                     WHERE signal_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY ts_ms",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cursors = stmts
            .iter_mut()
            .zip(&signals)
            .map(|(s, g)| s.query(params![g.id, from_ms, to_ms]))
            .collect::<Result<Vec<_>, _>>()?;
        let mut heads: Vec<Option<Head>> = Vec::with_capacity(cursors.len());
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
            each(SampleRow {
                ts_ms: h.ts,
                signal: &g.name,
                device: &g.device,
                unit: &g.unit,
                num: h.num,
                txt: h.txt,
            })?;
            heads[i] = next(&mut cursors[i])?;
            if let Some(n) = &heads[i] {
                heap.push(Reverse((n.ts, i)));
            }
        }
        Ok(())
    }
}
