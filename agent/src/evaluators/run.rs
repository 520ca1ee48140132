//! The one evaluator loop: a thread that ticks every `[operations] tick_ms`, builds the tick
//! (frame, time step, activity, device health), runs every evaluator in order, publishes their
//! conditions for the alarm engine and hands their records to the store. Its work is
//! synchronous (a frame, some arithmetic) and must not wait behind network or disk I/O.
//!
//! **Supervised.** A panic never ends the loop:
//!
//! - An evaluator whose step panics is *skipped for that tick*, not rebuilt: what it holds (a
//!   tool's cutting minutes, an operation's compliant seconds, an open violation episode, the
//!   service history) is what a rebuild would throw away, and it is plain data that a step
//!   failing half-way leaves usable (its locks are recovered by `supervise::lock`). The next
//!   tick runs it again. Its conditions are held at its last good tick, so its alarms neither
//!   clear nor rise because it failed; and the loop reports the condition
//!   `agent:evaluator:<name>:failed` while it fails, so the failure raises an alarm of its own.
//! - A panic in the stage every evaluator shares (frame, clock, activity) skips the whole tick;
//!   the conditions of the last good tick are published with `agent:evaluator:activity:failed`.
//!
//! Each evaluator and the loop have a [`Pulse`] (`/healthz`: age of the last good step,
//! panics; `/metrics`): one that keeps panicking stops beating and shows as stuck.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::watch;

use super::clock::StepClock;
use super::frame::Frame;
use super::operations::Activity;
use super::{Evaluator, Tick};
use crate::condition::{Condition, Severity};
use crate::config::{Carbon, OperationSettings};
use crate::state::State;
use crate::store::Store;
use crate::supervise::{self, lock, Pulse};
use crate::text::Text;
use crate::value::now_ms;

/// The running loop.
pub struct Evaluators {
    conditions: watch::Receiver<Arc<Vec<Condition>>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The loop's, then each evaluator's, heartbeat.
    pulses: Vec<Arc<Pulse>>,
}

/// The name of the shared stage in conditions and pulses.
const ACTIVITY: &str = "activity";

/// The condition the loop reports for a stage (`activity` or an evaluator) that failed at its
/// latest tick.
fn failed(stage: &str, error: Option<&str>) -> Condition {
    let text = failed_text(stage, error);
    Condition {
        key: format!("agent:evaluator:{stage}:failed"),
        active: error.is_some(),
        severity: Severity::Warning,
        message: text.en,
        message_zh: text.zh,
        source: "agent".into(),
        source_zh: "代理程序".into(),
    }
}

/// The panic's own words are quoted as Rust gave them.
fn failed_text(stage: &str, error: Option<&str>) -> Text {
    match error {
        Some(e) => Text::new(
            format!(
                "the {stage} evaluator fails (it panicked: {e}); its alarms are held as it last \
                 judged them"
            ),
            format!("评估模块 {stage} 出错（程序异常：{e}）；其报警保持在最后一次判断的状态"),
        ),
        None => Text::new(
            format!("the {stage} evaluator runs"),
            format!("评估模块 {stage} 运行正常"),
        ),
    }
}

/// One evaluator in the loop, with what it concluded at its last good tick.
struct Slot {
    evaluator: Box<dyn Evaluator>,
    pulse: Arc<Pulse>,
    conditions: Vec<Condition>,
    /// Why it failed at the latest tick, if it did.
    failing: Option<String>,
}

impl Evaluators {
    /// Starts the loop with `evaluators`, run in the order given.
    pub fn start(
        settings: &OperationSettings,
        carbon: &Carbon,
        state: Arc<State>,
        store: Arc<Store>,
        evaluators: Vec<Box<dyn Evaluator>>,
    ) -> Result<Evaluators> {
        let (tx, conditions) = watch::channel(Arc::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tick = settings.tick;
        let stuck = supervise::stuck_after(tick, Duration::from_secs(5));
        let pulse = Pulse::new("evaluators", tick, stuck);
        let mut slots: Vec<Slot> = evaluators
            .into_iter()
            .map(|evaluator| Slot {
                pulse: Pulse::new(format!("evaluator:{}", evaluator.name()), tick, stuck),
                evaluator,
                conditions: Vec::new(),
                failing: None,
            })
            .collect();
        let pulses = std::iter::once(pulse.clone())
            .chain(slots.iter().map(|s| s.pulse.clone()))
            .collect();
        let mut activity = Activity::new(settings.clone()).with_carbon(carbon.clone());
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
                    let shared = supervise::catch(|| {
                        crate::fault::point("evaluator:activity");
                        let frame = Frame::capture(&state);
                        let dt_s = clock.step(frame.num("machine.clock"), wall_dt);
                        activity.step(&frame, dt_s);
                        (frame, dt_s, state.device_views())
                    });
                    let (frame, dt_s, devices) = match shared {
                        Ok(x) => x,
                        Err(e) => {
                            pulse.panicked(&e);
                            tx.send_replace(Arc::new(held(&slots, Some(&e))));
                            continue;
                        }
                    };
                    let tick = Tick {
                        frame: &frame,
                        dt_s,
                        activity: &activity,
                        devices: &devices,
                    };
                    for slot in &mut slots {
                        // The fault point is named as the pulse: `evaluator:<name>`.
                        let (e, point) = (&mut slot.evaluator, slot.pulse.name());
                        match supervise::catch(|| {
                            crate::fault::point(point);
                            e.step(&tick)
                        }) {
                            Ok(out) => {
                                slot.conditions = out.conditions;
                                slot.failing = None;
                                slot.pulse.beat();
                                for r in out.records {
                                    store.record(r);
                                }
                            }
                            Err(e) => {
                                slot.pulse.panicked(&e);
                                slot.failing = Some(e);
                            }
                        }
                    }
                    tx.send_replace(Arc::new(held(&slots, None)));
                    pulse.beat();
                }
                let now = now_ms();
                for slot in &mut slots {
                    match supervise::catch(|| slot.evaluator.stop(now)) {
                        Ok(records) => records.into_iter().for_each(|r| store.record(r)),
                        Err(e) => slot.pulse.panicked(&e),
                    }
                }
            })?;
        Ok(Evaluators {
            conditions,
            stop,
            thread: Mutex::new(Some(thread)),
            pulses,
        })
    }

    /// Follows the conditions of the latest tick (the alarm engine).
    pub fn conditions(&self) -> watch::Receiver<Arc<Vec<Condition>>> {
        self.conditions.clone()
    }

    /// The loop's heartbeat, then each evaluator's (`evaluator:<name>`).
    pub fn pulses(&self) -> &[Arc<Pulse>] {
        &self.pulses
    }

    /// Ends the loop after its current tick; the evaluators' last records are queued for the
    /// store.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = lock(&self.thread).take() {
            let _ = h.join();
        }
    }
}

