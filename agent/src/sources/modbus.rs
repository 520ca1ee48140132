//! Modbus TCP and RTU polling with tokio-modbus.
//!
//! Devices that share a connection (one TCP address, or one serial port: several unit ids on a
//! gateway or an RS-485 line) form a *link* and are polled in turn over it, as the bus demands.
//! Devices on different links never wait for each other. Only read functions are ever called:
//! the agent does not write to machines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use tokio_modbus::client::{Client, Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;

use super::modbus_plan::{plan, PollGroup, Read};
use super::to_value;
use crate::backoff::Backoff;
use crate::codec;
use crate::config::{Config, Connection, Parity, Table, Tag, TagSource};
use crate::state::State;

/// Where a link connects.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Endpoint {
    Tcp(String),
    Rtu {
        port: String,
        baud: u32,
        parity: Parity,
        data_bits: u8,
        stop_bits: u8,
    },
}

struct LinkDevice {
    index: usize,
    unit_id: u8,
    timeout: Duration,
    tags: Vec<Tag>,
    groups: Vec<(PollGroup, Instant)>,
    /// After a timeout the device is retried later, so a dead unit on a shared line does not
    /// eat every cycle of the others.
    retry_at: Instant,
    backoff: Backoff,
}

/// Spawns one task per Modbus link.
pub fn spawn(config: &Config, state: &Arc<State>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut links: Vec<(Endpoint, Vec<LinkDevice>)> = Vec::new();
    let mut first_signal = 0;
    for (index, d) in config.devices.iter().enumerate() {
        let start = first_signal;
        first_signal += d.tags.len();
        let (endpoint, unit_id, max_gap) = match &d.connection {
            Connection::ModbusTcp {
                address,
                unit_id,
                max_gap,
            } => (Endpoint::Tcp(address.clone()), *unit_id, *max_gap),
            Connection::ModbusRtu {
                port,
                baud,
                parity,
                data_bits,
                stop_bits,
                unit_id,
                max_gap,
            } => (
                Endpoint::Rtu {
                    port: port.clone(),
                    baud: *baud,
                    parity: *parity,
                    data_bits: *data_bits,
                    stop_bits: *stop_bits,
                },
                *unit_id,
                *max_gap,
            ),
            Connection::OpcUa { .. } => continue,
        };
        let now = Instant::now();
        let device = LinkDevice {
            index,
            unit_id,
            timeout: d.timeout,
            tags: d.tags.clone(),
            groups: plan(&d.tags, start, max_gap)
                .into_iter()
                .map(|g| (g, now))
                .collect(),
            retry_at: now,
            backoff: Backoff::default(),
        };
        match links.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, devices)) => devices.push(device),
            None => links.push((endpoint, vec![device])),
        }
    }
    links
        .into_iter()
        .map(|(endpoint, devices)| {
            let indexes = devices.iter().map(|d| d.index).collect();
            let st = state.clone();
            let devices = Arc::new(devices);
            super::supervise(
                format!("modbus {}", describe(&endpoint)),
                state.clone(),
                indexes,
                move || run_link(endpoint.clone(), fresh(&devices), st.clone()),
            )
        })
        .collect()
}

/// The link's devices as at start, with their schedules reset.
fn fresh(devices: &[LinkDevice]) -> Vec<LinkDevice> {
    let now = Instant::now();
    devices
        .iter()
        .map(|d| LinkDevice {
            index: d.index,
            unit_id: d.unit_id,
            timeout: d.timeout,
            tags: d.tags.clone(),
            groups: d.groups.iter().map(|(g, _)| (g.clone(), now)).collect(),
            retry_at: now,
            backoff: Backoff::default(),
        })
        .collect()
}

