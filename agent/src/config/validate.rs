//! From the file as written to a configuration the rest of the agent can trust. Every check
//! records its problem and carries on, so a user sees all of them in one run.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::raw::{Protocol, RawConfig, RawDevice, RawTag, Table};
use super::*;
use crate::codec::{DataType, Encoding};
use crate::vocabulary::{self, Kind};

const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_millis(1000);

/// A configuration that holds a secret itself (a token, a password, a webhook's URL or headers)
/// must not be readable by every user of the machine: the first such secret is named with its
/// line. Readable by the group is allowed, so that root can own the file and the service's
/// group read it (`chmod 640`, `chgrp green-agent`). A file that is not on disk (text given
/// directly) is not checked.
fn secrets_private(d: &mut Diagnostics, file: &Path, raw: &RawConfig) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(file) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o004 == 0 {
            return;
        }
        let first = raw
            .http
            .token
            .as_ref()
            .map(|t| ("[http] token", t.span()))
            .into_iter()
            .chain(
                raw.mqtt
                    .as_ref()
                    .and_then(|m| m.password.as_ref())
                    .map(|p| ("[mqtt] password", p.span())),
            )
            .chain(
                raw.devices
                    .iter()
                    .filter_map(|dv| dv.password.as_ref())
                    .map(|p| ("a device's password", p.span())),
            )
            .chain(raw.notify.webhook.iter().flat_map(|w| {
                [("a webhook's url", w.url.span())].into_iter().chain(
                    w.headers
                        .as_ref()
                        .map(|h| ("a webhook's headers", h.span())),
                )
            }))
            .min_by_key(|(_, span)| span.start);
        if let Some((what, span)) = first {
            d.at(
                span,
                format!(
                    "{what} is a secret, and {} has mode {mode:o}: readable by every user of \
                     this machine. chmod 600 it (or 640 with the service's group), or move the \
                     secret to its own file (token_file, password_file)",
                    file.display()
                ),
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (d, file, raw);
}

pub fn check(file: &Path, source: &str, read: ReadFile) -> Result<Config, ConfigError> {
    let raw: RawConfig = super::diagnostic::toml(file, source)?;
    let mut d = Diagnostics::new(file, source);
    secrets_private(&mut d, file, &raw);

    let agent = AgentSettings {
        machine_id: raw.agent.machine_id.as_ref().map_or("machine".into(), |m| {
            let id = m.get_ref();
            if !is_identifier(id) {
                d.at(m.span(), "machine_id must be letters, digits, '-' or '_'");
            }
            id.clone()
        }),
        listen: raw
            .agent
            .listen
            .as_ref()
            .map_or("127.0.0.1:8080".into(), |l| {
                if l.get_ref().parse::<std::net::SocketAddr>().is_err() {
                    d.at(
                        l.span(),
                        format!("listen `{}` is not an address:port", l.get_ref()),
                    );
                }
                l.get_ref().clone()
            }),
        // Absent: English, as the pages were before they spoke Chinese.
        language: raw.agent.language.as_ref().map_or("en".into(), |l| {
            if !super::LANGUAGES.contains(&l.get_ref().as_str()) {
                d.at(
                    l.span(),
                    format!(
                        "language `{}` is not one of: {}",
                        l.get_ref(),
                        super::LANGUAGES.join(", ")
                    ),
                );
            }
            l.get_ref().clone()
        }),
    };

    let store = StoreSettings {
        path: raw
            .store
            .path
            .clone()
            .unwrap_or_else(|| "data/agent.db".into())
            .into(),
        retention: Duration::from_secs(
            u64::from(
                d.positive(raw.store.retention_days.as_ref(), "retention_days")
                    .unwrap_or(30),
            ) * 86_400,
        ),
        events: {
            let default = EventRetention::default();
            let mut days = |v: &Option<Spanned<u32>>, name: &str, default: Duration| {
                d.positive(v.as_ref(), name)
                    .map_or(default, |n| Duration::from_secs(u64::from(n) * 86_400))
            };
            let s = &raw.store;
            EventRetention {
                operations: days(
                    &s.operations_retention_days,
                    "operations_retention_days",
                    default.operations,
                ),
                parts: days(
                    &s.parts_retention_days,
                    "parts_retention_days",
                    default.parts,
                ),
                violations: days(
                    &s.violations_retention_days,
                    "violations_retention_days",
                    default.violations,
                ),
                alarm_events: days(
                    &s.alarm_events_retention_days,
                    "alarm_events_retention_days",
                    default.alarm_events,
                ),
            }
        },
        flush_interval: Duration::from_millis(
            d.positive(raw.store.flush_interval_ms.as_ref(), "flush_interval_ms")
                .unwrap_or(1000),
        ),
        heartbeat: Duration::from_secs(
            d.positive(raw.store.heartbeat_s.as_ref(), "heartbeat_s")
                .unwrap_or(60),
        ),
        queue: d
            .positive(raw.store.queue.as_ref(), "queue")
            .unwrap_or(100_000),
    };

    let mut groups = HashMap::new();
    for (name, g) in &raw.poll_groups {
        let ms = *g.get_ref().interval_ms.get_ref();
        if ms == 0 {
            d.at(
                g.get_ref().interval_ms.span(),
                format!("poll group `{name}`: interval_ms must be > 0"),
            );
        }
        groups.insert(name.clone(), Duration::from_millis(ms.max(1)));
    }

    let mut devices = Vec::new();
    let mut device_names: HashMap<String, Range<usize>> = HashMap::new();
    // Where each signal was first mapped, to report duplicates at both places.
    let mut signal_places: HashMap<String, (String, Range<usize>)> = HashMap::new();
    for rd in &raw.devices {
        let name = rd.name.get_ref().clone();
        if !is_identifier(&name) {
            d.at(
                rd.name.span(),
                format!("device name `{name}` must be letters, digits, '-' or '_'"),
            );
        }
        if let Some(first) = device_names.get(&name) {
            let (line, _) = super::diagnostic::line_column(source, first.start);
            d.at(
                rd.name.span(),
                format!("duplicate device `{name}` (first defined at line {line})"),
            );
        } else {
            device_names.insert(name.clone(), rd.name.span());
        }
        let Some(connection) = connection(&mut d, rd) else {
            continue;
        };
        let group_interval = group(&mut d, &groups, rd.group.as_ref(), DEFAULT_GROUP_INTERVAL);
        let timeout = Duration::from_millis(
            d.positive(rd.timeout_ms.as_ref(), "timeout_ms")
                .unwrap_or(1000),
        );
        let stale_after = Duration::from_millis(
            d.positive(rd.stale_after_ms.as_ref(), "stale_after_ms")
                .unwrap_or(5000),
        );
        if rd.tags.is_empty() {
            d.at(
                rd.name.span(),
                format!("device `{name}` has no [[device.tag]]"),
            );
        }
        let mut tags = Vec::new();
        let mut tag_names: HashMap<&str, ()> = HashMap::new();
        for rt in &rd.tags {
            if tag_names.insert(rt.name.get_ref(), ()).is_some() {
                d.at(
                    rt.name.span(),
                    format!("duplicate tag `{}` in device `{name}`", rt.name.get_ref()),
                );
            }
            let Some(tag) = tag(&mut d, &groups, rd, rt, group_interval) else {
                continue;
            };
            if let Some((dev, first)) = signal_places.get(&tag.signal) {
                let (line, _) = super::diagnostic::line_column(source, first.start);
                d.at(
                    rt.name.span(),
                    format!(
                        "duplicate signal `{}`: already mapped by device `{dev}` at line {line}",
                        tag.signal
                    ),
                );
            } else {
                signal_places.insert(tag.signal.clone(), (name.clone(), rt.name.span()));
            }
            tags.push(tag);
        }
        devices.push(Device {
            name,
            connection,
            timeout,
            stale_after,
            tags,
        });
    }
    if raw.devices.is_empty() {
        d.at(0..0, "no [[device]] configured");
    }

    let device_signals: HashMap<String, String> = devices
        .iter()
        .flat_map(|dev| {
            dev.tags
                .iter()
                .map(|t| (t.signal.clone(), dev.name.clone()))
        })
        .collect();
    let machine = super::machine::check(&mut d, &raw.machine, &device_signals, file);
    if let Some(span) = device_names.get(super::machine::CONTEXT_DEVICE) {
        if !machine.signals().is_empty() {
            d.at(
                span.clone(),
                format!(
                    "device name `{}` is taken by the [machine] context",
                    super::machine::CONTEXT_DEVICE
                ),
            );
        }
    }
    let fed: std::collections::HashSet<String> = device_signals
        .keys()
        .cloned()
        .chain(machine.signals().into_iter().map(|(s, _)| s.to_string()))
        .collect();
    let (alarms, notify, http) = super::validate_alarms::check(&mut d, &raw, &fed);
    let (operations, profiles, lubricant, shifts) =
        super::validate_green::check(&mut d, &raw, file, read);
    let life = super::validate_life::check(&mut d, &raw, file, read);
    let mqtt = super::mqtt::check(&mut d, &raw, &agent.machine_id);
    let monitor = super::monitor::check(&mut d, &raw);
    let carbon = super::carbon::check(&mut d, raw.carbon.as_ref());

    d.into_result(Config {
        file: file.to_path_buf(),
        agent,
        store,
        devices,
        alarms,
        notify,
        http,
        operations,
        profiles,
        lubricant,
        carbon,
        shifts,
        life,
        mqtt,
        machine,
        monitor,
    })
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn group(
    d: &mut Diagnostics,
    groups: &HashMap<String, Duration>,
    name: Option<&Spanned<String>>,
    default: Duration,
) -> Duration {
    let Some(name) = name else { return default };
    match groups.get(name.get_ref()) {
        Some(i) => *i,
        None => {
            let known: Vec<&str> = groups.keys().map(String::as_str).collect();
            d.at(
                name.span(),
                format!(
                    "unknown poll group `{}` (defined: {})",
                    name.get_ref(),
                    list(&known)
                ),
            );
            default
        }
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        let mut v = items.to_vec();
        v.sort();
        v.join(", ")
    }
}

/// Fields that only some protocols use, so that a field given to the wrong one is reported.
fn foreign_fields(rd: &RawDevice, protocol: Protocol) -> Vec<(&'static str, Range<usize>)> {
    let mut out = Vec::new();
    let mut check = |present: Option<Range<usize>>, name: &'static str, allowed: &[Protocol]| {
        if let Some(span) = present {
            if !allowed.contains(&protocol) {
                out.push((name, span));
            }
        }
    };
    use Protocol::*;
    check(
        rd.address.as_ref().map(Spanned::span),
        "address",
        &[ModbusTcp],
    );
    check(
        rd.unit_id.as_ref().map(Spanned::span),
        "unit_id",
        &[ModbusTcp, ModbusRtu],
    );
    check(
        rd.max_gap.as_ref().map(Spanned::span),
        "max_gap",
        &[ModbusTcp, ModbusRtu],
    );
    check(rd.port.as_ref().map(Spanned::span), "port", &[ModbusRtu]);
    check(rd.baud.as_ref().map(Spanned::span), "baud", &[ModbusRtu]);
    check(
        rd.parity.as_ref().map(Spanned::span),
        "parity",
        &[ModbusRtu],
    );
    check(
        rd.data_bits.as_ref().map(Spanned::span),
        "data_bits",
        &[ModbusRtu],
    );
    check(
        rd.stop_bits.as_ref().map(Spanned::span),
        "stop_bits",
        &[ModbusRtu],
    );
    check(
        rd.endpoint.as_ref().map(Spanned::span),
        "endpoint",
        &[Opcua],
    );
    check(
        rd.security_policy.as_ref().map(Spanned::span),
        "security_policy",
        &[Opcua],
    );
    check(
        rd.security_mode.as_ref().map(Spanned::span),
        "security_mode",
        &[Opcua],
    );
    check(
        rd.username.as_ref().map(Spanned::span),
        "username",
        &[Opcua],
    );
    check(
        rd.password.as_ref().map(Spanned::span),
        "password",
        &[Opcua],
    );
    check(
        rd.password_file.as_ref().map(Spanned::span),
        "password_file",
        &[Opcua],
    );
    check(rd.pki_dir.as_ref().map(Spanned::span), "pki_dir", &[Opcua]);
    out
}

fn required<'a, T>(
    d: &mut Diagnostics,
    rd: &RawDevice,
    v: &'a Option<Spanned<T>>,
    what: &str,
) -> Option<&'a T> {
    if v.is_none() {
        let proto = protocol_name(*rd.protocol.get_ref());
        d.at(
            rd.name.span(),
            format!("device `{}` ({proto}) needs `{what}`", rd.name.get_ref()),
        );
    }
    v.as_ref().map(Spanned::get_ref)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::ModbusTcp => "modbus-tcp",
        Protocol::ModbusRtu => "modbus-rtu",
        Protocol::Opcua => "opcua",
    }
}

