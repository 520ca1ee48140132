//! `[monitor]`: process monitoring without teach-in. How many cycles an operation's envelope is
//! learned from, how wide its band is, and each detector kind with its parameters as data
//! (`[monitor.breakage]`, `[monitor.missing_tool]`, `[monitor.overload]`,
//! `[monitor.wear_drift]`). Every key has a default; without the section the monitor is off.
//!
//! `[monitor.feed_hold]` is the one output the monitor may drive: a Raspberry Pi GPIO pin wired
//! (through a relay or an optocoupler) to the CNC's feed-hold input. It is off unless the table
//! names a pin; nothing is ever written to the machine over the network.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::raw::RawConfig;
use crate::condition::Severity;
use crate::records::monitor::FindingKind;

/// The most cycles an envelope may be learned from: a machinist should see the monitor
/// armed within a handful of parts.
pub const MAX_LEARN_CYCLES: u32 = 5;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    pub enabled: Option<bool>,
    pub learn_cycles: Option<Spanned<u32>>,
    pub bins: Option<Spanned<u32>>,
    pub band_pct: Option<Spanned<f64>>,
    pub scatter_k: Option<Spanned<f64>>,
    pub path_tolerance_pct: Option<Spanned<f64>>,
    pub max_operations: Option<Spanned<u32>>,
    pub breakage: Option<RawDetector>,
    pub missing_tool: Option<RawDetector>,
    pub overload: Option<RawDetector>,
    pub wear_drift: Option<RawDetector>,
    pub feed_hold: Option<RawFeedHold>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeedHold {
    pub pin: Spanned<u8>,
    pub active_low: Option<bool>,
    pub kinds: Option<Spanned<Vec<String>>>,
    pub hold_ms: Option<Spanned<u64>>,
}

/// The feed-hold output: which pin, at which level it holds, which findings set it, and how
/// long it is held before the agent releases it (the CNC latches its feed hold; the operator
/// resumes at the machine after looking at the tool).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedHoldSettings {
    /// BCM number, 0..27.
    pub pin: u8,
    /// The pin is driven low to hold (relay boards that switch on low).
    pub active_low: bool,
    pub kinds: Vec<FindingKind>,
    pub hold: Duration,
}

/// Holds shorter than this may be missed by a PLC scanning every few tens of ms.
const MIN_HOLD_MS: u64 = 100;
/// ... longer than this would keep the input held while the operator is already resuming.
const MAX_HOLD_MS: u64 = 10_000;

/// One detector's table: every kind reads the keys that concern it; a key another kind uses is
/// refused with its line.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDetector {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub drop_ratio: Option<Spanned<f64>>,
    pub confirm_ticks: Option<Spanned<u32>>,
    pub spike_ratio: Option<Spanned<f64>>,
    pub spike_window_ms: Option<Spanned<u64>>,
    pub margin_pct: Option<Spanned<f64>>,
    pub hold_ms: Option<Spanned<u64>>,
    pub rise_pct: Option<Spanned<f64>>,
    pub parts: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    pub enabled: bool,
    /// Cycles that ended without an alarm an envelope is learned from (1..=5).
    pub learn_cycles: u32,
    /// Stretches of the path an envelope has.
    pub bins: usize,
    /// The band beyond the learned lowest and highest values, % of the bin's mean.
    pub band_pct: f64,
    /// ... and this many σ of the part-to-part scatter of the bin's mean.
    pub scatter_k: f64,
    /// A finished cycle whose path differs from its envelope's by more than this (%) means the
    /// program was edited: the envelope is learned again (the old one judges meanwhile).
    pub path_tolerance_pct: f64,
    /// Operations watched at most (their envelopes are held in memory).
    pub max_operations: usize,
    pub detectors: Vec<Detector>,
    /// `None` (the default): no output at all.
    pub feed_hold: Option<FeedHoldSettings>,
}

