//! The live state: the current value of every signal, its quality and age, and the health of
//! every device. Sources write here; the API, the store and (later) the evaluators read here.
//!
//! Quality is computed when read, from the device's `stale_after`, so a value can never look
//! live just because nothing has written since it went quiet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::machine::{SignalSource, CONTEXT_DEVICE};
use crate::config::Config;
use crate::value::{now_ms, Quality, Value, NOT_FINITE};

/// Index of a signal in the state table (stable for the life of the process).
pub type SignalId = usize;

/// What does not change about a signal.
#[derive(Debug, Clone)]
pub struct SignalInfo {
    pub name: String,
    pub device: usize,
    pub tag: String,
    pub unit: String,
    pub canonical: bool,
    pub deadband: f64,
    /// A device's tag, or the machine context (fixed, table, derived).
    pub source: SignalSource,
    /// `false` for a tag whose mapping nobody has confirmed on the control yet.
    pub verified: bool,
}

/// A sample on its way to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub signal: SignalId,
    pub ts_ms: i64,
    /// `None` when the signal became unavailable.
    pub value: Option<Value>,
}

/// The samples on their way to the store's writer, at most `bound` of them (`[store] queue`).
/// Its memory grows with what waits in it and is handed over whole at each flush: a channel
/// of `bound` slots allocated at start held about 5 MiB of a Pi's memory for 100 000 samples
/// that were never sent (README "Footprint").
#[derive(Debug)]
pub struct SampleQueue {
    waiting: Mutex<Vec<Sample>>,
    bound: usize,
}

impl SampleQueue {
    pub fn new(bound: usize) -> Arc<SampleQueue> {
        Arc::new(SampleQueue {
            waiting: Mutex::new(Vec::new()),
            bound,
        })
    }

    /// Queues a sample; `false` (the sample not kept) when `bound` are waiting already.
    fn push(&self, sample: Sample) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() >= self.bound {
            return false;
        }
        waiting.push(sample);
        true
    }

    /// Every sample waiting, oldest first; the queue is left empty.
    pub fn take(&self) -> Vec<Sample> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug, Default)]
struct Slot {
    value: Option<Value>,
    /// When the value was last known to be current (monotonic, for age and staleness).
    confirmed: Option<Instant>,
    /// Wall-clock time of the same moment, for the API.
    confirmed_ms: i64,
    error: Option<String>,
    /// The error is the tag's own (a Bad status, an exception, a value that is not finite),
    /// not its device's being gone: what the tag-failure condition reports.
    tag_error: bool,
    last_stored: Option<(Value, Instant)>,
}

#[derive(Debug, Default)]
struct Health {
    connected: bool,
    since_ms: i64,
    last_error: Option<String>,
    polls: u64,
    errors: u64,
    last_latency: Duration,
}

/// Static facts of a device, for the API.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub protocol: &'static str,
    pub endpoint: String,
    pub stale_after: Duration,
}

/// One signal as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignalView {
    pub device: String,
    /// The canonical signal name (or `<device>.<tag>`).
    pub signal: String,
    /// Where the value comes from: `device` (a tag), `fixed`, `table` or `derived`.
    pub source: SignalSource,
    pub tag: String,
    /// `false`: the tag's mapping (node id, register) is taken from a manual or a companion
    /// specification and nobody has confirmed it on this control yet.
    pub verified: bool,
    #[schema(value_type = Option<crate::value::SignalValue>)]
    pub value: Option<Value>,
    pub unit: String,
    pub quality: Quality,
    /// Milliseconds since the value was last confirmed current; `null` if never.
    pub age_ms: Option<u64>,
    /// Wall-clock time of that confirmation (ms since the Unix epoch).
    pub ts_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One device as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub name: String,
    pub protocol: &'static str,
    pub endpoint: String,
    pub connected: bool,
    /// Since when the device has been connected (or disconnected), ms since the Unix epoch.
    pub since_ms: i64,
    pub last_error: Option<String>,
    pub polls: u64,
    pub errors: u64,
    pub last_latency_ms: f64,
    pub signals_good: usize,
    pub signals_stale: usize,
    pub signals_unavailable: usize,
    /// Tags that failed on their own (a Bad status, a Modbus exception, a value that is not
    /// finite), not because the device is gone: in configuration order.
    pub failed_tags: Vec<FailedTag>,
}

