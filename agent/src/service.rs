//! Running as a systemd service (`Type=notify`, `WatchdogSec=`, see `agent/debian/`): the agent
//! says READY once it serves, and feeds the watchdog only while its loops tick.
//!
//! The keep-alive is not a timer that proves only that a timer runs. It is sent by a task on
//! the runtime that also runs acquisition and the HTTP server, and only while no supervised loop
//! (evaluators, alarms, the store's writer: [`Pulse`]) is stuck: the same [`Pulse::stuck`] that
//! turns `/healthz` to 503. A blocked runtime or a stuck loop stops the keep-alives, systemd
//! kills the agent after `WatchdogSec=`, `ExecStopPost=agent lamps-off` darkens the stack light
//! and `Restart=on-failure` starts it again.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`, no `$WATCHDOG_USEC`) all of this does nothing.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::supervise::Pulse;

/// Tells systemd the agent is up (sources started, page and API listening).
pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]) {
        tracing::warn!("systemd: could not report readiness: {e}");
    }
}

/// Tells systemd the agent is stopping (so a slow flush is not taken for a hang).
pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// The names of the loops that are stuck now; the keep-alive is withheld while there is any.
pub fn stuck(loops: &[Arc<Pulse>]) -> Vec<String> {
    loops
        .iter()
        .filter(|p| p.stuck())
        .map(|p| p.name().to_string())
        .collect()
}

/// Starts feeding the watchdog when systemd asked for one (`WatchdogSec=`): a keep-alive every
/// third of the period while no loop is stuck.
pub fn spawn_watchdog(loops: Vec<Arc<Pulse>>) -> Option<tokio::task::JoinHandle<()>> {
    let period = sd_notify::watchdog_enabled()?;
    tracing::info!("systemd watchdog: {period:?}; fed while every loop ticks");
    Some(tokio::spawn(feed(loops, period / 3)))
}

async fn feed(loops: Vec<Arc<Pulse>>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut withheld = false;
    loop {
        tick.tick().await;
        let stuck = stuck(&loops);
        if stuck.is_empty() {
            if withheld {
                tracing::info!("systemd watchdog: every loop ticks again; keep-alives resumed");
                withheld = false;
            }
            if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                tracing::warn!("systemd watchdog: keep-alive not sent: {e}");
            }
        } else if !withheld {
            tracing::error!(
                "systemd watchdog: keep-alives withheld, stuck: {}; systemd restarts the agent \
                 unless they tick again",
                stuck.join(", ")
            );
            withheld = true;
        }
    }
}
