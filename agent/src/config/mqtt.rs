//! `[mqtt]`: the plant's broker, where this agent publishes its signals, operations, alarms and
//! life predictions under one topic tree per machine (see `fleet`), and where alarm events go.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::raw::RawConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    pub host: Spanned<String>,
    pub port: Option<Spanned<u16>>,
    pub client_id: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub tls: Option<Spanned<bool>>,
    /// Sends the user name and password to a broker beyond this machine without TLS: anyone on
    /// the network can read them. Off unless written.
    pub allow_plaintext_credentials: Option<bool>,
    pub ca_file: Option<Spanned<String>>,
    pub keep_alive_s: Option<Spanned<u64>>,
    pub topic_root: Option<Spanned<String>>,
    pub site: Option<Spanned<String>>,
    pub line: Option<Spanned<String>>,
    pub outbox_path: Option<Spanned<String>>,
    pub outbox_mb: Option<Spanned<f64>>,
    pub signals: Option<bool>,
    pub signal_min_interval_ms: Option<Spanned<u64>>,
    pub signal_heartbeat_s: Option<Spanned<u64>>,
    pub operations: Option<bool>,
    pub alarms: Option<bool>,
    pub life: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    pub keep_alive: Duration,
    /// `<topic_root>/<site>/<line>/<machine_id>`: every topic of this agent starts here.
    pub base_topic: String,
    /// Store-and-forward file; `None`: next to the store (`<store>.outbox.db`).
    pub outbox_path: Option<PathBuf>,
    /// Bytes the outbox may hold on disk; beyond it the oldest messages are dropped and counted.
    pub outbox_bytes: u64,
    /// Signals on change (beyond their deadband, at most once per `min_interval`) and at least
    /// every `heartbeat`; `None`: no signals.
    pub signals: Option<SignalPublishing>,
    pub operations: bool,
    pub alarms: bool,
    pub life: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignalPublishing {
    pub min_interval: Duration,
    pub heartbeat: Duration,
}

/// One level of a topic: MQTT gives `/`, `+` and `#` meaning, so none of them may appear.
fn topic_level(d: &mut Diagnostics, key: &str, v: &Spanned<String>) -> String {
    let s = v.get_ref();
    if s.is_empty() || s.contains(['/', '+', '#']) || s.trim() != s {
        d.at(
            v.span(),
            format!("{key} `{s}` must be one non-empty MQTT topic level: no '/', '+', '#' or surrounding spaces"),
        );
    }
    s.clone()
}