/// A tag unavailable with an error of its own.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FailedTag {
    pub signal: String,
    pub tag: String,
    pub error: String,
}

/// Each signal's name → its id, the names shared (`Arc<str>`).
pub type NameIndex = HashMap<Arc<str>, SignalId>;

pub struct State {
    machine_id: String,
    signals: Vec<SignalInfo>,
    /// Each signal's name → its id, shared with the evaluators' frame (built every tick): the
    /// frame holds the values in id order and looks names up here, so a capture builds no map.
    frame_index: Arc<NameIndex>,
    by_name: HashMap<String, SignalId>,
    devices: Vec<DeviceInfo>,
    slots: Vec<Mutex<Slot>>,
    health: Vec<Mutex<Health>>,
    heartbeat: Duration,
    store: OnceLock<Arc<SampleQueue>>,
    dropped: AtomicU64,
}

impl State {
    pub fn new(config: &Config) -> State {
        let mut signals = Vec::new();
        let mut devices = Vec::new();
        for (di, d) in config.devices.iter().enumerate() {
            devices.push(DeviceInfo {
                name: d.name.clone(),
                protocol: d.connection.protocol(),
                endpoint: d.connection.endpoint(),
                stale_after: d.stale_after,
            });
            for t in &d.tags {
                signals.push(SignalInfo {
                    name: t.signal.clone(),
                    device: di,
                    tag: t.name.clone(),
                    unit: t.unit.clone(),
                    canonical: t.canonical,
                    deadband: t.deadband,
                    source: SignalSource::Device,
                    verified: t.verified,
                });
            }
        }
        let context = config.machine.signals();
        if !context.is_empty() {
            let di = devices.len();
            devices.push(DeviceInfo {
                name: CONTEXT_DEVICE.into(),
                protocol: "context",
                endpoint: config.file.display().to_string(),
                // Refreshed every few hundred ms by its task; a dead task shows as stale.
                stale_after: Duration::from_secs(5),
            });
            for (name, source) in context {
                let def = crate::vocabulary::find(name);
                signals.push(SignalInfo {
                    name: name.to_string(),
                    device: di,
                    tag: format!("{source:?}").to_lowercase(),
                    unit: def.map_or(String::new(), |d| d.unit.to_string()),
                    canonical: true,
                    deadband: 0.0,
                    source,
                    // The user's own statement about the machine.
                    verified: true,
                });
            }
        }
        let by_name = signals
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let now = now_ms();
        State {
            machine_id: config.agent.machine_id.clone(),
            slots: signals.iter().map(|_| Mutex::default()).collect(),
            health: devices
                .iter()
                .map(|_| {
                    Mutex::new(Health {
                        since_ms: now,
                        ..Health::default()
                    })
                })
                .collect(),
            frame_index: Arc::new(
                signals
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Arc::from(s.name.as_str()), i))
                    .collect(),
            ),
            signals,
            by_name,
            devices,
            heartbeat: config.store.heartbeat,
            store: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn machine_id(&self) -> &str {
        &self.machine_id
    }

    /// Connects the store: from now on, changes are queued for it.
    pub fn attach_store(&self, queue: Arc<SampleQueue>) {
        let _ = self.store.set(queue);
    }

    pub fn signals(&self) -> &[SignalInfo] {
        &self.signals
    }

    pub fn devices(&self) -> &[DeviceInfo] {
        &self.devices
    }

    pub fn id(&self, name: &str) -> Option<SignalId> {
        self.by_name.get(name).copied()
    }