/// A detector kind with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Detector {
    /// A cut that was in its band (or spiked above it) falls below the lower band.
    Breakage {
        /// Below this share of the expected load (and the lower band) is "no cut".
        drop_ratio: f64,
        /// Ticks below it needed when no spike came first.
        confirm_ticks: u32,
        /// A value above the upper band by this factor ...
        spike_ratio: f64,
        /// ... this long before the drop confirms it at its first tick.
        spike_window: Duration,
        severity: Severity,
    },
    /// From its start, the operation shows no cut where the envelope expects one.
    MissingTool {
        drop_ratio: f64,
        confirm_ticks: u32,
        severity: Severity,
    },
    /// Above the upper band widened by `margin_pct` for longer than `hold`.
    Overload {
        margin_pct: f64,
        hold: Duration,
        severity: Severity,
    },
    /// The operation's feed-normalised mean load over the last `parts` cycles is `rise_pct`
    /// above the envelope's.
    WearDrift {
        rise_pct: f64,
        parts: u32,
        severity: Severity,
    },
}

impl Detector {
    pub fn kind(&self) -> FindingKind {
        match self {
            Detector::Breakage { .. } => FindingKind::Breakage,
            Detector::MissingTool { .. } => FindingKind::MissingTool,
            Detector::Overload { .. } => FindingKind::Overload,
            Detector::WearDrift { .. } => FindingKind::WearDrift,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Detector::Breakage { severity, .. }
            | Detector::MissingTool { severity, .. }
            | Detector::Overload { severity, .. }
            | Detector::WearDrift { severity, .. } => *severity,
        }
    }

    /// Every kind with its defaults.
    pub fn defaults() -> Vec<Detector> {
        vec![
            Detector::Breakage {
                drop_ratio: 0.6,
                confirm_ticks: 2,
                // Well above the band: a load merely over it (a worn tool) is no spike.
                spike_ratio: 1.5,
                spike_window: Duration::from_millis(1000),
                severity: Severity::Critical,
            },
            Detector::MissingTool {
                drop_ratio: 0.6,
                confirm_ticks: 2,
                severity: Severity::Critical,
            },
            Detector::Overload {
                margin_pct: 30.0,
                hold: Duration::from_millis(1000),
                severity: Severity::Critical,
            },
            Detector::WearDrift {
                rise_pct: 15.0,
                parts: 3,
                severity: Severity::Warning,
            },
        ]
    }
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: false,
            learn_cycles: 3,
            bins: 50,
            band_pct: 10.0,
            scatter_k: 3.0,
            path_tolerance_pct: 10.0,
            max_operations: 500,
            detectors: Detector::defaults(),
            feed_hold: None,
        }
    }
}

pub fn check(d: &mut Diagnostics, raw: &RawConfig) -> MonitorSettings {
    let Some(m) = &raw.monitor else {
        return MonitorSettings::default();
    };
    let def = MonitorSettings::default();
    let learn_cycles = match d.positive(m.learn_cycles.as_ref(), "learn_cycles") {
        Some(n) if n > MAX_LEARN_CYCLES => {
            let s = m.learn_cycles.as_ref().expect("given");
            d.at(
                s.span(),
                format!("learn_cycles must be at most {MAX_LEARN_CYCLES} (got {n})"),
            );
            def.learn_cycles
        }
        Some(n) => n,
        None => def.learn_cycles,
    };
    let bins = match d.positive(m.bins.as_ref(), "bins") {
        Some(n) if !(5..=500).contains(&n) => {
            let s = m.bins.as_ref().expect("given");
            d.at(s.span(), format!("bins must be from 5 to 500 (got {n})"));
            def.bins
        }
        Some(n) => n as usize,
        None => def.bins,
    };
    let mut detectors = Vec::new();
    for default in Detector::defaults() {
        let kind = default.kind();
        let table = match kind {
            FindingKind::Breakage => &m.breakage,
            FindingKind::MissingTool => &m.missing_tool,
            FindingKind::Overload => &m.overload,
            FindingKind::WearDrift => &m.wear_drift,
        };
        let Some(t) = table else {
            detectors.push(default);
            continue;
        };
        if t.enabled == Some(false) {
            continue;
        }
        detectors.push(detector(d, kind.as_str(), t, default));
    }
    MonitorSettings {
        enabled: m.enabled.unwrap_or(true),
        learn_cycles,
        bins,
        band_pct: non_negative(d, &m.band_pct, "band_pct").unwrap_or(def.band_pct),
        scatter_k: non_negative(d, &m.scatter_k, "scatter_k").unwrap_or(def.scatter_k),
        path_tolerance_pct: d
            .positive(m.path_tolerance_pct.as_ref(), "path_tolerance_pct")
            .unwrap_or(def.path_tolerance_pct),
        max_operations: d
            .positive(m.max_operations.as_ref(), "max_operations")
            .map_or(def.max_operations, |n| n as usize),
        feed_hold: m
            .feed_hold
            .as_ref()
            .map(|f| feed_hold(d, f, raw, &detectors)),
        detectors,
    }
}