/// A broker on this machine: what is sent to it never crosses the network.
fn on_this_machine(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn check(d: &mut Diagnostics, raw: &RawConfig, machine_id: &str) -> Option<MqttSettings> {
    let m = raw.mqtt.as_ref()?;
    if let Some(id) = &raw.agent.machine_id {
        topic_level(
            d,
            "[agent] machine_id (a topic level when [mqtt] is set)",
            id,
        );
    }
    let level = |d: &mut Diagnostics, key: &str, v: &Option<Spanned<String>>, default: &str| {
        v.as_ref()
            .map_or(default.to_string(), |v| topic_level(d, key, v))
    };
    let root = level(d, "topic_root", &m.topic_root, "green-machining");
    let site = level(d, "site", &m.site, "site");
    let line = level(d, "line", &m.line, "line");

    let password = match (&m.password, &m.password_file) {
        (Some(p), Some(_)) => {
            d.at(p.span(), "give `password` or `password_file`, not both");
            None
        }
        (Some(p), None) => Some((p.get_ref().clone(), p.span())),
        (None, Some(f)) => super::validate_alarms::read_secret_file(d, f, "password_file"),
        (None, None) => None,
    };
    let credentials = match (&m.username, password) {
        (Some(u), Some((p, _))) => Some((u.get_ref().clone(), p)),
        (None, None) => None,
        (Some(u), None) => {
            d.at(u.span(), "username needs `password` or `password_file`");
            None
        }
        (None, Some((_, span))) => {
            d.at(span, "a password needs `username`");
            None
        }
    };
    let tls = m.tls.as_ref().is_some_and(|t| *t.get_ref()) || m.ca_file.is_some();
    if let (Some(u), false) = (&m.username, tls) {
        if !on_this_machine(m.host.get_ref()) && m.allow_plaintext_credentials != Some(true) {
            d.at(
                u.span(),
                format!(
                    "a user name and password for the broker `{}` without TLS cross the network \
                     readable by anyone on it: set `tls = true` (and `ca_file`), or \
                     `allow_plaintext_credentials = true` if this network is trusted",
                    m.host.get_ref()
                ),
            );
        }
    }
    let outbox_bytes = match &m.outbox_mb {
        // Written so that NaN is refused too.
        Some(mb) if !mb.get_ref().is_finite() || *mb.get_ref() <= 0.0 => {
            d.at(mb.span(), "outbox_mb must be greater than 0");
            0
        }
        Some(mb) => (mb.get_ref() * 1024.0 * 1024.0) as u64,
        None => 64 * 1024 * 1024,
    };
    let min_interval = d
        .positive(m.signal_min_interval_ms.as_ref(), "signal_min_interval_ms")
        .unwrap_or(1000);
    let heartbeat = d
        .positive(m.signal_heartbeat_s.as_ref(), "signal_heartbeat_s")
        .unwrap_or(60);
    if let Some(h) = &m.signal_heartbeat_s {
        if heartbeat * 1000 < min_interval {
            d.at(
                h.span(),
                "signal_heartbeat_s must not be shorter than signal_min_interval_ms",
            );
        }
    }
    Some(MqttSettings {
        host: m.host.get_ref().clone(),
        port: m
            .port
            .as_ref()
            .map_or(if tls { 8883 } else { 1883 }, |p| *p.get_ref()),
        client_id: m
            .client_id
            .as_ref()
            .map_or(format!("green-agent-{machine_id}"), |c| c.get_ref().clone()),
        credentials,
        tls,
        ca_file: m.ca_file.as_ref().map(|c| c.get_ref().into()),
        keep_alive: Duration::from_secs(
            m.keep_alive_s.as_ref().map_or(30, |k| *k.get_ref()).max(5),
        ),
        base_topic: format!("{root}/{site}/{line}/{machine_id}"),
        outbox_path: m.outbox_path.as_ref().map(|p| p.get_ref().into()),
        outbox_bytes,
        signals: m.signals.unwrap_or(true).then_some(SignalPublishing {
            min_interval: Duration::from_millis(min_interval),
            heartbeat: Duration::from_secs(heartbeat),
        }),
        operations: m.operations.unwrap_or(true),
        alarms: m.alarms.unwrap_or(true),
        life: m.life.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{parse as parse_config, Config, ConfigError};

    const BASE: &str = r#"
[agent]
machine_id = "vmc-07"
[[device]]
name = "plc"
protocol = "modbus-tcp"
address = "127.0.0.1:502"
  [[device.tag]]
  name = "hours"
  table = "holding"
  address = 0
"#;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        parse_config(Path::new("agent.toml"), &format!("{BASE}{extra}"))
    }

    #[test]
    fn the_topic_tree_is_root_site_line_machine() {
        let c =
            parse("[mqtt]\nhost = \"broker\"\nsite = \"plant-a\"\nline = \"line-3\"\n").unwrap();
        let m = c.mqtt.unwrap();
        assert_eq!(m.base_topic, "green-machining/plant-a/line-3/vmc-07");
        assert_eq!(m.client_id, "green-agent-vmc-07");
        assert_eq!(m.port, 1883);
        assert_eq!(m.outbox_bytes, 64 * 1024 * 1024);
        assert!(m.signals.is_some() && m.operations && m.alarms && m.life);
    }

    #[test]
    fn wildcards_in_a_topic_level_are_rejected_where_written() {
        let e =
            parse("[mqtt]\nhost = \"broker\"\nsite = \"plant/a\"\nline = \"#\"\noutbox_mb = 0\n")
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("agent.toml:14") && e.contains("site `plant/a`"),
            "{e}"
        );
        assert!(e.contains("agent.toml:15") && e.contains("line `#`"), "{e}");
        assert!(
            e.contains("agent.toml:16") && e.contains("outbox_mb"),
            "{e}"
        );
    }

    #[test]
    fn credentials_need_tls_beyond_this_machine() {
        let creds = "username = \"agent\"\npassword = \"s3cret-pw\"\n";
        let e = parse(&format!("[mqtt]\nhost = \"broker.plant\"\n{creds}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("agent.toml:14") && e.contains("without TLS") && !e.contains("s3cret"),
            "{e}"
        );
        for ok in [
            "host = \"broker.plant\"\ntls = true\n",
            "host = \"broker.plant\"\nallow_plaintext_credentials = true\n",
            "host = \"127.0.0.1\"\n",
            "host = \"localhost\"\n",
        ] {
            let c = parse(&format!("[mqtt]\n{ok}{creds}")).unwrap();
            assert!(c.mqtt.unwrap().credentials.is_some(), "{ok}");
        }
    }

    #[test]
    fn a_username_without_a_password_is_an_error() {
        let e = parse("[mqtt]\nhost = \"broker\"\nusername = \"agent\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("username needs"), "{e}");
    }
}