/// The conditions to publish: every evaluator's from its last good tick, and whether each
/// stage failed (`shared`: the shared stage's error, when it failed).
fn held(slots: &[Slot], shared: Option<&str>) -> Vec<Condition> {
    let mut all: Vec<Condition> = slots
        .iter()
        .flat_map(|s| s.conditions.iter().cloned())
        .collect();
    all.push(failed(ACTIVITY, shared));
    for s in slots {
        all.push(failed(s.evaluator.name(), s.failing.as_deref()));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluators::Output;
    use std::sync::atomic::AtomicU32;

    /// Reports one active condition; panics on the ticks `panics` says (by tick number).
    struct Flaky {
        ticks: Arc<AtomicU32>,
        panics: fn(u32) -> bool,
        state: Arc<Mutex<u32>>,
    }

    impl Evaluator for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        fn step(&mut self, _: &Tick) -> Output {
            let n = self.ticks.fetch_add(1, Ordering::Relaxed) + 1;
            // Holding a lock when it panics, as a real evaluator would.
            let mut s = lock(&self.state);
            if (self.panics)(n) {
                panic!("flaky tick {n}");
            }
            *s += 1;
            Output {
                conditions: vec![Condition {
                    key: "x".into(),
                    active: true,
                    severity: Severity::Warning,
                    message: format!("tick {n}"),
                    message_zh: format!("第 {n} 拍"),
                    source: "t".into(),
                    source_zh: "t".into(),
                }],
                records: Vec::new(),
            }
        }
    }

    fn find<'a>(c: &'a [Condition], key: &str) -> Option<&'a Condition> {
        c.iter().find(|c| c.key == key)
    }

    /// Waits (bounded) until the latest conditions satisfy `f`.
    fn wait_for(
        rx: &mut watch::Receiver<Arc<Vec<Condition>>>,
        what: &str,
        f: impl Fn(&[Condition]) -> bool,
    ) -> Arc<Vec<Condition>> {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let c = rx.borrow_and_update().clone();
            if f(&c) {
                return c;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {c:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_failed_evaluator_message_reads_in_chinese() {
        use crate::text::check::chinese;
        chinese(&failed_text("life", None), &["life"]);
        let t = failed_text("monitor", Some("index 3 out of range"));
        // The panic is quoted as Rust gave it; everything else is Chinese.
        chinese(&t, &["monitor", "index 3 out of range"]);
    }

    #[test]
    fn a_panicking_evaluator_is_skipped_held_reported_and_runs_again() {
        let (store, state, cfg) = crate::store::test_store("run");
        let ticks = Arc::new(AtomicU32::new(0));
        let kept = Arc::new(Mutex::new(0));
        let settings = OperationSettings {
            tick: Duration::from_millis(5),
            ..cfg.operations.clone()
        };
        let flaky = Flaky {
            ticks: ticks.clone(),
            // Ticks 3 to 30 panic.
            panics: |n| (3..=30).contains(&n),
            state: kept.clone(),
        };
        let ev = Evaluators::start(
            &settings,
            &Carbon::default(),
            state,
            store,
            vec![Box::new(flaky)],
        )
        .unwrap();
        let mut rx = ev.conditions();
        let c = wait_for(&mut rx, "the failure reported", |c| {
            find(c, "agent:evaluator:flaky:failed").is_some_and(|f| f.active)
        });
        // Held at the last good tick (tick 2), not cleared.
        assert_eq!(find(&c, "x").unwrap().message, "tick 2", "{c:?}");
        let pulse = &ev.pulses()[1];
        assert_eq!(pulse.name(), "evaluator:flaky");
        let c = wait_for(&mut rx, "the evaluator back", |c| {
            find(c, "agent:evaluator:flaky:failed").is_some_and(|f| !f.active)
        });
        let msg = &find(&c, "x").unwrap().message;
        let n: u32 = msg.trim_start_matches("tick ").parse().unwrap();
        assert!(n > 30, "{msg}");
        assert_eq!(pulse.panics(), 28);
        assert!(
            *lock(&kept) >= 2,
            "the lock the panics poisoned is usable, and its data kept"
        );
        assert_eq!(ev.pulses()[0].panics(), 0, "the loop itself never panicked");
        ev.stop();
    }
}
