//! Evaluators: the stage between the state and the sinks. One loop (`run.rs`) on its own
//! thread takes, at every tick, a frame of the good values (`frame.rs`), the time step over
//! which everything is integrated (`clock.rs`: the machine's own clock where mapped), and the
//! machine's activity (`operations.rs`: operations and parts cut from the stream, energy and
//! oil metered, the one notion of "cutting"), and hands them to every evaluator in turn:
//!
//! - `health.rs`: devices unavailable or stale, and tags failed on a connected device;
//! - `compliance/`: the green-cutting rules of the standards profiles, the live verdict, and
//!   the operation, part and violation records;
//! - `life/`: tool usage and remaining life, tool lifetimes per class, component life from the
//!   service history, and life against its warning and limit levels.
//!
//! Each evaluator returns *conditions* (named facts that are active or not, for the alarm
//! engine) and *records* (for the store's writer). None of them touches the store, the network
//! or the clock itself; slow work (a refit of the tool lifetimes) runs on a thread of its own,
//! never on the tick.

pub mod clock;
pub mod compliance;
pub mod frame;
pub mod health;
pub mod life;
pub mod monitor;
pub mod operations;
pub mod plausibility;
mod run;

pub use run::Evaluators;

use crate::condition::Condition;
use crate::state::DeviceView;
use crate::store::Record;
use frame::Frame;
use operations::Activity;

/// What every evaluator is given at one tick.
pub struct Tick<'a> {
    /// The good values now (a stale or unavailable value is absent).
    pub frame: &'a Frame,
    /// Seconds to integrate over since the last tick.
    pub dt_s: f64,
    /// Operations and parts: what the machine is doing, and what finished at this tick.
    pub activity: &'a Activity,
    /// Every device's health now.
    pub devices: &'a [DeviceView],
}

/// What an evaluator concludes at one tick.
#[derive(Debug, Default)]
pub struct Output {
    /// Every condition the evaluator watches, active or not: a key that is no longer reported
    /// clears its alarm.
    pub conditions: Vec<Condition>,
    /// What the store keeps.
    pub records: Vec<Record>,
}

pub trait Evaluator: Send {
    /// For the log and `/metrics`.
    fn name(&self) -> &'static str;

    /// One tick.
    fn step(&mut self, tick: &Tick) -> Output;

    /// At a clean stop: what must still be stored.
    fn stop(&mut self, _now_ms: i64) -> Vec<Record> {
        Vec::new()
    }
}
