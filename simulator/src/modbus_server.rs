//! Modbus TCP and RTU servers for unit 1 (MQL unit) and unit 2 (spindle condition sensor).
//!
//! Both units answer on the same listener / line, dispatched on the unit (slave) id. Every
//! request is answered from one published snapshot, so a multi-register value is never torn.
//! The simulator is read-only to the outside: writes get exception 01 (illegal function).

use std::future::{ready, Ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::Service;

use crate::registers::{RegisterImage, Table, UNIT_MQL, UNIT_SPINDLE_SENSOR};
use crate::Shared;

/// Modbus limits per request (Modbus application protocol: 125 registers, 2000 bits).
const MAX_REGISTERS: u16 = 125;
const MAX_BITS: u16 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Rtu,
}

/// Answer one request from a register image. `Ok(None)` = stay silent (RTU, other unit).
pub fn answer(
    image: &RegisterImage,
    transport: Transport,
    req: &SlaveRequest<'_>,
) -> Result<Option<Response>, ExceptionCode> {
    let unit = req.slave;
    if unit != UNIT_MQL && unit != UNIT_SPINDLE_SENSOR {
        // On a serial line another device may own that address: say nothing. A TCP gateway
        // answers that the target device did not respond.
        return match transport {
            Transport::Rtu => Ok(None),
            Transport::Tcp => Err(ExceptionCode::GatewayTargetDevice),
        };
    }
    let regs = |table: Table, addr: u16, n: u16| -> Result<Vec<u16>, ExceptionCode> {
        if n == 0 || n > MAX_REGISTERS {
            return Err(ExceptionCode::IllegalDataValue);
        }
        image
            .read_registers(unit, table, addr, n)
            .map(<[u16]>::to_vec)
            .ok_or(ExceptionCode::IllegalDataAddress)
    };
    let resp = match &req.request {
        Request::ReadInputRegisters(a, n) => {
            Response::ReadInputRegisters(regs(Table::InputRegisters, *a, *n)?)
        }
        Request::ReadHoldingRegisters(a, n) => {
            Response::ReadHoldingRegisters(regs(Table::HoldingRegisters, *a, *n)?)
        }
        Request::ReadDiscreteInputs(a, n) => {
            if *n == 0 || *n > MAX_BITS {
                return Err(ExceptionCode::IllegalDataValue);
            }
            let bits = image
                .read_bits(unit, *a, *n)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            Response::ReadDiscreteInputs(bits.to_vec())
        }
        Request::ReadCoils(_, n) => {
            if *n == 0 || *n > MAX_BITS {
                return Err(ExceptionCode::IllegalDataValue);
            }
            // There are no coils in the map.
            return Err(ExceptionCode::IllegalDataAddress);
        }
        // Writes, read/write, mask write, diagnostics, custom functions: not supported.
        _ => return Err(ExceptionCode::IllegalFunction),
    };
    Ok(Some(resp))
}

#[derive(Clone)]
struct ModbusService {
    shared: Arc<Shared>,
    transport: Transport,
}

impl Service for ModbusService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let snap = self.shared.snapshot();
        let r = answer(&snap.registers, self.transport, &req);
        if let Err(e) = &r {
            tracing::trace!(
                unit = req.slave,
                "modbus exception {e:?} for {:?}",
                req.request
            );
        }
        ready(r)
    }
}

/// A TCP connection that tells `TcpServer::stop` when it is closed: it holds a sender of a
/// channel nobody sends on; when every connection is dropped, the receiver sees the end.
struct Tracked {
    stream: TcpStream,
    _open: mpsc::Sender<()>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A running Modbus TCP listener and its connections.
pub(crate) struct TcpServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    /// Ends (recv() = None) when the listener task and every connection are gone.
    closed: mpsc::Receiver<()>,
}

impl TcpServer {
    /// Binds `addr` (port 0 = any free port) and serves; returns the bound address.
    pub(crate) async fn start(
        addr: SocketAddr,
        shared: Arc<Shared>,
    ) -> io::Result<(SocketAddr, TcpServer)> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (open, closed) = mpsc::channel::<()>(1);
        let task = tokio::spawn(async move {
            let server = tokio_modbus::server::tcp::Server::new(listener);
            let on_connected = move |stream, peer: SocketAddr| {
                tracing::debug!("modbus tcp connection from {peer}");
                let svc = ModbusService {
                    shared: shared.clone(),
                    transport: Transport::Tcp,
                };
                let tracked = Tracked {
                    stream,
                    _open: open.clone(),
                };
                async move { Ok(Some((svc, tracked))) }
            };
            let on_error = |e: io::Error| tracing::debug!("modbus tcp connection ended: {e}");
            let abort = async move {
                let _ = stop_rx.await;
            };
            // Dropping the serve future (on abort) cancels every connection task too, so
            // stop closes open connections.
            if let Err(e) = server.serve_until(&on_connected, on_error, abort).await {
                tracing::warn!("modbus tcp server stopped: {e}");
            }
        });
        Ok((bound, TcpServer { stop, task, closed }))
    }

    /// Stops listening and closes all connections; when this returns the port is free and
    /// every client socket is closed.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        // Connection tasks were cancelled with the listener; wait until they dropped their
        // sockets.
        if tokio::time::timeout(Duration::from_secs(5), self.closed.recv())
            .await
            .is_err()
        {
            tracing::warn!("modbus tcp connections still open 5 s after stop");
        }
    }
}

