//! The agent's configuration: devices, their tags, poll groups, the mapping of tags onto the
//! canonical vocabulary, and the store. `load` parses and checks a file and returns either a
//! configuration every later stage can trust, or every problem found with its file, line and
//! column.

mod carbon;
pub(crate) mod diagnostic;
mod green;
pub mod machine;
pub mod monitor;
mod mqtt;
pub mod opcua_node;
pub mod profile;
mod raw;
pub mod tables;
pub mod template;
mod validate;
mod validate_alarms;
mod validate_components;
mod validate_green;
mod validate_life;

pub use carbon::Carbon;
pub use green::{Lubricant, OperationSettings, Shifts};
pub use mqtt::{MqttSettings, SignalPublishing};
pub use validate_components::{
    AssetIds, BallScrewSettings, ComponentSettings, SpindleBearingSettings,
};
pub use validate_life::{wear_model_inputs, LifeSettings, WearModelSettings, USAGE_UNIT};

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diagnostic::{ConfigError, Problem};
pub use raw::{Parity, Protocol, Table};
pub use validate_alarms::redacted_url;

use crate::codec::Encoding;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub agent: AgentSettings,
    pub store: StoreSettings,
    pub devices: Vec<Device>,
    pub alarms: AlarmSettings,
    pub notify: NotifySettings,
    pub http: HttpSettings,
    pub operations: OperationSettings,
    /// Standards profiles, loaded and checked with the configuration.
    pub profiles: Vec<crate::config::profile::Profile>,
    pub lubricant: Option<Lubricant>,
    /// `[carbon]`: the factors behind every kg CO₂e, and the flood-coolant baseline.
    pub carbon: Carbon,
    pub shifts: Shifts,
    /// `[life]`: the wear model for remaining-life predictions, if any.
    pub life: LifeSettings,
    /// `[mqtt]`: the plant's broker, for fleet publishing and alarm events.
    pub mqtt: Option<MqttSettings>,
    /// `[machine]`: fixed values, tool and program tables, derived signals.
    pub machine: machine::MachineContext,
    /// `[monitor]`: process monitoring (envelopes and detectors); off without the section.
    pub monitor: monitor::MonitorSettings,
}

impl Config {
    /// Every signal something feeds: the devices' tags and the machine context.
    pub fn fed_signals(&self) -> std::collections::HashSet<String> {
        self.devices
            .iter()
            .flat_map(|d| d.tags.iter().map(|t| t.signal.clone()))
            .chain(
                self.machine
                    .signals()
                    .into_iter()
                    .map(|(s, _)| s.to_string()),
            )
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Names this machine in the store, the API and (later) on the fleet broker.
    pub machine_id: String,
    /// Where the HTTP server listens.
    pub listen: String,
    /// The language the pages open in (`zh-CN` or `en`; the page may offer the other). The
    /// API carries both texts whatever it is.
    pub language: String,
}

/// The page languages `[agent] language` may name.
pub const LANGUAGES: &[&str] = &["zh-CN", "en"];

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// SQLite file; relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Samples older than this are deleted.
    pub retention: Duration,
    /// How long the event tables keep their rows (operations, parts, violation episodes,
    /// alarm transitions).
    pub events: EventRetention,
    /// Samples are written in one transaction per interval, never one per sample: an SD card
    /// wears by writes, and this bounds them.
    pub flush_interval: Duration,
    /// An unchanged value is written again after this long, so a gap in the history means the
    /// agent was not running, not that nothing changed.
    pub heartbeat: Duration,
    /// Samples waiting for the writer; beyond it samples are dropped and counted.
    pub queue: usize,
}

/// How long each event table keeps its rows (`[store] *_retention_days`). Tool changes (the
/// training labels), component resets and the current alarms are never deleted: they are few,
/// and what they say stays true.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRetention {
    pub operations: Duration,
    pub parts: Duration,
    pub violations: Duration,
    pub alarm_events: Duration,
}