    /// Samples dropped because the store could not keep up (its queue was full, or its
    /// writer's bounded batch overflowed while writes failed).
    pub fn dropped_samples(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The store's writer dropped `n` samples (the oldest of its batch, beyond its bound).
    pub fn count_dropped_samples(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// A fresh value from the device. A number that is not finite is no value: the signal
    /// becomes unavailable with the error [`NOT_FINITE`] (the sources refuse one already; this
    /// is the defence that no future source can bypass).
    pub fn update(&self, id: SignalId, value: Value, now: Instant) {
        if value.is_non_finite() {
            return self.fail(id, NOT_FINITE);
        }
        let ts = now_ms();
        let mut slot = self.slots[id].lock().unwrap();
        slot.confirmed = Some(now);
        slot.confirmed_ms = ts;
        slot.error = None;
        slot.tag_error = false;
        let store_it = match &slot.last_stored {
            None => true,
            Some((last, at)) => {
                changed(last, &value, self.signals[id].deadband)
                    || now.duration_since(*at) >= self.heartbeat
            }
        };
        if store_it {
            slot.last_stored = Some((value.clone(), now));
            self.queue(Sample {
                signal: id,
                ts_ms: ts,
                value: Some(value.clone()),
            });
        }
        slot.value = Some(value);
    }

    /// The device confirmed that the value is still current without sending it again (an OPC
    /// UA subscription's keep-alive or publish).
    pub fn confirm(&self, id: SignalId, now: Instant) {
        let mut slot = self.slots[id].lock().unwrap();
        if slot.error.is_none() && slot.value.is_some() {
            slot.confirmed = Some(now);
            slot.confirmed_ms = now_ms();
        }
    }

    /// The tag could not be read; its quality is unavailable until a fresh value arrives.
    pub fn fail(&self, id: SignalId, error: &str) {
        self.fail_as(id, error, true);
    }

    /// `own`: the tag's own failure, rather than its device's.
    fn fail_as(&self, id: SignalId, error: &str, own: bool) {
        let mut slot = self.slots[id].lock().unwrap();
        slot.tag_error = own;
        if slot.error.is_none() {
            // The transition is stored once, so the history shows the gap.
            slot.last_stored = None;
            self.queue(Sample {
                signal: id,
                ts_ms: now_ms(),
                value: None,
            });
        }
        slot.error = Some(error.to_string());
    }

    pub fn device_connected(&self, device: usize) {
        let mut h = self.health[device].lock().unwrap();
        if !h.connected {
            h.connected = true;
            h.since_ms = now_ms();
        }
    }

    /// The device is gone: every one of its signals becomes unavailable at once.
    pub fn device_lost(&self, device: usize, error: &str) {
        {
            let mut h = self.health[device].lock().unwrap();
            if h.connected {
                h.since_ms = now_ms();
            }
            h.connected = false;
            h.last_error = Some(error.to_string());
        }
        for (id, s) in self.signals.iter().enumerate() {
            if s.device == device {
                self.fail_as(id, error, false);
            }
        }
    }

    /// Accounts one request to a device.
    pub fn record_poll(&self, device: usize, latency: Duration, error: Option<&str>) {
        let mut h = self.health[device].lock().unwrap();
        h.polls += 1;
        h.last_latency = latency;
        if let Some(e) = error {
            h.errors += 1;
            h.last_error = Some(e.to_string());
        }
    }

    fn queue(&self, sample: Sample) {
        if let Some(queue) = self.store.get() {
            if !queue.push(sample) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn quality(&self, slot: &Slot, stale_after: Duration, now: Instant) -> Quality {
        match (&slot.value, slot.confirmed, &slot.error) {
            (None, _, _) | (_, None, _) | (_, _, Some(_)) => Quality::Unavailable,
            (Some(_), Some(at), None) if now.duration_since(at) > stale_after => Quality::Stale,
            _ => Quality::Good,
        }
    }

    pub fn view(&self, id: SignalId) -> SignalView {
        let now = Instant::now();
        let info = &self.signals[id];
        let dev = &self.devices[info.device];
        let slot = self.slots[id].lock().unwrap();
        SignalView {
            device: dev.name.clone(),
            signal: info.name.clone(),
            source: info.source,
            tag: info.tag.clone(),
            verified: info.verified,
            value: slot.value.clone(),
            unit: info.unit.clone(),
            quality: self.quality(&slot, dev.stale_after, now),
            age_ms: slot
                .confirmed
                .map(|c| now.duration_since(c).as_millis() as u64),
            ts_ms: slot.confirmed.map(|_| slot.confirmed_ms),
            error: slot.error.clone(),
        }
    }

    /// Each signal's value if, and only if, its quality is good, in id order (`None`
    /// otherwise), with the index of names to ids: what the evaluators' frame holds.
    pub fn good_values(&self) -> (Arc<NameIndex>, Vec<Option<Value>>) {
        let now = Instant::now();
        let values = self
            .signals
            .iter()
            .zip(&self.slots)
            .map(|(info, slot)| {
                let slot = slot.lock().unwrap();
                let stale_after = self.devices[info.device].stale_after;
                match self.quality(&slot, stale_after, now) {
                    Quality::Good => slot.value.clone(),
                    _ => None,
                }
            })
            .collect();
        (self.frame_index.clone(), values)
    }

    /// Every signal, in configuration order.
    pub fn snapshot(&self) -> Vec<SignalView> {
        (0..self.signals.len()).map(|i| self.view(i)).collect()
    }

    /// A signal's value if, and only if, its quality is good.
    pub fn good_value(&self, name: &str) -> Option<Value> {
        let v = self.view(self.id(name)?);
        (v.quality == Quality::Good).then_some(v.value).flatten()
    }

    /// Every device with its health and the quality of its signals (built every tick for the
    /// health evaluator: one pass over the slots, no signal copied).
    pub fn device_views(&self) -> Vec<DeviceView> {
        let now = Instant::now();
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (mut good, mut stale, mut unavailable) = (0, 0, 0);
                let mut failed_tags = Vec::new();
                for (s, slot) in self.signals.iter().zip(&self.slots) {
                    if s.device != i {
                        continue;
                    }
                    let slot = slot.lock().unwrap();
                    match self.quality(&slot, d.stale_after, now) {
                        Quality::Good => good += 1,
                        Quality::Stale => stale += 1,
                        Quality::Unavailable => unavailable += 1,
                    }
                    // Only a tag's own error is copied: a lost device's is on every slot.
                    if let Some(error) = slot.error.as_ref().filter(|_| slot.tag_error) {
                        failed_tags.push(FailedTag {
                            signal: s.name.clone(),
                            tag: s.tag.clone(),
                            error: error.clone(),
                        });
                    }
                }
                let h = self.health[i].lock().unwrap();
                DeviceView {
                    name: d.name.clone(),
                    protocol: d.protocol,
                    endpoint: d.endpoint.clone(),
                    connected: h.connected,
                    since_ms: h.since_ms,
                    last_error: h.last_error.clone(),
                    polls: h.polls,
                    errors: h.errors,
                    last_latency_ms: h.last_latency.as_secs_f64() * 1e3,
                    signals_good: good,
                    signals_stale: stale,
                    signals_unavailable: unavailable,
                    failed_tags,
                }
            })
            .collect()
    }
}

/// Whether `new` differs from `last` by more than the signal's deadband: the one definition of
/// a change, for the store and for publishing.
pub fn changed(last: &Value, new: &Value, deadband: f64) -> bool {
    match (last, new) {
        (Value::Number(a), Value::Number(b)) => {
            (a - b).abs() > deadband || (deadband == 0.0 && a != b)
        }
        _ => last != new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn state(stale_ms: u64, heartbeat_s: u64) -> State {
        let src = format!(
            r#"
[store]
heartbeat_s = {heartbeat_s}
[[device]]
name = "d"
protocol = "modbus-tcp"
address = "127.0.0.1:1"
stale_after_ms = {stale_ms}
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
  deadband = 0.5
"#
        );
        State::new(&crate::config::parse(Path::new("t.toml"), &src).unwrap())
    }

    #[test]
    fn quality_goes_good_stale_unavailable() {
        let s = state(100, 60);
        assert_eq!(s.view(0).quality, Quality::Unavailable, "no value yet");
        let t0 = Instant::now();
        s.update(0, Value::Number(1.0), t0);
        assert_eq!(s.view(0).quality, Quality::Good);
        s.update(0, Value::Number(1.0), t0 - Duration::from_millis(500));
        assert_eq!(s.view(0).quality, Quality::Stale);
        assert!(s.view(0).age_ms.unwrap() >= 500);
        s.device_lost(0, "connection refused");
        let v = s.view(0);
        assert_eq!(v.quality, Quality::Unavailable);
        assert_eq!(v.error.as_deref(), Some("connection refused"));
        s.update(0, Value::Number(2.0), Instant::now());
        assert_eq!(s.view(0).quality, Quality::Good);
    }

    #[test]
    fn store_sees_changes_beyond_deadband_and_transitions_only() {
        let s = state(1000, 3600);
        let queue = SampleQueue::new(100);
        s.attach_store(queue.clone());
        let t = Instant::now();
        for x in [1.0, 1.2, 1.4, 2.0, 2.0] {
            s.update(0, Value::Number(x), t);
        }
        s.fail(0, "timeout");
        s.fail(0, "timeout");
        s.update(0, Value::Number(2.0), t);
        let got: Vec<Option<Value>> = queue.take().into_iter().map(|x| x.value).collect();
        assert_eq!(
            got,
            vec![
                Some(Value::Number(1.0)),
                Some(Value::Number(2.0)),
                None,
                Some(Value::Number(2.0))
            ]
        );
    }

    #[test]
    fn a_non_finite_number_is_refused_as_unavailable_and_stored_as_a_gap() {
        let s = state(1000, 3600);
        let queue = SampleQueue::new(100);
        s.attach_store(queue.clone());
        let t = Instant::now();
        s.update(0, Value::Number(1.5), t);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            s.update(0, Value::Number(bad), t);
            let v = s.view(0);
            assert_eq!(v.quality, Quality::Unavailable, "{bad}");
            assert_eq!(v.error.as_deref(), Some(NOT_FINITE));
            assert_ne!(v.value, Some(Value::Number(bad)), "never kept as the value");
            assert_eq!(s.good_value("mql.oil_flow"), None);
        }
        s.update(0, Value::Number(2.5), t);
        assert_eq!(s.view(0).quality, Quality::Good);
        assert_eq!(s.view(0).error, None);
        // The store saw the value, one gap (not three), and the next value: never a NaN.
        let got: Vec<Option<Value>> = queue.take().into_iter().map(|x| x.value).collect();
        assert_eq!(
            got,
            vec![Some(Value::Number(1.5)), None, Some(Value::Number(2.5))]
        );
    }

    #[test]
    fn a_full_store_queue_is_counted_not_blocking() {
        let s = state(1000, 3600);
        let queue = SampleQueue::new(1);
        s.attach_store(queue.clone());
        for x in 0..5 {
            s.update(0, Value::Number(f64::from(x)), Instant::now());
        }
        assert_eq!(s.dropped_samples(), 4);
        // The first is kept; once taken, there is room again.
        let kept: Vec<Option<Value>> = queue.take().into_iter().map(|x| x.value).collect();
        assert_eq!(kept, vec![Some(Value::Number(0.0))]);
        s.update(0, Value::Number(9.0), Instant::now());
        assert_eq!(queue.take().len(), 1);
        assert_eq!(s.dropped_samples(), 4);
    }
}
