//! OPC UA acquisition with async-opcua: one session per device, one subscription per poll
//! interval, and periodic reads for the nodes a server will not monitor.
//!
//! Reconnection is ours, not the client library's: when the connection is lost the whole
//! session is closed and rebuilt after a jittered backoff, and the subscriptions are created
//! anew. That is one path for "server restarted", "network blipped" and "agent started before
//! the server", and it ends with values flowing again without restarting the agent.
//!
//! A session is closed on the server (`disconnect`: CloseSession, its subscriptions deleted) on
//! every way out of it: an error, a lost connection, the agent stopping. A CNC allows few
//! sessions, and one dropped without closing it keeps its place (with its subscriptions) until
//! it times out, so a flapping link would soon leave no room for the agent, or for the
//! machine's own HMI. Where the link itself is cut, nothing reaches the server: the session
//! timeout the agent asks for is short (`session_timeout`), so the server frees it soon.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use futures::StreamExt;
use opcua::client::{
    Client, ClientBuilder, DataChangeCallback, IdentityToken, Password, Session, SessionPollResult,
};
use opcua::crypto::{CertificateStore, SecurityPolicy, X509};
use opcua::types::{
    DataValue, MessageSecurityMode, MonitoredItemCreateRequest, NodeId, ReadValueId,
    TimestampsToReturn, UserTokenPolicy, Variant,
};
use tokio::sync::{mpsc, watch};

use super::to_value;
use crate::backoff::Backoff;
use crate::codec::Raw;
use crate::config::opcua_node::parse_node_id;
use crate::config::{Connection, Device, Tag, TagSource};
use crate::state::{SignalId, State};
use crate::value::Value;

struct Item {
    signal: SignalId,
    tag: Tag,
    node: NodeId,
}

/// Reads one OPC UA device until `stop` turns true.
pub fn spawn(
    device_index: usize,
    device: &Device,
    first_signal: SignalId,
    state: &Arc<State>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (d, st) = (device.clone(), state.clone());
    super::supervise(
        format!("opcua {}", device.name),
        state.clone(),
        vec![device_index],
        move || {
            run(
                device_index,
                d.clone(),
                first_signal,
                st.clone(),
                stop.clone(),
            )
        },
    )
}

