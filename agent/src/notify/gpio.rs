//! Stack light and buzzer on the Raspberry Pi's GPIO, and an optional acknowledge button.
//!
//! `lamps` decides which lamp is lit for a set of alarms; it is pure and tested here without any
//! pins. `run` drives the pins with rppal; on a machine without GPIO (a PC, CI) it says so once
//! and returns, and the agent runs on.

use std::sync::Arc;

use serde::Serialize;

use crate::alarms::engine::AlarmView;
use crate::condition::Severity;
use crate::records::alarm::AlarmState;

/// What the stack light and the buzzer show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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

/// Drives the pins from the alarm set until the engine stops; `acknowledge_all` is called
/// when the button is pressed.
#[cfg(target_os = "linux")]
pub async fn run(
    settings: crate::config::GpioSettings,
    mut alarms: tokio::sync::watch::Receiver<Arc<Vec<AlarmView>>>,
    acknowledge_all: Arc<dyn Fn() + Send + Sync>,
) {
    use rppal::gpio::Gpio;
    use std::time::Duration;

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
    let output = |pin: Option<u8>| -> Option<rppal::gpio::OutputPin> {
        let pin = pin?;
        match gpio.get(pin) {
            Ok(p) => Some(p.into_output_low()),
            Err(e) => {
                tracing::warn!("GPIO pin {pin}: {e}; that output is off");
                None
            }
        }
    };
    let mut outs = [
        output(settings.red),
        output(settings.amber),
        output(settings.green),
        output(settings.buzzer),
    ];
    let button = settings
        .ack_button
        .and_then(|pin| gpio.get(pin).ok().map(|p| p.into_input_pullup()));
    let mut pressed_for = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        let l = lamps(&alarms.borrow_and_update());
        for (out, on) in outs.iter_mut().zip([l.red, l.amber, l.green, l.buzzer]) {
            if let Some(o) = out {
                // Relay boards often switch on low.
                if on != settings.active_low {
                    o.set_high()
                } else {
                    o.set_low()
                }
            }
        }
        tokio::select! {
            changed = alarms.changed() => if changed.is_err() { return; },
            _ = tick.tick(), if button.is_some() => {
                // Pull-up: pressed reads low. Three reads in a row (60 ms) debounce it; one
                // press acknowledges once.
                if button.as_ref().is_some_and(|b| b.is_low()) {
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

#[cfg(not(target_os = "linux"))]
pub async fn run(
    _settings: crate::config::GpioSettings,
    _alarms: tokio::sync::watch::Receiver<Arc<Vec<AlarmView>>>,
    _acknowledge_all: Arc<dyn Fn() + Send + Sync>,
) {
    tracing::warn!("GPIO unavailable: not Linux; no stack light, buzzer or acknowledge button");
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
            source: String::new(),
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
}
