//! Stack light and buzzer on the Raspberry Pi's GPIO, and an optional acknowledge button.
//!
//! `lamps` decides which lamp is lit for a set of alarms; it is pure and tested here without any
//! pins. `run` drives the pins with rppal through [`LampOutputs`]; on a machine without GPIO (a
//! PC, CI) it says so once and returns, and the agent runs on.
//!
//! Fail-safe: a stopped agent leaves the light dark, never green. The lamps go off when the
//! channel stops (an orderly shutdown aborts it, [`OffWhenDropped`]), and `agent lamps-off`
//! ([`switch_off`]) switches them off after the process is gone however it went: the packaged
//! systemd unit runs it as `ExecStopPost=`, after a crash or a watchdog kill too.

use std::sync::Arc;

use serde::Serialize;

use crate::alarms::engine::AlarmView;
use crate::condition::Severity;
use crate::records::alarm::AlarmState;

/// What the stack light and the buzzer show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Lamps {
    pub red: bool,
    pub amber: bool,
    pub green: bool,
    pub buzzer: bool,
}

/// One lamp at a time, for the worst alarm that needs attention:
/// - red: a critical alarm is active;
/// - amber: a warning is active, or any alarm waits for acknowledgement after clearing;
/// - green: nothing needs attention.
///
/// Info alarms, shelved and out-of-service ones light nothing (that is what shelving is for).
/// The buzzer sounds while a critical alarm is active and unacknowledged.
pub fn lamps(alarms: &[AlarmView]) -> Lamps {
    let active = |sev: Severity| alarms.iter().any(|a| a.state.active() && a.severity == sev);
    let red = active(Severity::Critical);
    let amber = !red
        && (active(Severity::Warning)
            || alarms
                .iter()
                .any(|a| a.state == AlarmState::ClearedUnacked && a.severity >= Severity::Warning));
    Lamps {
        red,
        amber,
        green: !red && !amber,
        buzzer: alarms
            .iter()
            .any(|a| a.state == AlarmState::ActiveUnacked && a.severity == Severity::Critical),
    }
}

/// Where the lamps are shown: the Pi's pins ([`Pins`]), or a recording in the tests. The alarm
/// channel and `agent lamps-off` drive the light through this one trait.
pub trait LampOutputs {
    fn show(&mut self, lamps: Lamps);
}

/// The level of each configured output pin (BCM number, high) for `lamps`: relay boards often
/// switch on low (`active_low`).
pub fn levels(settings: &crate::config::GpioSettings, lamps: Lamps) -> Vec<(u8, bool)> {
    [
        (settings.red, lamps.red),
        (settings.amber, lamps.amber),
        (settings.green, lamps.green),
        (settings.buzzer, lamps.buzzer),
    ]
    .into_iter()
    .filter_map(|(pin, on)| Some((pin?, on != settings.active_low)))
    .collect()
}

/// Every lamp and the buzzer off: what a stopped agent shows. A dark stack light says "nobody
/// watches", where a green one left behind would say "all is well".
pub const OFF: Lamps = Lamps {
    red: false,
    amber: false,
    green: false,
    buzzer: false,
};

/// Switches the lamps off when dropped: on an orderly stop (the channel's task is aborted) and
/// on a panic that unwinds through it. A process killed outright runs no destructor: the unit's
/// `ExecStopPost=agent lamps-off` covers that case.
pub struct OffWhenDropped<O: LampOutputs>(pub O);

impl<O: LampOutputs> Drop for OffWhenDropped<O> {
    fn drop(&mut self) {
        self.0.show(OFF);
    }
}

/// The stack light's and buzzer's output pins on the Pi.
#[cfg(target_os = "linux")]
pub struct Pins {
    settings: crate::config::GpioSettings,
    outputs: Vec<(u8, rppal::gpio::OutputPin)>,
}

#[cfg(target_os = "linux")]
impl Pins {
    /// Claims the configured output pins, each driven at its "off" level from the start. A pin
    /// that cannot be had is logged and left out.
    pub fn open(gpio: &rppal::gpio::Gpio, settings: &crate::config::GpioSettings) -> Pins {
        let outputs = levels(settings, OFF)
            .into_iter()
            .filter_map(|(pin, high)| match claim_output(gpio, pin, high) {
                Ok(o) => Some((pin, o)),
                Err(e) => {
                    tracing::warn!("GPIO pin {pin}: {e}; that output is off");
                    None
                }
            })
            .collect();
        Pins {
            settings: settings.clone(),
            outputs,
        }
    }
}