/// Resolves once `stop` is true (or its sender is gone: the agent is stopping).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn run(
    index: usize,
    device: Device,
    first_signal: SignalId,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::default();
    while !*stop.borrow() {
        let started = Instant::now();
        let err = match session(index, &device, first_signal, &state, &mut stop).await {
            Ok(()) => return,
            Err(e) => format!("{e:#}"),
        };
        state.device_lost(index, &err);
        // A session that lived a while resets the backoff; one that failed at once grows it.
        if started.elapsed() > Duration::from_secs(30) {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::debug!("opcua {}: {err}; reconnecting in {delay:?}", device.name);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// The agent's OPC UA client for a device. With `create_keys` (a security policy is used) a
/// missing client certificate is created in `pki_dir/own`; with None nothing is written. A
/// server is trusted only if its certificate is in `pki_dir/trusted`: an unknown one lands in
/// `pki_dir/rejected` for a person to check (`agent opcua-cert` says how), never trusted on
/// first sight, or anything answering on the CNC's address would get the password.
fn client(device: &Device, pki_dir: &std::path::Path, create_keys: bool) -> Result<Client> {
    ClientBuilder::new()
        .application_name("green-machining agent")
        .application_uri("urn:green-machining:agent")
        .product_uri("urn:green-machining:agent")
        .pki_dir(pki_dir)
        .create_sample_keypair(create_keys)
        .trust_server_certs(false)
        .session_retry_limit(0)
        .session_timeout(
            session_timeout(device)
                .as_millis()
                .min(u128::from(u32::MAX)) as u32,
        )
        .request_timeout(device.timeout)
        .keep_alive_interval(device.stale_after / 3)
        .client()
        .map_err(|e| anyhow!("OPC UA client configuration: {e:?}"))
}

/// The session timeout the agent asks for: how long the server keeps a session whose client
/// went silent. Short, so that a session the agent could not close (the link was cut, the
/// agent killed) soon frees its place on the CNC; well above the keep-alive interval
/// (`stale_after` / 3), so that a live session never times out.
fn session_timeout(device: &Device) -> Duration {
    (device.stale_after * 3).max(Duration::from_secs(30))
}

/// `agent opcua-cert` for one device: creates the client certificate if there is none, and
/// says what to trust on the CNC and which server certificates were refused.
pub fn certificate_report(device: &Device) -> Result<String> {
    let Connection::OpcUa {
        endpoint, pki_dir, ..
    } = &device.connection
    else {
        bail!("not an OPC UA device");
    };
    client(device, pki_dir, true)?;
    let store = CertificateStore::new(pki_dir);
    let own = store.read_own_cert().map_err(|e| {
        anyhow!(
            "reading the client certificate in {}: {e}",
            pki_dir.display()
        )
    })?;
    let describe = |c: &X509| {
        format!(
            "{}  thumbprint {}  valid until {}",
            c.subject_name(),
            c.thumbprint().as_hex_string(),
            c.not_after()
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|_| "?".into())
        )
    };
    let list = |dir: std::path::PathBuf| -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let p = e.path();
                let c = CertificateStore::read_cert(&p).ok()?;
                Some(format!("    {}\n      {}", p.display(), describe(&c)))
            })
            .collect();
        out.sort();
        out
    };
    let mut r = format!(
        "{} ({endpoint})\n  client certificate: {}\n    {}\n  \
         Trust it on the CNC: give the CNC's OPC UA server this file (its trusted client list).\n",
        device.name,
        store.own_certificate_path().display(),
        describe(&own),
    );
    let trusted = list(store.trusted_certs_dir());
    let rejected = list(store.rejected_certs_dir());
    r.push_str(&format!(
        "  trusted server certificates ({}):\n{}\n",
        store.trusted_certs_dir().display(),
        if trusted.is_empty() {
            "    none yet".to_string()
        } else {
            trusted.join("\n")
        }
    ));
    r.push_str(&format!(
        "  refused server certificates ({}):\n{}",
        store.rejected_certs_dir().display(),
        if rejected.is_empty() {
            "    none (connect once with a security policy: the CNC's certificate lands here)"
                .to_string()
        } else {
            format!(
                "{}\n  Compare the thumbprint with the one the CNC shows, then move the file into {} to trust it.",
                rejected.join("\n"),
                store.trusted_certs_dir().display()
            )
        }
    ));
    Ok(r)
}

/// A session being opened or up, with its event loop running beside it.
pub(crate) struct Open {
    pub session: Arc<Session>,
    /// What the event loop reports that matters: activation, publish responses, loss.
    pub events: mpsc::UnboundedReceiver<Result<SessionPollResult, opcua::types::StatusCode>>,
    /// Kept until the session is closed: closing needs the event loop.
    _driver: super::AbortOnDrop<()>,
}