/// `[monitor.feed_hold]`: a BCM pin not used by the stack light, detector kinds that exist and
/// are on, a hold a PLC sees.
fn feed_hold(
    d: &mut Diagnostics,
    f: &RawFeedHold,
    raw: &RawConfig,
    detectors: &[Detector],
) -> FeedHoldSettings {
    let pin = *f.pin.get_ref();
    if pin > 27 {
        d.at(f.pin.span(), "feed_hold pin must be a BCM number 0..27");
    }
    if let Some(g) = &raw.notify.gpio {
        let lamps = [&g.red, &g.amber, &g.green, &g.buzzer, &g.ack_button];
        if lamps.into_iter().flatten().any(|p| *p.get_ref() == pin) {
            d.at(
                f.pin.span(),
                format!("feed_hold pin {pin} is also a [notify.gpio] pin"),
            );
        }
    }
    let mut kinds = Vec::new();
    match &f.kinds {
        None => kinds.extend([FindingKind::Breakage, FindingKind::MissingTool]),
        Some(k) => {
            for name in k.get_ref() {
                match FindingKind::parse(name) {
                    Some(kind) if detectors.iter().any(|x| x.kind() == kind) => kinds.push(kind),
                    Some(_) => d.at(
                        k.span(),
                        format!("feed_hold kind `{name}`: that detector is not enabled"),
                    ),
                    None => d.at(
                        k.span(),
                        format!(
                            "feed_hold kind `{name}` is not one of breakage, missing_tool, \
                             overload, wear_drift"
                        ),
                    ),
                }
            }
            if k.get_ref().is_empty() {
                d.at(k.span(), "feed_hold kinds is empty: name at least one");
            }
        }
    }
    let hold_ms = match &f.hold_ms {
        Some(h) if !(MIN_HOLD_MS..=MAX_HOLD_MS).contains(h.get_ref()) => {
            d.at(
                h.span(),
                format!(
                    "feed_hold hold_ms must be from {MIN_HOLD_MS} to {MAX_HOLD_MS} (got {})",
                    h.get_ref()
                ),
            );
            500
        }
        Some(h) => *h.get_ref(),
        None => 500,
    };
    FeedHoldSettings {
        pin,
        active_low: f.active_low.unwrap_or(false),
        kinds,
        hold: Duration::from_millis(hold_ms),
    }
}

fn non_negative(d: &mut Diagnostics, v: &Option<Spanned<f64>>, what: &str) -> Option<f64> {
    let v = v.as_ref()?;
    let x = *v.get_ref();
    if x.is_finite() && x >= 0.0 {
        Some(x)
    } else {
        d.at(v.span(), format!("{what} must be a number ≥ 0 (got {x})"));
        None
    }
}