impl Default for EventRetention {
    /// Operations, parts and their violation episodes for five years (about 200 MB a year at
    /// an operation every three minutes, round the clock), alarm transitions for one.
    fn default() -> Self {
        let days = |d: u64| Duration::from_secs(d * 86_400);
        EventRetention {
            operations: days(1825),
            parts: days(1825),
            violations: days(1825),
            alarm_events: days(365),
        }
    }
}

/// One device the agent reads from.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub connection: Connection,
    /// Per-request timeout.
    pub timeout: Duration,
    /// A value not refreshed for this long is shown as stale.
    pub stale_after: Duration,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    ModbusTcp {
        address: String,
        unit_id: u8,
        max_gap: u16,
    },
    ModbusRtu {
        port: String,
        baud: u32,
        parity: Parity,
        data_bits: u8,
        stop_bits: u8,
        unit_id: u8,
        max_gap: u16,
    },
    OpcUa {
        endpoint: String,
        security_policy: String,
        security_mode: String,
        user: Option<(String, String)>,
        pki_dir: PathBuf,
    },
}

impl Connection {
    pub fn protocol(&self) -> &'static str {
        match self {
            Connection::ModbusTcp { .. } => "modbus-tcp",
            Connection::ModbusRtu { .. } => "modbus-rtu",
            Connection::OpcUa { .. } => "opcua",
        }
    }

    /// Where the device is, for people: an address, a serial port or an endpoint URL.
    pub fn endpoint(&self) -> String {
        match self {
            Connection::ModbusTcp {
                address, unit_id, ..
            } => format!("{address} unit {unit_id}"),
            Connection::ModbusRtu { port, unit_id, .. } => format!("{port} unit {unit_id}"),
            Connection::OpcUa { endpoint, .. } => endpoint.clone(),
        }
    }
}

/// One value read from a device.
#[derive(Debug, Clone)]
pub struct Tag {
    /// The tag's name on its device.
    pub name: String,
    /// The canonical signal it feeds, or `<device>.<tag>` when it is not mapped.
    pub signal: String,
    pub canonical: bool,
    /// The signal carries text: a number read for it (a program or tool number) becomes its
    /// text, `1001` not `1001.0`.
    pub text: bool,
    pub unit: String,
    pub interval: Duration,
    pub scale: f64,
    pub offset: f64,
    /// Changes smaller than this are not written to the store (they are still shown live).
    pub deadband: f64,
    /// Integer codes turned into text (e.g. channel state 0 → "active").
    pub labels: Vec<(i64, String)>,
    pub source: TagSource,
    /// Someone confirmed this mapping on the control (default); `verified = false` marks one
    /// taken from a manual or a companion specification and not yet checked on the machine.
    pub verified: bool,
}

#[derive(Debug, Clone)]
pub enum TagSource {
    Modbus {
        table: Table,
        address: u16,
        encoding: Encoding,
    },
    OpcUa {
        node: String,
    },
}

impl Tag {
    /// How many 16-bit registers (or coils) the tag occupies.
    pub fn width(&self) -> u16 {
        match &self.source {
            TagSource::Modbus {
                table: Table::Coil | Table::Discrete,
                ..
            } => 1,
            TagSource::Modbus { encoding, .. } => encoding.data_type.registers(),
            TagSource::OpcUa { .. } => 0,
        }
    }
}

/// Reads and checks a configuration file.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    parse(file, &diagnostic::read(file)?)
}

/// Only the stack light's pins (`[notify.gpio]`, `None` without one), read even when the rest of
/// the file has problems: `agent lamps-off` must switch the lamps off after the agent stopped
/// for any reason, a configuration edited since it started among them.
pub fn load_gpio(file: &Path) -> Result<Option<GpioSettings>, ConfigError> {
    let text = diagnostic::read(file)?;
    let raw: raw::RawGpioOnly = diagnostic::toml(file, &text)?;
    let mut d = diagnostic::Diagnostics::new(file, &text);
    let gpio = raw
        .notify
        .gpio
        .as_ref()
        .map(|g| validate_alarms::gpio(&mut d, g));
    d.into_result(gpio)
}

