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
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub machine_id: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub path: Option<String>,
    pub retention_days: Option<Spanned<u32>>,
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