pub(crate) async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Context> {
    match endpoint {
        Endpoint::Tcp(address) => {
            let addr = tokio::net::lookup_host(address)
                .await
                .with_context(|| format!("resolving {address}"))?
                .next()
                .ok_or_else(|| anyhow!("{address} resolves to no address"))?;
            let ctx = tokio::time::timeout(timeout, tokio_modbus::client::tcp::connect(addr))
                .await
                .map_err(|_| anyhow!("connecting to {address}: timed out"))?
                .with_context(|| format!("connecting to {address}"))?;
            Ok(ctx)
        }
        Endpoint::Rtu {
            port,
            baud,
            parity,
            data_bits,
            stop_bits,
        } => {
            let builder = tokio_serial::new(port, *baud)
                .parity(match parity {
                    Parity::None => tokio_serial::Parity::None,
                    Parity::Even => tokio_serial::Parity::Even,
                    Parity::Odd => tokio_serial::Parity::Odd,
                })
                .data_bits(match data_bits {
                    5 => tokio_serial::DataBits::Five,
                    6 => tokio_serial::DataBits::Six,
                    7 => tokio_serial::DataBits::Seven,
                    _ => tokio_serial::DataBits::Eight,
                })
                .stop_bits(if *stop_bits == 2 {
                    tokio_serial::StopBits::Two
                } else {
                    tokio_serial::StopBits::One
                });
            let serial = tokio_serial::SerialStream::open(&builder)
                .with_context(|| format!("opening {port}"))?;
            Ok(tokio_modbus::client::rtu::attach(serial))
        }
    }
}

fn describe(e: &Endpoint) -> String {
    match e {
        Endpoint::Tcp(a) => a.clone(),
        Endpoint::Rtu { port, .. } => port.clone(),
    }
}

