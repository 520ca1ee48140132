//! The agent's configuration: devices, their tags, poll groups, the mapping of tags onto the
//! canonical vocabulary, and the store. `load` parses and checks a file and returns either a
//! configuration every later stage can trust, or every problem found with its file, line and
//! column.

mod diagnostic;
mod raw;
mod validate;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use diagnostic::{ConfigError, Problem};
pub use raw::{Parity, Protocol, Table};

use crate::codec::Encoding;

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub agent: AgentSettings,
    pub store: StoreSettings,
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Names this machine in the store, the API and (later) on the fleet broker.
    pub machine_id: String,
    /// Where the HTTP server listens.
    pub listen: String,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// SQLite file; relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Samples older than this are deleted.
    pub retention: Duration,
    /// Samples are written in one transaction per interval, never one per sample: an SD card
    /// wears by writes, and this bounds them.
    pub flush_interval: Duration,
    /// An unchanged value is written again after this long, so a gap in the history means the
    /// agent was not running, not that nothing changed.
    pub heartbeat: Duration,
    /// Samples waiting for the writer; beyond it samples are dropped and counted.
    pub queue: usize,
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
    pub unit: String,
    pub interval: Duration,
    pub scale: f64,
    pub offset: f64,
    /// Changes smaller than this are not written to the store (they are still shown live).
    pub deadband: f64,
    /// Integer codes turned into text (e.g. channel state 0 → "active").
    pub labels: Vec<(i64, String)>,
    pub source: TagSource,
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
    let source = std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        }],
    })?;
    parse(file, &source)
}

/// Parses and checks configuration text; `file` is only used in messages.
pub fn parse(file: &Path, source: &str) -> Result<Config, ConfigError> {
    validate::check(file, source)
}