const SECURITY_POLICIES: &[&str] = &[
    "None",
    "Basic256Sha256",
    "Aes128Sha256RsaOaep",
    "Aes256Sha256RsaPss",
];
const SECURITY_MODES: &[&str] = &["None", "Sign", "SignAndEncrypt"];

fn connection(d: &mut Diagnostics, rd: &RawDevice) -> Option<Connection> {
    let protocol = *rd.protocol.get_ref();
    for (field, span) in foreign_fields(rd, protocol) {
        d.at(
            span,
            format!(
                "`{field}` does not apply to protocol {}",
                protocol_name(protocol)
            ),
        );
    }
    let unit_id = rd.unit_id.as_ref().map_or(1, |u| *u.get_ref());
    let max_gap = rd.max_gap.as_ref().map_or(0, |g| *g.get_ref());
    match protocol {
        Protocol::ModbusTcp => {
            let address = required(d, rd, &rd.address, "address")?;
            let a = rd.address.as_ref().unwrap();
            if address
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                d.at(a.span(), format!("address `{address}` is not host:port"));
            }
            Some(Connection::ModbusTcp {
                address: address.clone(),
                unit_id,
                max_gap,
            })
        }
        Protocol::ModbusRtu => {
            let port = required(d, rd, &rd.port, "port")?;
            let data_bits = rd.data_bits.as_ref().map_or(8, |b| *b.get_ref());
            if let Some(b) = &rd.data_bits {
                if !(5..=8).contains(b.get_ref()) {
                    d.at(b.span(), "data_bits must be 5, 6, 7 or 8");
                }
            }
            let stop_bits = rd.stop_bits.as_ref().map_or(1, |b| *b.get_ref());
            if let Some(b) = &rd.stop_bits {
                if !(1..=2).contains(b.get_ref()) {
                    d.at(b.span(), "stop_bits must be 1 or 2");
                }
            }
            Some(Connection::ModbusRtu {
                port: port.clone(),
                baud: rd.baud.as_ref().map_or(19_200, |b| *b.get_ref()),
                parity: rd.parity.as_ref().map_or(Parity::Even, |p| *p.get_ref()),
                data_bits,
                stop_bits,
                unit_id,
                max_gap,
            })
        }
        Protocol::Opcua => {
            let endpoint = required(d, rd, &rd.endpoint, "endpoint")?;
            if !endpoint.starts_with("opc.tcp://") {
                d.at(
                    rd.endpoint.as_ref().unwrap().span(),
                    "endpoint must start with opc.tcp://",
                );
            }
            let pick = |d: &mut Diagnostics,
                        v: &Option<Spanned<String>>,
                        allowed: &[&str],
                        what| {
                match v {
                    None => "None".to_string(),
                    Some(s) if allowed.contains(&s.get_ref().as_str()) => s.get_ref().clone(),
                    Some(s) => {
                        d.at(
                            s.span(),
                            format!(
                                "unknown {what} `{}` (one of: {})",
                                s.get_ref(),
                                allowed.join(", ")
                            ),
                        );
                        "None".to_string()
                    }
                }
            };
            let security_policy =
                pick(d, &rd.security_policy, SECURITY_POLICIES, "security_policy");
            let security_mode = pick(d, &rd.security_mode, SECURITY_MODES, "security_mode");
            if (security_policy == "None") != (security_mode == "None") {
                let span = rd
                    .security_mode
                    .as_ref()
                    .or(rd.security_policy.as_ref())
                    .unwrap()
                    .span();
                d.at(
                    span,
                    "security_policy and security_mode must both be None or both not None",
                );
            }
            let password = match (&rd.password, &rd.password_file) {
                (Some(p), None) => Some((p.get_ref().clone(), p.span())),
                (None, Some(f)) => super::validate_alarms::read_secret_file(d, f, "password_file"),
                (None, None) => None,
                (Some(_), Some(f)) => {
                    d.at(f.span(), "password and password_file: give one");
                    None
                }
            };
            let user = match (&rd.username, password) {
                (Some(u), Some((p, _))) => Some((u.get_ref().clone(), p)),
                (None, None) => None,
                (Some(u), None) => {
                    if rd.password_file.is_none() {
                        d.at(u.span(), "username and password go together");
                    }
                    None
                }
                (None, Some((_, span))) => {
                    d.at(span, "username and password go together");
                    None
                }
            };
            // Credentials over policy None cross the plant network readable by anyone.
            if user.is_some()
                && security_policy == "None"
                && rd.allow_plaintext_credentials != Some(true)
            {
                let span = rd.username.as_ref().map_or(0..0, |u| u.span());
                d.at(
                    span,
                    "a user name and password over security_policy None cross the network \
                     unencrypted: use security_policy = \"Basic256Sha256\" with security_mode = \
                     \"SignAndEncrypt\", or set allow_plaintext_credentials = true",
                );
            }
            Some(Connection::OpcUa {
                endpoint: endpoint.clone(),
                security_policy,
                security_mode,
                user,
                pki_dir: rd
                    .pki_dir
                    .as_ref()
                    .map_or("data/pki".into(), |p| p.get_ref().into()),
            })
        }
    }
}

