//! The one evaluator loop: a thread that ticks every `[operations] tick_ms`, builds the tick
//! (frame, time step, activity, device health), runs every evaluator in order, publishes their
//! conditions for the alarm engine and hands their records to the store. Its work is
//! synchronous (a frame, some arithmetic) and must not wait behind network or disk I/O.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::watch;

use super::clock::StepClock;
use super::frame::Frame;
use super::operations::Activity;
use super::{Evaluator, Tick};
use crate::condition::Condition;
use crate::config::OperationSettings;
use crate::state::State;
use crate::store::Store;
use crate::value::now_ms;

/// The running loop.
pub struct Evaluators {
    conditions: watch::Receiver<Arc<Vec<Condition>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Evaluators {
    /// Starts the loop with `evaluators`, run in the order given.
    pub fn start(
        settings: &OperationSettings,
        state: Arc<State>,
        store: Arc<Store>,
        mut evaluators: Vec<Box<dyn Evaluator>>,
    ) -> Result<Evaluators> {
        let (tx, conditions) = watch::channel(Arc::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tick = settings.tick;
        let mut activity = Activity::new(settings.clone());
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evaluators".into())
            .spawn(move || {
                let mut clock = StepClock::default();
                let mut last = Instant::now();
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    let now = Instant::now();
                    let wall_dt = now.duration_since(last).as_secs_f64();
                    last = now;
                    let frame = Frame::capture(&state);
                    let dt_s = clock.step(frame.num("machine.clock"), wall_dt);
                    activity.step(&frame, dt_s);
                    let devices = state.device_views();
                    let tick = Tick {
                        frame: &frame,
                        dt_s,
                        activity: &activity,
                        devices: &devices,
                    };
                    let mut all = Vec::new();
                    for e in &mut evaluators {
                        let out = e.step(&tick);
                        all.extend(out.conditions);
                        for r in out.records {
                            store.record(r);
                        }
                    }
                    tx.send_replace(Arc::new(all));
                }
                let now = now_ms();
                for e in &mut evaluators {
                    for r in e.stop(now) {
                        store.record(r);
                    }
                }
            })?;
        Ok(Evaluators {
            conditions,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Follows the conditions of the latest tick (the alarm engine).
    pub fn conditions(&self) -> watch::Receiver<Arc<Vec<Condition>>> {
        self.conditions.clone()
    }

    /// Ends the loop after its current tick; the evaluators' last records are queued for the
    /// store.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.thread.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}