impl Open {
    /// Waits until the session is activated.
    pub async fn up(&mut self, device: &Device) -> Result<()> {
        let Connection::OpcUa { endpoint, .. } = &device.connection else {
            bail!("not an OPC UA device");
        };
        loop {
            match tokio::time::timeout(device.timeout * 5, self.events.recv()).await {
                Err(_) => bail!("{endpoint}: session not established in time"),
                Ok(None) => bail!("{endpoint}: could not connect"),
                Ok(Some(Err(code))) => bail!("{endpoint}: {}", refused(code, device).await),
                Ok(Some(Ok(SessionPollResult::Reconnected(_)))) => return Ok(()),
                Ok(Some(Ok(SessionPollResult::ReconnectFailed(code)))) => {
                    bail!("{endpoint}: {}", refused(code, device).await)
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Closes the session on the server: CloseSession (deleting its subscriptions), then the
    /// channel. Bounded: a server that does not answer (the link is cut) is not waited for
    /// longer than a couple of request timeouts.
    pub async fn close(self, device: &Device) {
        match tokio::time::timeout(device.timeout * 2, self.session.disconnect()).await {
            Ok(Ok(())) => tracing::debug!("opcua {}: session closed", device.name),
            Ok(Err(e)) => tracing::debug!(
                "opcua {}: closing the session: {e} (the channel is closed anyway)",
                device.name
            ),
            Err(_) => tracing::debug!(
                "opcua {}: the server did not answer CloseSession",
                device.name
            ),
        }
    }
}

/// Connects to an OPC UA device (its security, user and trust list) and starts the session's
/// event loop; [`Open::up`] waits for the session to be activated. The one way the agent opens
/// a session, for acquisition and for `agent browse`.
pub(crate) async fn open(device: &Device) -> Result<Open> {
    let Connection::OpcUa {
        endpoint,
        security_policy,
        security_mode,
        user,
        pki_dir,
    } = &device.connection
    else {
        bail!("not an OPC UA device");
    };
    let policy = SecurityPolicy::from_str(security_policy)
        .map_err(|_| anyhow!("security policy {security_policy}"))?;
    let mode = match security_mode.as_str() {
        "Sign" => MessageSecurityMode::Sign,
        "SignAndEncrypt" => MessageSecurityMode::SignAndEncrypt,
        _ => MessageSecurityMode::None,
    };
    let secure = policy != SecurityPolicy::None;
    let mut client = client(device, pki_dir, secure)?;
    if secure {
        adopt_trusted(pki_dir);
    }
    if secure && CertificateStore::new(pki_dir).read_own_cert().is_err() {
        bail!(
            "no client certificate in {}/own (and none could be created there): run `agent \
             opcua-cert --config …`",
            pki_dir.display()
        );
    }
    let identity = match user {
        Some((u, p)) => IdentityToken::UserName(u.clone(), Password(p.clone())),
        None => IdentityToken::Anonymous,
    };
    let token_policy = if user.is_some() {
        UserTokenPolicy::default()
    } else {
        UserTokenPolicy::anonymous()
    };
    let connected = tokio::time::timeout(
        device.timeout * 5,
        client.connect_to_matching_endpoint(
            (endpoint.as_str(), policy.to_str(), mode, token_policy),
            identity,
        ),
    )
    .await
    .map_err(|_| anyhow!("{endpoint}: no answer"))?;
    let (session, event_loop) = match connected {
        Ok(c) => c,
        Err(e) => bail!("{endpoint}: {}", refused(e, device).await),
    };
    // Reconnecting is ours (above): the library must not bring a lost session back behind
    // our back; its event loop ends when the connection does.
    session.disable_reconnects();

    // The event loop runs beside us; what matters to us comes through the channel.
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let stream = event_loop.enter();
        tokio::pin!(stream);
        while let Some(ev) = stream.next().await {
            let stop = !matches!(ev, Ok(SessionPollResult::Transport(_)));
            if stop && tx.send(ev).is_err() {
                break;
            }
        }
        let _ = tx.send(Err(opcua::types::StatusCode::BadConnectionClosed));
    });
    Ok(Open {
        session,
        events: rx,
        _driver: super::AbortOnDrop(driver),
    })
}

/// async-opcua trusts a server certificate only under its own file name in `pki_dir/trusted`
/// (`CN [thumbprint].der`), and refuses one it finds in `pki_dir/rejected` before looking
/// there. A person puts the CNC's certificate into `trusted` under any name (exported from
/// the CNC, copied or renamed from `rejected`): each certificate found there is also written
/// under the library's name, and its copy in `rejected` goes.
fn adopt_trusted(pki_dir: &std::path::Path) {
    let store = CertificateStore::new(pki_dir);
    let trusted = store.trusted_certs_dir();
    for path in std::fs::read_dir(&trusted)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
    {
        let Ok(cert) = CertificateStore::read_cert(&path) else {
            continue;
        };
        let name = CertificateStore::cert_file_name(&cert);
        let canonical = trusted.join(&name);
        if !canonical.exists() {
            match cert.to_der() {
                Ok(der) => match std::fs::write(&canonical, der) {
                    Ok(()) => tracing::info!(
                        "opcua: {} trusted as {}",
                        path.display(),
                        canonical.display()
                    ),
                    Err(e) => tracing::warn!("opcua: writing {}: {e}", canonical.display()),
                },
                Err(e) => tracing::warn!("opcua: {}: {e:?}", path.display()),
            }
        }
        let _ = std::fs::remove_file(store.rejected_certs_dir().join(&name));
    }
}

/// A connection error as a person needs it. A refusal over certificates (async-opcua answers
/// BadCertificateUntrusted for a server certificate it does not trust, BadSecurityChecksFailed
/// while that certificate sits in `rejected`; a server that does not trust the agent answers
/// one of the two as well) says which side's trust list to look at: the server's certificate,
/// asked for again over unsecured GetEndpoints, is either in `pki_dir/trusted` (then the CNC
/// refused the agent) or not.
async fn refused(e: impl std::fmt::Display, device: &Device) -> String {
    let text = e.to_string();
    let Connection::OpcUa {
        endpoint, pki_dir, ..
    } = &device.connection
    else {
        return text;
    };
    if !(text.contains("BadCertificateUntrusted") || text.contains("BadSecurityChecksFailed")) {
        return text;
    }
    let dir = pki_dir.display();
    let server_cert = async {
        let c = client(device, pki_dir, false).ok()?;
        let endpoints = tokio::time::timeout(
            device.timeout,
            c.get_server_endpoints_from_url(endpoint.as_str()),
        )
        .await
        .ok()?
        .ok()?;
        endpoints
            .iter()
            .find_map(|e| X509::from_byte_string(&e.server_certificate).ok())
    };
    match server_cert.await {
        Some(cert) => {
            let name = CertificateStore::cert_file_name(&cert);
            if CertificateStore::new(pki_dir)
                .trusted_certs_dir()
                .join(&name)
                .exists()
            {
                format!(
                    "{text}: the CNC does not trust the agent's certificate: give it the \
                     certificate `agent opcua-cert` prints ({dir}/own/cert.der)"
                )
            } else {
                format!(
                    "{text}: the server's certificate is not trusted (not in {dir}/trusted); it \
                     is kept in {dir}/rejected as {name}: check its thumbprint with `agent \
                     opcua-cert` and move it to trusted"
                )
            }
        }
        None => format!(
            "{text}: a certificate is not trusted: either the server's (refused ones are in \
             {dir}/rejected: check and move to {dir}/trusted) or the agent's on the CNC (give \
             the CNC the certificate `agent opcua-cert` prints)"
        ),
    }
}

/// One session from connect to loss or stop: returns an error when the session is lost or
/// fails, `Ok` when asked to stop. The session is closed on the server either way.
async fn session(
    index: usize,
    device: &Device,
    first_signal: SignalId,
    state: &Arc<State>,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let mut open = open(device).await?;
    let result = serve(index, device, first_signal, state, &mut open, stop).await;
    open.close(device).await;
    result
}

/// A session's life once connecting has begun: waits for it to be up, subscribes, and hands
/// values to the state until the session is lost (an error) or `stop` (`Ok`). A request under
/// way when `stop` comes is finished first (each is bounded by the device's timeout), so that
/// the server answers the CloseSession that follows, rather than queueing it behind a request
/// the agent gave up on.
async fn serve(
    index: usize,
    device: &Device,
    first_signal: SignalId,
    state: &Arc<State>,
    open: &mut Open,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let endpoint = device.connection.endpoint();
    tokio::select! {
        up = open.up(device) => up?,
        _ = stopped(stop) => return Ok(()),
    }
    let Open {
        session,
        events: rx,
        ..
    } = open;

    let items = resolve(session, device, first_signal, state).await?;
    let (subscribed, mut polled) = subscribe(session, device, &items, state).await?;
    state.device_connected(index);
    tracing::info!(
        "opcua {}: connected to {endpoint}, {} nodes subscribed, {} read periodically",
        device.name,
        subscribed.len(),
        polled.len()
    );

    let mut read_tick = tokio::time::interval(
        polled
            .iter()
            .map(|i| i.tag.interval)
            .min()
            .unwrap_or(Duration::from_secs(3600)),
    );
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Ok(SessionPollResult::Subscription(opcua::client::SubscriptionActivity::Publish))) => {
                    // A publish response, data or keep-alive, proves unchanged values current.
                    let now = Instant::now();
                    for id in &subscribed {
                        state.confirm(*id, now);
                    }
                    state.record_poll(index, Duration::ZERO, None);
                }
                Some(Ok(SessionPollResult::ConnectionLost(code))) => bail!("{endpoint}: connection lost ({code})"),
                Some(Ok(SessionPollResult::Subscription(opcua::client::SubscriptionActivity::FatalFailure(code)))) => {
                    bail!("{endpoint}: subscription failed ({code})")
                }
                Some(Ok(_)) => {}
                Some(Err(code)) => bail!("{endpoint}: {code}"),
                None => bail!("{endpoint}: session ended"),
            },
            _ = read_tick.tick(), if !polled.is_empty() => {
                read_polled(session, index, device, &mut polled, state).await?;
            }
            _ = stopped(stop) => return Ok(()),
        }
    }
}