fn tag(
    d: &mut Diagnostics,
    groups: &HashMap<String, Duration>,
    rd: &RawDevice,
    rt: &RawTag,
    device_interval: Duration,
) -> Option<Tag> {
    let device = rd.name.get_ref();
    let name = rt.name.get_ref().clone();
    let protocol = *rd.protocol.get_ref();
    let here = format!("tag `{device}.{name}`");
    if !is_identifier(&name) {
        d.at(
            rt.name.span(),
            format!("{here}: name must be letters, digits, '-' or '_'"),
        );
    }
    let interval = group(d, groups, rt.group.as_ref(), device_interval);

    let source = match protocol {
        Protocol::ModbusTcp | Protocol::ModbusRtu => {
            if let Some(n) = &rt.node {
                d.at(
                    n.span(),
                    format!(
                        "{here}: `node` is for OPC UA devices; Modbus tags use table/address/type"
                    ),
                );
            }
            modbus_source(d, rt, &here)?
        }
        Protocol::Opcua => {
            for (present, field) in [
                (rt.table.as_ref().map(Spanned::span), "table"),
                (rt.address.as_ref().map(Spanned::span), "address"),
                (rt.data_type.as_ref().map(Spanned::span), "type"),
                (rt.byte_order.as_ref().map(Spanned::span), "byte_order"),
                (rt.word_order.as_ref().map(Spanned::span), "word_order"),
                (rt.bit.as_ref().map(Spanned::span), "bit"),
            ] {
                if let Some(span) = present {
                    d.at(
                        span,
                        format!("{here}: `{field}` is for Modbus tags; OPC UA tags use `node`"),
                    );
                }
            }
            let Some(node) = &rt.node else {
                d.at(
                    rt.name.span(),
                    format!("{here} needs `node` (e.g. \"ns=2;s=Spindle.ActSpeed\")"),
                );
                return None;
            };
            if let Err(e) = super::opcua_node::parse_node_id(node.get_ref()) {
                d.at(
                    node.span(),
                    format!("{here}: node `{}`: {e}", node.get_ref()),
                );
            }
            TagSource::OpcUa {
                node: node.get_ref().clone(),
            }
        }
    };

    let scale = rt.scale.as_ref().map_or(1.0, |s| {
        if !s.get_ref().is_finite() || *s.get_ref() == 0.0 {
            d.at(
                s.span(),
                format!("{here}: scale must be a finite, non-zero number"),
            );
        }
        *s.get_ref()
    });
    let offset = rt.offset.as_ref().map_or(0.0, |s| *s.get_ref());
    let deadband = rt.deadband.as_ref().map_or(0.0, |s| {
        if *s.get_ref() < 0.0 {
            d.at(s.span(), format!("{here}: deadband must be >= 0"));
        }
        *s.get_ref()
    });
    let labels = labels(d, rt, &here);

    // Mapping onto the vocabulary, with the unit and kind it implies.
    let bool_tag = match &source {
        TagSource::Modbus { encoding, .. } => encoding.data_type == DataType::Bool,
        TagSource::OpcUa { .. } => false, // OPC UA values carry their own type
    };
    let (signal, canonical, unit) = match &rt.signal {
        Some(s) => {
            let sname = s.get_ref();
            match vocabulary::find(sname) {
                None => {
                    let hint = vocabulary::closest(sname)
                        .map_or(String::new(), |c| format!("; did you mean `{c}`?"));
                    d.at(s.span(), format!("{here}: unknown signal `{sname}`{hint} (see the vocabulary in README.md)"));
                    return None;
                }
                Some(def) => {
                    let unit = match &rt.unit {
                        Some(u) if u.get_ref() != def.unit => {
                            d.at(
                                u.span(),
                                format!(
                                    "{here}: unit `{}` but signal `{sname}` is in `{}`; scale the tag into `{}`",
                                    u.get_ref(),
                                    def.unit,
                                    def.unit
                                ),
                            );
                            def.unit.to_string()
                        }
                        _ => def.unit.to_string(),
                    };
                    let kind_ok = match def.kind {
                        Kind::Bool => {
                            !labels_given(rt)
                                && (bool_tag || matches!(source, TagSource::OpcUa { .. }))
                        }
                        Kind::Number => !bool_tag && !labels_given(rt),
                        Kind::Text => !bool_tag,
                    };
                    if !kind_ok {
                        let want = match def.kind {
                            Kind::Bool => "a bool (type = \"bool\", or a bit of a register)",
                            Kind::Number => "a number (no labels, not a bool)",
                            Kind::Text => "text (an OPC UA string, or a code with labels)",
                        };
                        d.at(s.span(), format!("{here}: signal `{sname}` is {want}"));
                    }
                    // A program or tool number in an integer register is that number as
                    // text ("1001"); a float has no such reading.
                    if let TagSource::Modbus { encoding, .. } = &source {
                        if def.kind == Kind::Text
                            && !labels_given(rt)
                            && matches!(encoding.data_type, DataType::F32 | DataType::F64)
                        {
                            d.at(s.span(), format!("{here}: text signal `{sname}` from a float register: give `labels`, or read the register as an integer type"));
                        }
                    }
                    (sname.clone(), true, unit)
                }
            }
        }
        None => (
            format!("{device}.{name}"),
            false,
            rt.unit
                .as_ref()
                .map_or(String::new(), |u| u.get_ref().clone()),
        ),
    };

    let text = canonical && vocabulary::find(&signal).is_some_and(|d| d.kind == Kind::Text);
    Some(Tag {
        name,
        signal,
        canonical,
        text,
        unit,
        interval,
        scale,
        offset,
        deadband,
        labels,
        source,
        verified: rt.verified.unwrap_or(true),
    })
}