async fn run_link(endpoint: Endpoint, mut devices: Vec<LinkDevice>, state: Arc<State>) {
    let mut backoff = Backoff::default();
    let connect_timeout = devices
        .iter()
        .map(|d| d.timeout)
        .max()
        .unwrap_or(Duration::from_secs(1));
    loop {
        let mut ctx = match connect(&endpoint, connect_timeout).await {
            Ok(ctx) => {
                tracing::info!("modbus: connected to {}", describe(&endpoint));
                backoff.reset();
                ctx
            }
            Err(e) => {
                let msg = format!("{e:#}");
                for d in &devices {
                    state.device_lost(d.index, &msg);
                }
                let delay = backoff.next_delay();
                tracing::debug!("modbus: {msg}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        let broken = poll_until_broken(&mut ctx, &mut devices, &state).await;
        tracing::warn!(
            "modbus: link {} reset: {}",
            describe(&endpoint),
            broken.reason
        );
        if broken.whole_link {
            for d in &devices {
                state.device_lost(d.index, &broken.reason);
            }
        }
        let _ = ctx.disconnect().await;
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Why one request failed.
enum Failure {
    /// The device answered with an exception: the request was wrong, the link is fine.
    Exception(String),
    /// No answer in time.
    Timeout,
    /// The connection broke, or the answer was garbage: reconnect.
    Transport(String),
}

/// Why a connection is dropped and made again.
struct Broken {
    reason: String,
    /// The connection itself failed (every device on it is unavailable), rather than one
    /// device not answering in time (only that one is).
    whole_link: bool,
}

/// Polls every due group until the link must be reset; returns why.
async fn poll_until_broken(ctx: &mut Context, devices: &mut [LinkDevice], state: &State) -> Broken {
    loop {
        let next = devices
            .iter()
            .flat_map(|d| d.groups.iter().map(move |(_, due)| (*due).max(d.retry_at)))
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        tokio::time::sleep_until(next.into()).await;
        for d in devices.iter_mut() {
            let now = Instant::now();
            if now < d.retry_at {
                continue;
            }
            ctx.set_slave(Slave(d.unit_id));
            for gi in 0..d.groups.len() {
                if d.groups[gi].1 > now {
                    continue;
                }
                let interval = d.groups[gi].0.interval;
                // Missed cycles are skipped, not caught up: a burst of stale reads helps nobody.
                let due = d.groups[gi].1 + interval;
                d.groups[gi].1 = if due < now { now + interval } else { due };
                let reads = d.groups[gi].0.reads.clone();
                for read in &reads {
                    match execute(ctx, d, read, state).await {
                        Ok(()) => {}
                        Err(Failure::Exception(e)) => isolate(ctx, d, read, state, &e).await,
                        Err(Failure::Timeout) => {
                            let msg =
                                format!("no answer from unit {} within {:?}", d.unit_id, d.timeout);
                            state.device_lost(d.index, &msg);
                            d.retry_at = Instant::now() + d.backoff.next_delay();
                            // A late answer could be taken for the next request's: start afresh.
                            return Broken {
                                reason: msg,
                                whole_link: false,
                            };
                        }
                        Err(Failure::Transport(e)) => {
                            return Broken {
                                reason: e,
                                whole_link: true,
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reads one planned request and hands every tag its value.
async fn execute(
    ctx: &mut Context,
    d: &mut LinkDevice,
    read: &Read,
    state: &State,
) -> Result<(), Failure> {
    let started = Instant::now();
    let result =
        tokio::time::timeout(d.timeout, request(ctx, read.table, read.start, read.count)).await;
    let latency = started.elapsed();
    let words = match result {
        Err(_) => {
            state.record_poll(d.index, latency, Some("timeout"));
            return Err(Failure::Timeout);
        }
        Ok(Err(e)) => {
            state.record_poll(d.index, latency, Some(&e.to_string()));
            return Err(Failure::Transport(format!("unit {}: {e}", d.unit_id)));
        }
        Ok(Ok(Err(code))) => {
            let msg = format!(
                "unit {} answered exception {code:?} to {} {}..{}",
                d.unit_id,
                table_name(read.table),
                read.start,
                u32::from(read.start) + u32::from(read.count) - 1
            );
            state.record_poll(d.index, latency, Some(&msg));
            return Err(Failure::Exception(msg));
        }
        Ok(Ok(Ok(words))) => words,
    };
    state.record_poll(d.index, latency, None);
    state.device_connected(d.index);
    d.backoff.reset();
    let now = Instant::now();
    for &(signal, ti) in &read.tags {
        let tag = &d.tags[ti];
        let TagSource::Modbus {
            address, encoding, ..
        } = tag.source
        else {
            continue;
        };
        let offset = usize::from(address - read.start);
        let slice = words.get(offset..).unwrap_or(&[]);
        match codec::decode(slice, encoding).map(|raw| to_value(tag, raw)) {
            Ok(Ok(v)) => state.update(signal, v, now),
            Ok(Err(e)) => state.fail(signal, e),
            Err(e) => state.fail(
                signal,
                &format!(
                    "{} {} of unit {}: {e}",
                    table_name(read.table),
                    address,
                    d.unit_id
                ),
            ),
        }
    }
    Ok(())
}

/// A merged request failed with an exception: read each tag alone so that one bad address
/// costs only its own tag.
async fn isolate(ctx: &mut Context, d: &mut LinkDevice, read: &Read, state: &State, error: &str) {
    if read.tags.len() == 1 {
        state.fail(read.tags[0].0, error);
        return;
    }
    for &(signal, ti) in &read.tags {
        let TagSource::Modbus { address, .. } = d.tags[ti].source else {
            continue;
        };
        let single = Read {
            table: read.table,
            start: address,
            count: d.tags[ti].width(),
            tags: vec![(signal, ti)],
        };
        match execute(ctx, d, &single, state).await {
            Ok(()) => {}
            Err(Failure::Exception(e)) => state.fail(signal, &e),
            // Transport trouble shows up again on the next cycle and is handled there.
            Err(_) => state.fail(signal, error),
        }
    }
}

/// Registers as words; coils and discrete inputs as 0/1 words, so decoding is uniform. Read
/// functions only: this is the one place the agent talks Modbus to a device.
pub(crate) async fn request(
    ctx: &mut Context,
    table: Table,
    start: u16,
    count: u16,
) -> tokio_modbus::Result<Vec<u16>> {
    let bits = |r: tokio_modbus::Result<Vec<bool>>| {
        r.map(|r| r.map(|b| b.into_iter().map(u16::from).collect()))
    };
    match table {
        Table::Holding => ctx.read_holding_registers(start, count).await,
        Table::Input => ctx.read_input_registers(start, count).await,
        Table::Coil => bits(ctx.read_coils(start, count).await),
        Table::Discrete => bits(ctx.read_discrete_inputs(start, count).await),
    }
}

pub(crate) fn table_name(t: Table) -> &'static str {
    match t {
        Table::Holding => "holding register",
        Table::Input => "input register",
        Table::Coil => "coil",
        Table::Discrete => "discrete input",
    }
}