/// Resolves namespace URIs into this server's indexes.
async fn resolve(
    session: &Arc<Session>,
    device: &Device,
    first_signal: SignalId,
    state: &State,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for (i, tag) in device.tags.iter().enumerate() {
        let TagSource::OpcUa { node } = &tag.source else {
            continue;
        };
        let r = parse_node_id(node).map_err(|e| anyhow!("node {node}: {e}"))?;
        let mut id = r.node;
        if let Some(uri) = &r.namespace_uri {
            match session.get_namespace_index(uri).await {
                Ok(ns) => id.namespace = ns,
                Err(_) => {
                    state.fail(first_signal + i, &format!("server has no namespace {uri}"));
                    continue;
                }
            }
        }
        items.push(Item {
            signal: first_signal + i,
            tag: tag.clone(),
            node: id,
        });
    }
    Ok(items)
}

/// Creates one subscription per poll interval. Returns the subscribed signals and the items
/// the server refused to monitor, which are read periodically instead.
async fn subscribe<'a>(
    session: &Arc<Session>,
    device: &Device,
    items: &'a [Item],
    state: &Arc<State>,
) -> Result<(Vec<SignalId>, Vec<&'a Item>)> {
    let mut intervals: Vec<Duration> = items.iter().map(|i| i.tag.interval).collect();
    intervals.sort();
    intervals.dedup();
    let mut subscribed = Vec::new();
    let mut polled = Vec::new();
    for interval in intervals {
        let group: Vec<&Item> = items
            .iter()
            .filter(|i| i.tag.interval == interval)
            .collect();
        // Client handles are indexes into `group`, so the callback finds its tag directly.
        let handles: HashMap<u32, (SignalId, Tag)> = group
            .iter()
            .enumerate()
            .map(|(h, i)| (h as u32 + 1, (i.signal, i.tag.clone())))
            .collect();
        let st = state.clone();
        // Keep-alives must come well inside `stale_after`, or a quiet value would look stale.
        let keep_alive =
            ((device.stale_after.as_millis() / 3) / interval.as_millis().max(1)).max(1) as u32;
        let sub = session
            .create_subscription(
                interval,
                keep_alive * 3,
                keep_alive,
                0,
                0,
                true,
                DataChangeCallback::new(move |dv, item| {
                    if let Some((signal, tag)) = handles.get(&item.client_handle()) {
                        apply(&st, *signal, tag, &dv);
                    }
                }),
            )
            .await
            .map_err(|e| anyhow!("creating subscription: {e}"))?;
        let requests: Vec<MonitoredItemCreateRequest> = group
            .iter()
            .enumerate()
            .map(|(h, i)| {
                let mut r: MonitoredItemCreateRequest = i.node.clone().into();
                r.requested_parameters.client_handle = h as u32 + 1;
                r.requested_parameters.sampling_interval = interval.as_secs_f64() * 1e3;
                r.requested_parameters.queue_size = 1;
                r
            })
            .collect();
        let results = session
            .create_monitored_items(sub, TimestampsToReturn::Both, requests)
            .await
            .map_err(|e| anyhow!("creating monitored items: {e}"))?;
        for (item, res) in group.iter().zip(results) {
            if res.result.status_code.is_good() {
                subscribed.push(item.signal);
            } else {
                tracing::info!(
                    "opcua {}: {} not monitored ({}), reading it instead",
                    device.name,
                    item.node,
                    res.result.status_code
                );
                polled.push(*item);
            }
        }
    }
    Ok((subscribed, polled))
}