/// Claims `pin` as an output driven `high` (or low) from the start, which keeps its level when
/// released: rppal would otherwise turn it back into an input, which a relay board may read as
/// "on". The stack light and the monitor's feed-hold output claim their pins so.
#[cfg(target_os = "linux")]
pub fn claim_output(
    gpio: &rppal::gpio::Gpio,
    pin: u8,
    high: bool,
) -> Result<rppal::gpio::OutputPin, rppal::gpio::Error> {
    let p = gpio.get(pin)?;
    let mut o = if high {
        p.into_output_high()
    } else {
        p.into_output_low()
    };
    o.set_reset_on_drop(false);
    Ok(o)
}

#[cfg(target_os = "linux")]
impl LampOutputs for Pins {
    fn show(&mut self, lamps: Lamps) {
        for (pin, high) in levels(&self.settings, lamps) {
            if let Some((_, o)) = self.outputs.iter_mut().find(|(p, _)| *p == pin) {
                if high {
                    o.set_high()
                } else {
                    o.set_low()
                }
            }
        }
    }
}

/// `agent lamps-off`: every lamp and the buzzer off, and left off when the command exits. Run
/// by systemd after the agent stopped for any reason (`ExecStopPost=`), a watchdog kill among
/// them. Returns how many outputs it switched.
#[cfg(target_os = "linux")]
pub fn switch_off(settings: &crate::config::GpioSettings) -> Result<usize, String> {
    let gpio = rppal::gpio::Gpio::new().map_err(|e| format!("GPIO unavailable: {e}"))?;
    let mut pins = Pins::open(&gpio, settings);
    pins.show(OFF);
    Ok(pins.outputs.len())
}

#[cfg(not(target_os = "linux"))]
pub fn switch_off(_settings: &crate::config::GpioSettings) -> Result<usize, String> {
    Err("GPIO unavailable: not Linux".into())
}

/// Drives the pins from the alarm set until the engine stops; `acknowledge_all` is called
/// when the button is pressed. The lamps go off when this stops (see [`OffWhenDropped`]).
#[cfg(target_os = "linux")]
pub async fn run(
    settings: crate::config::GpioSettings,
    alarms: tokio::sync::watch::Receiver<Arc<Vec<AlarmView>>>,
    acknowledge_all: Arc<dyn Fn() + Send + Sync>,
) {
    use rppal::gpio::Gpio;

    let gpio = match Gpio::new() {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(
                "GPIO unavailable ({e}): no stack light, buzzer or acknowledge button on this \
                 machine; alarms still go to the page and the other channels"
            );
            return;
        }
    };
    let outputs = OffWhenDropped(Pins::open(&gpio, &settings));
    let button = settings
        .ack_button
        .and_then(|pin| gpio.get(pin).ok().map(|p| p.into_input_pullup()));
    let pressed = move || button.as_ref().map(|b| b.is_low());
    drive(outputs, alarms, pressed, acknowledge_all).await
}

#[cfg(not(target_os = "linux"))]
pub async fn run(
    _settings: crate::config::GpioSettings,
    _alarms: tokio::sync::watch::Receiver<Arc<Vec<AlarmView>>>,
    _acknowledge_all: Arc<dyn Fn() + Send + Sync>,
) {
    tracing::warn!("GPIO unavailable: not Linux; no stack light, buzzer or acknowledge button");
}