/// One detector's table over its defaults; a key of another kind is an error at its line.
fn detector(d: &mut Diagnostics, name: &str, t: &RawDetector, default: Detector) -> Detector {
    let mut foreign = |v: Option<std::ops::Range<usize>>, key: &str| {
        if let Some(span) = v {
            d.at(span, format!("[monitor.{name}] has no `{key}`"));
        }
    };
    let span_f = |v: &Option<Spanned<f64>>| v.as_ref().map(|s| s.span());
    let span_u = |v: &Option<Spanned<u32>>| v.as_ref().map(|s| s.span());
    let span_ms = |v: &Option<Spanned<u64>>| v.as_ref().map(|s| s.span());
    match default {
        Detector::Breakage { .. } | Detector::MissingTool { .. } => {
            foreign(span_f(&t.margin_pct), "margin_pct");
            foreign(span_ms(&t.hold_ms), "hold_ms");
            foreign(span_f(&t.rise_pct), "rise_pct");
            foreign(span_u(&t.parts), "parts");
        }
        Detector::Overload { .. } => {
            foreign(span_f(&t.drop_ratio), "drop_ratio");
            foreign(span_u(&t.confirm_ticks), "confirm_ticks");
            foreign(span_f(&t.spike_ratio), "spike_ratio");
            foreign(span_ms(&t.spike_window_ms), "spike_window_ms");
            foreign(span_f(&t.rise_pct), "rise_pct");
            foreign(span_u(&t.parts), "parts");
        }
        Detector::WearDrift { .. } => {
            foreign(span_f(&t.drop_ratio), "drop_ratio");
            foreign(span_u(&t.confirm_ticks), "confirm_ticks");
            foreign(span_f(&t.spike_ratio), "spike_ratio");
            foreign(span_ms(&t.spike_window_ms), "spike_window_ms");
            foreign(span_f(&t.margin_pct), "margin_pct");
            foreign(span_ms(&t.hold_ms), "hold_ms");
        }
    }
    if let Detector::MissingTool { .. } = default {
        foreign(span_f(&t.spike_ratio), "spike_ratio");
        foreign(span_ms(&t.spike_window_ms), "spike_window_ms");
    }
    let ratio = |d: &mut Diagnostics, v: &Option<Spanned<f64>>, dflt: f64| match v {
        Some(s) if !(*s.get_ref() > 0.0 && *s.get_ref() < 1.0) => {
            d.at(
                s.span(),
                format!("drop_ratio must be between 0 and 1 (got {})", s.get_ref()),
            );
            dflt
        }
        Some(s) => *s.get_ref(),
        None => dflt,
    };
    let ms = |v: &Option<Spanned<u64>>, dflt: Duration| {
        v.as_ref()
            .map_or(dflt, |s| Duration::from_millis(*s.get_ref()))
    };
    match default {
        Detector::Breakage {
            drop_ratio,
            confirm_ticks,
            spike_ratio,
            spike_window,
            severity,
        } => Detector::Breakage {
            drop_ratio: ratio(d, &t.drop_ratio, drop_ratio),
            confirm_ticks: d
                .positive(t.confirm_ticks.as_ref(), "confirm_ticks")
                .unwrap_or(confirm_ticks),
            spike_ratio: d
                .positive(t.spike_ratio.as_ref(), "spike_ratio")
                .unwrap_or(spike_ratio),
            spike_window: ms(&t.spike_window_ms, spike_window),
            severity: t.severity.unwrap_or(severity),
        },
        Detector::MissingTool {
            drop_ratio,
            confirm_ticks,
            severity,
        } => Detector::MissingTool {
            drop_ratio: ratio(d, &t.drop_ratio, drop_ratio),
            confirm_ticks: d
                .positive(t.confirm_ticks.as_ref(), "confirm_ticks")
                .unwrap_or(confirm_ticks),
            severity: t.severity.unwrap_or(severity),
        },
        Detector::Overload {
            margin_pct,
            hold,
            severity,
        } => Detector::Overload {
            margin_pct: non_negative(d, &t.margin_pct, "margin_pct").unwrap_or(margin_pct),
            hold: ms(&t.hold_ms, hold),
            severity: t.severity.unwrap_or(severity),
        },
        Detector::WearDrift {
            rise_pct,
            parts,
            severity,
        } => Detector::WearDrift {
            rise_pct: d
                .positive(t.rise_pct.as_ref(), "rise_pct")
                .unwrap_or(rise_pct),
            parts: d.positive(t.parts.as_ref(), "parts").unwrap_or(parts),
            severity: t.severity.unwrap_or(severity),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const BASE: &str = "[[device]]\nname = \"mql\"\nprotocol = \"modbus-tcp\"\n\
                        address = \"127.0.0.1:5020\"\n[[device.tag]]\nname = \"flow\"\n\
                        table = \"input\"\naddress = 0\nsignal = \"mql.oil_flow\"\n";

    fn load_str(src: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::parse(Path::new("t.toml"), src)
    }

    #[test]
    fn without_the_section_the_monitor_is_off_with_every_default() {
        let c = load_str(BASE).unwrap();
        assert!(!c.monitor.enabled);
        assert_eq!(c.monitor.detectors.len(), 4);
    }

    #[test]
    fn parameters_are_data_and_mistakes_have_their_line() {
        let c = load_str(&format!(
            "{BASE}[monitor]\nlearn_cycles = 4\n[monitor.overload]\nmargin_pct = 50\nhold_ms = 2000\n\
             [monitor.wear_drift]\nenabled = false\n"
        ))
        .unwrap();
        assert!(c.monitor.enabled);
        assert_eq!(c.monitor.learn_cycles, 4);
        assert_eq!(c.monitor.detectors.len(), 3);
        assert!(c.monitor.detectors.iter().any(|d| matches!(
            d,
            super::Detector::Overload { margin_pct, hold, .. }
                if *margin_pct == 50.0 && hold.as_millis() == 2000
        )));
        let e = load_str(&format!(
            "{BASE}[monitor]\nlearn_cycles = 9\n[monitor.breakage]\nhold_ms = 5\ndrop_ratio = 1.5\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("learn_cycles must be at most 5"), "{e}");
        assert!(e.contains("[monitor.breakage] has no `hold_ms`"), "{e}");
        assert!(e.contains("drop_ratio must be between 0 and 1"), "{e}");
    }

    #[test]
    fn the_feed_hold_is_off_unless_a_pin_is_named_and_its_mistakes_have_their_line() {
        let c = load_str(&format!("{BASE}[monitor]\n")).unwrap();
        assert_eq!(c.monitor.feed_hold, None);
        let c = load_str(&format!(
            "{BASE}[monitor]\n[monitor.feed_hold]\npin = 16\nactive_low = true\n"
        ))
        .unwrap();
        let f = c.monitor.feed_hold.unwrap();
        assert_eq!(f.pin, 16);
        assert!(f.active_low);
        assert_eq!(
            f.kinds,
            [
                super::FindingKind::Breakage,
                super::FindingKind::MissingTool
            ]
        );
        assert_eq!(f.hold.as_millis(), 500);
        let e = load_str(&format!(
            "{BASE}[notify.gpio]\nred = 16\n[monitor]\n[monitor.wear_drift]\nenabled = false\n\
             [monitor.feed_hold]\npin = 16\nkinds = [\"breakage\", \"wear_drift\", \"smoke\"]\n\
             hold_ms = 20\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("feed_hold pin 16 is also a [notify.gpio] pin"),
            "{e}"
        );
        assert!(
            e.contains("`wear_drift`: that detector is not enabled"),
            "{e}"
        );
        assert!(e.contains("`smoke` is not one of"), "{e}");
        assert!(
            e.contains("hold_ms must be from 100 to 10000 (got 20)"),
            "{e}"
        );
        assert!(e.contains("t.toml:"), "the file and line: {e}");
        let e = load_str(&format!(
            "{BASE}[monitor]\n[monitor.feed_hold]\nactive_low = true\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("pin"), "{e}");
    }
}
