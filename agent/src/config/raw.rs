//! The configuration file as written: serde types with spans, so that every later check can
//! say where the problem is. `deny_unknown_fields` everywhere: a misspelt key is an error, not a
//! silently ignored setting.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::codec::{ByteOrder, DataType, WordOrder};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub agent: RawAgent,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub poll_groups: BTreeMap<String, Spanned<RawGroup>>,
    #[serde(default, rename = "device")]
    pub devices: Vec<RawDevice>,
    #[serde(default)]
    pub alarms: RawAlarms,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub operations: RawOperations,
    #[serde(default)]
    pub compliance: RawCompliance,
    pub lubricant: Option<super::green::Lubricant>,
    pub carbon: Option<super::carbon::RawCarbon>,
    pub shifts: Option<RawShifts>,
    #[serde(default)]
    pub life: RawLife,
    pub mqtt: Option<super::mqtt::RawMqtt>,
    #[serde(default)]
    pub machine: super::machine::RawMachine,
    pub monitor: Option<super::monitor::RawMonitor>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub machine_id: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    pub language: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub path: Option<String>,
    pub retention_days: Option<Spanned<u32>>,
    pub operations_retention_days: Option<Spanned<u32>>,
    pub parts_retention_days: Option<Spanned<u32>>,
    pub violations_retention_days: Option<Spanned<u32>>,
    pub alarm_events_retention_days: Option<Spanned<u32>>,
    pub flush_interval_ms: Option<Spanned<u64>>,
    pub heartbeat_s: Option<Spanned<u64>>,
    pub queue: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub interval_ms: Spanned<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    ModbusTcp,
    ModbusRtu,
    Opcua,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    Holding,
    Input,
    Coil,
    Discrete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Even,
    Odd,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: Spanned<String>,
    pub protocol: Spanned<Protocol>,
    pub group: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub stale_after_ms: Option<Spanned<u64>>,
    // Modbus TCP
    pub address: Option<Spanned<String>>,
    // Modbus (both)
    pub unit_id: Option<Spanned<u8>>,
    pub max_gap: Option<Spanned<u16>>,
    // Modbus RTU
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<u32>>,
    pub parity: Option<Spanned<Parity>>,
    pub data_bits: Option<Spanned<u8>>,
    pub stop_bits: Option<Spanned<u8>>,
    // OPC UA
    pub endpoint: Option<Spanned<String>>,
    pub security_policy: Option<Spanned<String>>,
    pub security_mode: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    /// The password in a file of its own (mode 600), so the configuration can be shared.
    pub password_file: Option<Spanned<String>>,
    /// Sends the user name and password over a channel without encryption: anyone on the
    /// network reads them. Off unless set; for a CNC that offers no secure endpoint.
    pub allow_plaintext_credentials: Option<bool>,
    pub pki_dir: Option<Spanned<String>>,
    #[serde(default, rename = "tag")]
    pub tags: Vec<RawTag>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    pub name: Spanned<String>,
    pub signal: Option<Spanned<String>>,
    pub unit: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub scale: Option<Spanned<f64>>,
    pub offset: Option<Spanned<f64>>,
    pub deadband: Option<Spanned<f64>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// `false` for a mapping nobody has confirmed on this control yet (starting points under
    /// configs/machines/, drafts from `agent browse`); shown in `/api/signals`.
    pub verified: Option<bool>,
    // Modbus
    pub table: Option<Spanned<Table>>,
    pub address: Option<Spanned<u16>>,
    #[serde(rename = "type")]
    pub data_type: Option<Spanned<DataType>>,
    pub byte_order: Option<Spanned<ByteOrder>>,
    pub word_order: Option<Spanned<WordOrder>>,
    pub bit: Option<Spanned<u8>>,
    // OPC UA
    pub node: Option<Spanned<String>>,
}

// --- Alarms, their channels, and the HTTP server's access rules ------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAlarms {
    pub tick_ms: Option<Spanned<u64>>,
    pub on_delay_ms: Option<Spanned<u64>>,
    pub off_delay_ms: Option<Spanned<u64>>,
    pub escalate_after_s: Option<Spanned<u64>>,
    pub max_tier: Option<Spanned<u8>>,
    pub device_severity: Option<Spanned<crate::condition::Severity>>,
    #[serde(default, rename = "delay")]
    pub delays: Vec<RawDelay>,
    #[serde(default, rename = "component")]
    pub components: Vec<RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelay {
    pub prefix: Spanned<String>,
    pub on_delay_ms: Option<Spanned<u64>>,
    pub off_delay_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub name: Spanned<String>,
    pub signal: Spanned<String>,
    pub warning: Spanned<f64>,
    pub limit: Spanned<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    #[serde(default)]
    pub webhook: Vec<RawWebhook>,
    pub gpio: Option<RawGpio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: Option<Spanned<String>>,
    pub url: Spanned<String>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub tier: Option<Spanned<u8>>,
    pub min_severity: Option<Spanned<crate::condition::Severity>>,
    pub template: Option<Spanned<String>>,
    pub retry_initial_ms: Option<Spanned<u64>>,
    pub retry_max_ms: Option<Spanned<u64>>,
    pub backlog: Option<Spanned<usize>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
}

/// Only `[notify.gpio]` of a configuration, everything else ignored (`agent lamps-off`).
#[derive(Debug, Deserialize, Default)]
pub struct RawGpioOnly {
    #[serde(default)]
    pub notify: RawGpioOnlyNotify,
}

#[derive(Debug, Deserialize, Default)]
pub struct RawGpioOnlyNotify {
    pub gpio: Option<RawGpio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGpio {
    pub red: Option<Spanned<u8>>,
    pub amber: Option<Spanned<u8>>,
    pub green: Option<Spanned<u8>>,
    pub buzzer: Option<Spanned<u8>>,
    pub ack_button: Option<Spanned<u8>>,
    pub active_low: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub token: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub read_requires_auth: Option<bool>,
    pub session_hours: Option<Spanned<u64>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    /// Listening beyond loopback without TLS, on purpose (a plant network the operator trusts):
    /// silences the warning at start.
    pub allow_plaintext: Option<bool>,
    pub request_timeout_s: Option<Spanned<u64>>,
    pub max_requests: Option<Spanned<usize>>,
}

// --- Operations, green-cutting profiles, lubricant, shifts (checked in validate_green.rs) -----

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOperations {
    pub tick_ms: Option<Spanned<u64>>,
    pub min_load_pct: Option<Spanned<f64>>,
    pub max_cutting_feed_mm_min: Option<Spanned<f64>>,
    pub start_delay_ms: Option<Spanned<u64>>,
    pub end_delay_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCompliance {
    #[serde(default)]
    pub profiles: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShifts {
    pub utc_offset: Spanned<String>,
    pub starts: Spanned<Vec<String>>,
}

// --- Remaining life (checked in validate_life.rs) -----------------------------------------------

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLife {
    pub wear_model: Option<Spanned<String>>,
    pub depth_of_cut_mm: Option<Spanned<f64>>,
    pub mql_pump_rated_strokes: Option<Spanned<f64>>,
    pub bearing_record_min: Option<Spanned<f64>>,
    pub tool_remaining_warning_min: Option<Spanned<f64>>,
    pub tool_remaining_limit_min: Option<Spanned<f64>>,
    /// `[life.components]`: ratings of the spindle bearing, ball screws (validate_components.rs).
    pub components: Option<super::validate_components::RawLifeComponents>,
}
