//! `signals`: every stored sample in the range, in time order (the store merges its
//! per-signal scans, so nothing is sorted on the SD card).

use anyhow::Result;

use super::residual_life::LifeContext;
use super::sink::{Cell, Sink};
use super::Request;
use crate::store::Reader;

pub fn export(r: &Reader, life: &LifeContext, req: &Request, sink: &mut Sink) -> Result<()> {
    r.scan_samples(req.from_ms, req.to_ms, |s| {
        let available = s.num.is_some() || s.txt.is_some();
        sink.push([
            Cell::Ts(s.ts_ms),
            Cell::T(life.machine_id.clone()),
            Cell::T(s.device.to_string()),
            Cell::T(s.signal.to_string()),
            Cell::T(s.unit.to_string()),
            s.num.into(),
            s.txt.into(),
            Cell::B(available),
        ])
    })
}