/// Parses and checks configuration text; `file` names it in messages, and the files it names
/// (standards profiles, the wear model) are read relative to it.
pub fn parse(file: &Path, source: &str) -> Result<Config, ConfigError> {
    validate::check(file, source, &|p: &Path| std::fs::read_to_string(p))
}

/// How the files a configuration names are read: from disk for `agent run`, from the files built
/// into the binary for `agent demo` (so a copied binary runs it anywhere).
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// [`parse`] with the named files read by `read`.
pub fn parse_with(file: &Path, source: &str, read: ReadFile) -> Result<Config, ConfigError> {
    validate::check(file, source, read)
}

// --- Alarms, their channels, and access to the HTTP server (checked in validate_alarms.rs) ----

/// The alarm engine: delays against flicker, escalation, and what the built-in evaluators watch.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    /// How often conditions are evaluated.
    pub tick: Duration,
    /// A condition must hold this long before its alarm is raised.
    pub on_delay: Duration,
    /// ... and be gone this long before it clears.
    pub off_delay: Duration,
    /// Per-key delays; the longest matching prefix wins.
    pub delays: Vec<DelayOverride>,
    /// An alarm still active and unacknowledged after this long goes to the next tier.
    pub escalate_after: Option<Duration>,
    /// The highest tier escalation goes to (default: the highest webhook tier).
    pub max_tier: u8,
    /// Severity of device unavailable / stale / tag-failed alarms.
    pub device_severity: crate::condition::Severity,
    /// Component life counters with their warning and limit levels.
    pub components: Vec<Component>,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings {
            tick: Duration::from_millis(250),
            on_delay: Duration::from_secs(2),
            off_delay: Duration::from_secs(5),
            delays: Vec::new(),
            escalate_after: None,
            max_tier: 0,
            device_severity: crate::condition::Severity::Warning,
            components: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DelayOverride {
    pub prefix: String,
    pub on_delay: Duration,
    pub off_delay: Duration,
}

/// A wearing component whose life is a counter signal (hours, strokes, parts).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub signal: String,
    pub warning: f64,
    pub limit: f64,
}

#[derive(Debug, Clone, Default)]
pub struct NotifySettings {
    pub webhooks: Vec<WebhookTarget>,
    pub gpio: Option<GpioSettings>,
}

#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
    /// Escalation tier: 0 gets every event; tier n gets the events of alarms escalated to n.
    pub tier: u8,
    pub min_severity: crate::condition::Severity,
    /// Body template with `{{field}}` placeholders (JSON-escaped); the event as JSON when absent.
    pub template: Option<template::Template>,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Events waiting for delivery; beyond it the oldest are dropped and counted.
    pub backlog: usize,
    pub headers: Vec<(String, String)>,
}

/// BCM pin numbers of the stack light, buzzer and acknowledge button.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpioSettings {
    pub red: Option<u8>,
    pub amber: Option<u8>,
    pub green: Option<u8>,
    pub buzzer: Option<u8>,
    pub ack_button: Option<u8>,
    /// Outputs drive relays that switch on low (common on relay boards).
    pub active_low: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The token that allows changes; `None`: one is made once and kept in `http-token` beside
    /// the store (mode 600), never logged.
    pub token: Option<String>,
    /// Reading the page and the API needs the token too.
    pub read_requires_auth: bool,
    /// How long a login from the form lasts.
    pub session: Duration,
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP beyond loopback is meant: no warning at start.
    pub allow_plaintext: bool,
    /// A request without an answer after this gets 503.
    pub request_timeout: Duration,
    /// Requests handled at once; more wait.
    pub max_requests: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            token: None,
            read_requires_auth: false,
            session: Duration::from_secs(12 * 3600),
            tls: None,
            allow_plaintext: false,
            request_timeout: Duration::from_secs(60),
            max_requests: 32,
        }
    }
}