/// The stack light's loop, on any [`LampOutputs`]: shows the lamps for every change of the alarm
/// set, and reads the button (`pressed`: `None` without one) every 20 ms. Returns when the alarm
/// engine stops; `outputs` switch off as they are dropped, here or when the task is aborted.
pub async fn drive<O: LampOutputs>(
    mut outputs: OffWhenDropped<O>,
    mut alarms: tokio::sync::watch::Receiver<Arc<Vec<AlarmView>>>,
    pressed: impl Fn() -> Option<bool>,
    acknowledge_all: Arc<dyn Fn() + Send + Sync>,
) {
    let has_button = pressed().is_some();
    let mut pressed_for = 0u32;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    loop {
        outputs.0.show(lamps(&alarms.borrow_and_update()));
        tokio::select! {
            changed = alarms.changed() => if changed.is_err() { return; },
            _ = tick.tick(), if has_button => {
                // Pull-up: pressed reads low. Three reads in a row (60 ms) debounce it; one
                // press acknowledges once.
                if pressed() == Some(true) {
                    pressed_for += 1;
                    if pressed_for == 3 {
                        let ack = acknowledge_all.clone();
                        let _ = tokio::task::spawn_blocking(move || ack()).await;
                    }
                } else {
                    pressed_for = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState::*;

    fn a(state: AlarmState, severity: Severity) -> AlarmView {
        AlarmView {
            key: "k".into(),
            state,
            severity,
            message: String::new(),
            message_zh: None,
            source: String::new(),
            source_zh: None,
            condition: state.active(),
            acked: !state.unacked(),
            since_ms: 0,
            active_since_ms: None,
            shelved_until_ms: None,
            tier: 0,
        }
    }

    fn lit(l: Lamps) -> (&'static str, bool) {
        let lamp = match (l.red, l.amber, l.green) {
            (true, false, false) => "red",
            (false, true, false) => "amber",
            (false, false, true) => "green",
            other => panic!("exactly one lamp must be lit, got {other:?}"),
        };
        (lamp, l.buzzer)
    }

    #[test]
    fn the_worst_alarm_picks_the_lamp_and_unacked_critical_sounds() {
        use Severity::*;
        assert_eq!(lit(lamps(&[])), ("green", false));
        assert_eq!(lit(lamps(&[a(ActiveUnacked, Info)])), ("green", false));
        assert_eq!(lit(lamps(&[a(ActiveAcked, Warning)])), ("amber", false));
        assert_eq!(lit(lamps(&[a(ActiveUnacked, Critical)])), ("red", true));
        assert_eq!(lit(lamps(&[a(ActiveAcked, Critical)])), ("red", false));
        assert_eq!(
            lit(lamps(&[
                a(ActiveUnacked, Warning),
                a(ActiveAcked, Critical)
            ])),
            ("red", false)
        );
        // Gone before anybody looked: still needs a look, but no buzzer.
        assert_eq!(lit(lamps(&[a(ClearedUnacked, Critical)])), ("amber", false));
        // Suppressed alarms light nothing.
        assert_eq!(
            lit(lamps(&[a(Shelved, Critical), a(OutOfService, Critical)])),
            ("green", false)
        );
    }

    /// The lamps as shown, in order.
    #[derive(Clone, Default)]
    struct Recorded(Arc<std::sync::Mutex<Vec<Lamps>>>);

    impl LampOutputs for Recorded {
        fn show(&mut self, lamps: Lamps) {
            self.0.lock().unwrap().push(lamps);
        }
    }

    impl Recorded {
        fn last(&self) -> Option<Lamps> {
            self.0.lock().unwrap().last().copied()
        }
    }

    #[test]
    fn off_is_every_output_at_its_off_level() {
        let mut s = crate::config::GpioSettings {
            red: Some(17),
            amber: Some(27),
            green: Some(22),
            buzzer: None,
            ack_button: Some(5),
            active_low: false,
        };
        // The button is an input: never driven.
        assert_eq!(levels(&s, OFF), vec![(17, false), (27, false), (22, false)]);
        s.active_low = true;
        s.buzzer = Some(23);
        assert_eq!(
            levels(&s, OFF),
            vec![(17, true), (27, true), (22, true), (23, true)]
        );
        let green = lamps(&[]);
        assert_eq!(
            levels(&s, green),
            vec![(17, true), (27, true), (22, false), (23, true)]
        );
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn the_light_goes_dark_when_its_task_is_aborted_or_the_engine_stops() {
        let ack: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {});
        for abort in [true, false] {
            let (tx, rx) = tokio::sync::watch::channel(Arc::new(Vec::new()));
            let shown = Recorded::default();
            let task = tokio::spawn(drive(
                OffWhenDropped(shown.clone()),
                rx,
                || None,
                ack.clone(),
            ));
            until("green", || shown.last() == Some(lamps(&[]))).await;
            assert!(shown.last().unwrap().green);
            tx.send_replace(Arc::new(vec![a(
                AlarmState::ActiveUnacked,
                Severity::Critical,
            )]));
            until("red", || shown.last().is_some_and(|l| l.red)).await;
            if abort {
                // An orderly shutdown aborts the channel's task.
                task.abort();
                let _ = task.await;
            } else {
                drop(tx);
                task.await.unwrap();
            }
            assert_eq!(shown.last(), Some(OFF), "abort: {abort}");
        }
    }
}