async fn read_polled(
    session: &Arc<Session>,
    index: usize,
    device: &Device,
    polled: &mut [&Item],
    state: &State,
) -> Result<()> {
    let ids: Vec<ReadValueId> = polled
        .iter()
        .map(|i| ReadValueId::from(i.node.clone()))
        .collect();
    let started = Instant::now();
    let values = tokio::time::timeout(
        device.timeout,
        session.read(&ids, TimestampsToReturn::Neither, 0.0),
    )
    .await
    .map_err(|_| anyhow!("read timed out"))?
    .map_err(|e| anyhow!("read: {e}"))?;
    state.record_poll(index, started.elapsed(), None);
    for (item, dv) in polled.iter().zip(values) {
        apply(state, item.signal, &item.tag, &dv);
    }
    Ok(())
}

/// Hands the state one node's value: a Bad or Uncertain status, a value of a type the agent
/// cannot use, or a number that is not finite (before or after scaling) makes the tag
/// unavailable with the reason.
fn apply(state: &State, signal: SignalId, tag: &Tag, dv: &DataValue) {
    match data_value(tag, dv) {
        Ok(v) => state.update(signal, v, Instant::now()),
        Err(e) => state.fail(signal, &e),
    }
}

/// What a node's data value means for its tag: a value, or why there is none.
fn data_value(tag: &Tag, dv: &DataValue) -> Result<Value, String> {
    if let Some(status) = dv.status {
        if !status.is_good() {
            return Err(status.to_string());
        }
    }
    match dv.value.as_ref().map(variant) {
        Some(Some(v)) => v_to_value(tag, v).map_err(str::to_string),
        Some(None) => Err("value of an unsupported type".to_string()),
        None => Err("no value".to_string()),
    }
}

