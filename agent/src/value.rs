//! Values and their quality, as they travel from sources to state, store and API.

use serde::Serialize;

/// A value in engineering units.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = SignalValue)]
pub enum Value {
    Number(f64),
    Bool(bool),
    Text(String),
}

/// `Value` by the name the API document gives it: the schema derive reads a field of a type
/// named `Value` as any JSON value (`serde_json::Value`), so fields name it through this.
pub type SignalValue = Value;

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(x) => Some(*x),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Text(_) => None,
        }
    }
}

/// The error of a signal whose value is NaN or infinite, on every source and after scaling:
/// such a value is unavailable, never good (NaN passes every limit check, an infinite power
/// makes energy unreadable). The state itself refuses one too, whoever sends it.
pub const NOT_FINITE: &str = "not finite";

impl Value {
    /// A number that is NaN or infinite (text and bools are always values).
    pub fn is_non_finite(&self) -> bool {
        matches!(self, Value::Number(x) if !x.is_finite())
    }
}

/// Data quality, after OPC UA's Good / Uncertain (stale) / Bad (unavailable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// A fresh value from a connected device.
    Good,
    /// The last value known, but older than the device's `stale_after_ms`.
    Stale,
    /// No value: device disconnected or erroring, or the tag itself failed.
    Unavailable,
}

impl Quality {
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Stale => "stale",
            Quality::Unavailable => "unavailable",
        }
    }
}

/// A time for people and other systems (exports, MQTT payloads): RFC 3339 in UTC with
/// milliseconds, e.g. `2026-03-01T06:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Milliseconds since the Unix epoch, the one time format of the store and the API.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