fn labels_given(rt: &RawTag) -> bool {
    rt.labels.is_some()
}

fn labels(d: &mut Diagnostics, rt: &RawTag, here: &str) -> Vec<(i64, String)> {
    let Some(l) = &rt.labels else {
        return Vec::new();
    };
    let map: &BTreeMap<String, String> = l.get_ref();
    let mut out = Vec::new();
    for (k, v) in map {
        match k.parse::<i64>() {
            Ok(code) => out.push((code, v.clone())),
            Err(_) => d.at(
                l.span(),
                format!("{here}: labels key `{k}` is not an integer code"),
            ),
        }
    }
    out
}

fn modbus_source(d: &mut Diagnostics, rt: &RawTag, here: &str) -> Option<TagSource> {
    let (Some(table), Some(address)) = (&rt.table, &rt.address) else {
        d.at(
            rt.name.span(),
            format!("{here} needs `table` (holding, input, coil, discrete) and `address`"),
        );
        return None;
    };
    let table_v = *table.get_ref();
    let bit_table = matches!(table_v, Table::Coil | Table::Discrete);
    let data_type = match (&rt.data_type, bit_table) {
        (None, true) => DataType::Bool,
        (None, false) => DataType::U16,
        (Some(t), true) if *t.get_ref() != DataType::Bool => {
            d.at(
                t.span(),
                format!("{here}: coils and discrete inputs are single bits; type must be bool"),
            );
            DataType::Bool
        }
        (Some(t), _) => *t.get_ref(),
    };
    if let Some(b) = &rt.bit {
        if bit_table || data_type != DataType::Bool {
            d.at(
                b.span(),
                format!("{here}: `bit` picks one bit of a register and needs type = \"bool\""),
            );
        } else if *b.get_ref() > 15 {
            d.at(b.span(), format!("{here}: bit must be 0..15"));
        }
    } else if !bit_table && data_type == DataType::Bool {
        d.at(
            rt.name.span(),
            format!("{here}: a bool in a register needs `bit`"),
        );
    }
    if !bit_table && u32::from(*address.get_ref()) + u32::from(data_type.registers()) > 65_536 {
        d.at(
            address.span(),
            format!("{here}: address + width runs past register 65535"),
        );
    }
    let wide = data_type.registers() > 1;
    if let Some(w) = &rt.word_order {
        if !wide {
            d.at(
                w.span(),
                format!("{here}: word_order only applies to 32- and 64-bit types"),
            );
        }
    }
    Some(TagSource::Modbus {
        table: table_v,
        address: *address.get_ref(),
        encoding: Encoding {
            data_type,
            byte_order: rt
                .byte_order
                .as_ref()
                .map_or_else(Default::default, |b| *b.get_ref()),
            word_order: rt
                .word_order
                .as_ref()
                .map_or_else(Default::default, |w| *w.get_ref()),
            bit: rt.bit.as_ref().map(|b| *b.get_ref()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(src: &str) -> Vec<String> {
        match crate::config::parse(Path::new("t.toml"), src) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(str::to_string).collect(),
        }
    }

    const GOOD: &str = r#"
[poll_groups]
fast = { interval_ms = 100 }

[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "127.0.0.1:5020"
group = "fast"

  [[device.tag]]
  name = "oil_flow"
  table = "input"
  address = 0
  scale = 0.1
  signal = "mql.oil_flow"

  [[device.tag]]
  name = "mist"
  table = "input"
  address = 7
  type = "f32"
  word_order = "little"
  signal = "mql.mist_concentration"
  unit = "mg/m3"
"#;

    #[cfg(unix)]
    #[test]
    fn a_configuration_with_a_secret_in_it_must_not_be_readable_by_everyone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cfg-mode-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agent.toml");
        let load = |text: &str, mode: u32| {
            std::fs::write(&file, text).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            crate::config::load(&file)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let secret = format!("{GOOD}\n[http]\ntoken = \"0123456789abcdef-secret\"\n");
        let e = load(&secret, 0o644).unwrap_err();
        let line = GOOD.lines().count() + 3;
        assert!(
            e.contains(&format!("agent.toml:{line}"))
                && e.contains("[http] token is a secret")
                && e.contains("644")
                && !e.contains("0123456789abcdef-secret"),
            "{e}"
        );
        assert_eq!(
            load(&secret, 0o640),
            Ok(()),
            "readable by the group is allowed"
        );
        assert_eq!(load(&secret, 0o600), Ok(()));
        let webhook =
            format!("{GOOD}\n[[notify.webhook]]\nurl = \"https://chat.example/send?key=abc\"\n");
        assert!(load(&webhook, 0o644)
            .unwrap_err()
            .contains("a webhook's url is a secret"));
        assert_eq!(load(GOOD, 0o644), Ok(()), "nothing secret: any mode");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn opcua_credentials_need_encryption_or_an_explicit_allowance_and_a_private_file() {
        let dir = std::env::temp_dir().join(format!("cred-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("cnc.pw");
        std::fs::write(&secret, "s3cret\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let cnc = |extra: &str| {
            format!(
                "{GOOD}\n[[device]]\nname = \"cnc\"\nprotocol = \"opcua\"\n\
                 endpoint = \"opc.tcp://10.0.0.5:4840/\"\nusername = \"agent\"\n{extra}\n\
                 [[device.tag]]\nname = \"s\"\nnode = \"ns=2;s=S\"\nsignal = \"spindle.speed\"\n"
            )
        };
        let file = format!("password_file = \"{}\"", secret.display());
        let e = problems(&cnc(&file)).join("\n");
        assert!(
            e.contains("unencrypted") && e.contains("allow_plaintext_credentials"),
            "{e}"
        );
        let both = problems(&cnc(&format!(
            "{file}\npassword = \"x\"\nallow_plaintext_credentials = true"
        )));
        assert!(both.join("\n").contains("give one"), "{both:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = problems(&cnc(&format!("{file}\nallow_plaintext_credentials = true")));
            assert!(e.join("\n").contains("chmod 600"), "{e:?}");
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let ok = crate::config::parse(
            Path::new("t.toml"),
            &cnc(&format!("{file}\nallow_plaintext_credentials = true")),
        )
        .unwrap();
        let Connection::OpcUa { user, .. } = &ok.devices[1].connection else {
            panic!("an OPC UA device")
        };
        assert_eq!(
            user.as_ref().unwrap().1,
            "s3cret",
            "the file's first line, trimmed"
        );
    }

    #[test]
    fn a_good_file_loads() {
        let c = crate::config::parse(Path::new("t.toml"), GOOD).unwrap();
        assert_eq!(c.devices.len(), 1);
        let t = &c.devices[0].tags[0];
        assert_eq!(
            (t.signal.as_str(), t.unit.as_str()),
            ("mql.oil_flow", "ml/h")
        );
        assert_eq!(t.interval, Duration::from_millis(100));
    }

    #[test]
    fn the_pages_language_is_checked_and_english_when_absent() {
        let c = crate::config::parse(Path::new("t.toml"), GOOD).unwrap();
        assert_eq!(c.agent.language, "en");
        let zh = format!("[agent]\nlanguage = \"zh-CN\"\n{GOOD}");
        let c = crate::config::parse(Path::new("t.toml"), &zh).unwrap();
        assert_eq!(c.agent.language, "zh-CN");
        let p = problems(&format!("[agent]\nlanguage = \"zh\"\n{GOOD}"));
        assert_eq!(
            p,
            ["t.toml:2:12: language `zh` is not one of: zh-CN, en"],
            "{p:?}"
        );
        // The example configuration opens the pages in Chinese.
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/agent.toml");
        assert_eq!(
            crate::config::load(&example).unwrap().agent.language,
            "zh-CN"
        );
    }

    #[test]
    fn unknown_field_names_line_and_column() {
        let src = GOOD.replace("scale = 0.1", "scael = 0.1");
        let p = problems(&src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("t.toml:15:3:"), "{p:?}");
        assert!(p[0].contains("unknown field `scael`"), "{p:?}");
    }

    #[test]
    fn wrong_type_names_line() {
        let src = GOOD.replace("address = 0", "address = \"zero\"");
        let p = problems(&src);
        assert!(p[0].starts_with("t.toml:14:13:"), "{p:?}");
    }

    #[test]
    fn every_semantic_problem_is_reported() {
        let src = GOOD
            .replace("signal = \"mql.oil_flow\"", "signal = \"mql.oil_flwo\"")
            .replace("group = \"fast\"", "group = \"fastest\"")
            .replace("unit = \"mg/m3\"", "unit = \"mg/l\"");
        let p = problems(&src);
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("unknown poll group `fastest`") && p[0].starts_with("t.toml:9:"));
        assert!(p[1].contains("did you mean `mql.oil_flow`"), "{p:?}");
        assert!(
            p[2].contains("unit `mg/l`") && p[2].starts_with("t.toml:25:"),
            "{p:?}"
        );
    }

    #[test]
    fn duplicate_signal_names_both_places() {
        let src = GOOD
            .replace("mql.mist_concentration", "mql.oil_flow")
            .replace("unit = \"mg/m3\"", "");
        let p = problems(&src);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("t.toml:19:") && p[0].contains("line 12"),
            "{p:?}"
        );
    }

    #[test]
    fn fields_of_another_protocol_are_rejected() {
        let src = GOOD.replace("group = \"fast\"", "group = \"fast\"\nbaud = 9600");
        let p = problems(&src);
        assert!(
            p[0].contains("`baud` does not apply to protocol modbus-tcp"),
            "{p:?}"
        );
    }

    #[test]
    fn a_bool_needs_a_bit() {
        let src = GOOD.replace(
            "scale = 0.1\n  signal = \"mql.oil_flow\"",
            "type = \"bool\"\n  signal = \"mql.aerosol_on\"",
        );
        let p = problems(&src);
        assert!(p[0].contains("needs `bit`"), "{p:?}");
    }
}