enum Plain {
    Raw(Raw),
    Text(String),
}

fn variant(v: &Variant) -> Option<Plain> {
    let n = |x: f64| Some(Plain::Raw(Raw::Number(x)));
    match v {
        Variant::Boolean(b) => Some(Plain::Raw(Raw::Bool(*b))),
        Variant::SByte(x) => n(f64::from(*x)),
        Variant::Byte(x) => n(f64::from(*x)),
        Variant::Int16(x) => n(f64::from(*x)),
        Variant::UInt16(x) => n(f64::from(*x)),
        Variant::Int32(x) => n(f64::from(*x)),
        Variant::UInt32(x) => n(f64::from(*x)),
        Variant::Int64(x) => n(*x as f64),
        Variant::UInt64(x) => n(*x as f64),
        Variant::Float(x) => n(f64::from(*x)),
        Variant::Double(x) => n(*x),
        Variant::String(s) => Some(Plain::Text(s.as_ref().to_string())),
        Variant::LocalizedText(t) => Some(Plain::Text(t.text.as_ref().to_string())),
        _ => None,
    }
}

/// What a tag's value becomes from an OPC UA variant (`None`: a type the agent does not map;
/// `Err`: a number that is not finite); for the property tests and fuzz targets.
pub(crate) fn map_variant(tag: &Tag, v: &Variant) -> Option<Result<Value, &'static str>> {
    variant(v).map(|p| v_to_value(tag, p))
}

fn v_to_value(tag: &Tag, v: Plain) -> Result<Value, &'static str> {
    match v {
        Plain::Raw(raw) => to_value(tag, raw),
        Plain::Text(s) => Ok(Value::Text(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::NOT_FINITE;
    use opcua::types::StatusCode;
    use std::path::Path;

    fn tag(scale: f64) -> Tag {
        let src = format!(
            r#"
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:1/"
  [[device.tag]]
  name = "power"
  node = "ns=2;s=Spindle.Power"
  scale = {scale:e}
"#
        );
        let cfg = crate::config::parse(Path::new("t.toml"), &src).unwrap();
        cfg.devices[0].tags[0].clone()
    }

    fn dv(v: Variant, status: Option<StatusCode>) -> DataValue {
        DataValue {
            value: Some(v),
            status,
            ..DataValue::default()
        }
    }

    #[test]
    fn nan_inf_and_bad_statuses_are_no_values() {
        let t = tag(1.0);
        assert_eq!(
            data_value(&t, &dv(Variant::Double(2.5), None)),
            Ok(Value::Number(2.5))
        );
        for v in [
            Variant::Double(f64::NAN),
            Variant::Double(f64::INFINITY),
            Variant::Float(f32::NEG_INFINITY),
            Variant::Float(f32::NAN),
        ] {
            assert_eq!(
                data_value(&t, &dv(v.clone(), None)),
                Err(NOT_FINITE.to_string()),
                "{v:?}"
            );
        }
        // Finite as sent, infinite once scaled.
        assert_eq!(
            data_value(&tag(1e10), &dv(Variant::Double(1e300), None)),
            Err(NOT_FINITE.to_string())
        );
        let bad = data_value(
            &t,
            &dv(Variant::Double(1.0), Some(StatusCode::BadSensorFailure)),
        );
        assert_eq!(bad, Err("BadSensorFailure".to_string()));
        let uncertain = data_value(
            &t,
            &dv(
                Variant::Double(1.0),
                Some(StatusCode::UncertainLastUsableValue),
            ),
        );
        assert!(uncertain.is_err(), "{uncertain:?}");
        assert!(data_value(&t, &DataValue::default()).is_err(), "no value");
    }
}