/// Modbus RTU on a serial device (a real port or one end of a `PtyPair`).
pub(crate) struct RtuServer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RtuServer {
    /// Opens `path` and serves until stopped; reopens the port after an error.
    pub(crate) fn start(path: String, baud: u32, shared: Arc<Shared>) -> RtuServer {
        let (stop, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let serial = match tokio_serial::SerialStream::open(&tokio_serial::new(&path, baud))
                {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("modbus rtu: cannot open {path}: {e}; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = &mut stop_rx => return,
                        }
                    }
                };
                let svc = ModbusService {
                    shared: shared.clone(),
                    transport: Transport::Rtu,
                };
                let server = tokio_modbus::server::rtu::Server::new(serial);
                tokio::select! {
                    r = server.serve_forever(svc) => {
                        // A garbled frame ends the codec's stream: reopen and carry on.
                        if let Err(e) = r {
                            tracing::debug!("modbus rtu on {path}: {e}; reopening");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                            _ = &mut stop_rx => return,
                        }
                    }
                    _ = &mut stop_rx => return,
                }
            }
        });
        RtuServer { stop, task }
    }

    /// Stops serving and closes the port.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::Machine;
    use crate::scenario::ScenarioConfig;
    use crate::snapshot::Snapshot;

    fn image() -> RegisterImage {
        let m = Machine::new(&ScenarioConfig::default());
        Snapshot::from_observation(&m.observe(), 0).registers
    }

    fn req(slave: u8, request: Request<'static>) -> SlaveRequest<'static> {
        SlaveRequest { slave, request }
    }

    #[test]
    fn dispatch_on_unit_and_function() {
        let img = image();
        let ok = answer(
            &img,
            Transport::Tcp,
            &req(1, Request::ReadInputRegisters(0, 20)),
        );
        assert_eq!(
            ok,
            Ok(Some(Response::ReadInputRegisters(img.mql_input.to_vec())))
        );
        let ok = answer(
            &img,
            Transport::Tcp,
            &req(2, Request::ReadInputRegisters(2, 2)),
        );
        assert_eq!(
            ok,
            Ok(Some(Response::ReadInputRegisters(
                img.sensor_input[2..4].to_vec()
            )))
        );
        let hr = answer(
            &img,
            Transport::Rtu,
            &req(1, Request::ReadHoldingRegisters(100, 2)),
        );
        assert_eq!(hr, Ok(Some(Response::ReadHoldingRegisters(vec![300, 550]))));
        let di = answer(
            &img,
            Transport::Rtu,
            &req(1, Request::ReadDiscreteInputs(0, 4)),
        );
        assert!(matches!(di, Ok(Some(Response::ReadDiscreteInputs(ref b))) if b.len() == 4));
    }

    #[test]
    fn exceptions() {
        let img = image();
        let a = |t, r| answer(&img, t, &r);
        use ExceptionCode::*;
        use Transport::*;
        assert_eq!(
            a(Tcp, req(1, Request::ReadInputRegisters(19, 2))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(2, Request::ReadInputRegisters(4, 1))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(2, Request::ReadHoldingRegisters(100, 1))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(1, Request::ReadHoldingRegisters(102, 1))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(1, Request::ReadCoils(0, 1))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(1, Request::ReadDiscreteInputs(4, 1))),
            Err(IllegalDataAddress)
        );
        assert_eq!(
            a(Tcp, req(1, Request::ReadInputRegisters(0, 0))),
            Err(IllegalDataValue)
        );
        assert_eq!(
            a(Tcp, req(1, Request::WriteSingleRegister(100, 5))),
            Err(IllegalFunction)
        );
        assert_eq!(
            a(
                Rtu,
                req(1, Request::WriteMultipleRegisters(100, vec![1, 2].into()))
            ),
            Err(IllegalFunction)
        );
        assert_eq!(
            a(Tcp, req(1, Request::WriteSingleCoil(0, true))),
            Err(IllegalFunction)
        );
        assert_eq!(
            a(Tcp, req(7, Request::ReadInputRegisters(0, 1))),
            Err(GatewayTargetDevice)
        );
        assert_eq!(a(Rtu, req(7, Request::ReadInputRegisters(0, 1))), Ok(None));
    }
}
