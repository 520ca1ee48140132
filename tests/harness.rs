//! Helpers shared by the end-to-end tests and the benchmark: free ports, waiting for a
//! condition, and a minimal HTTP/1.1 GET over a real socket.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` every 50 ms until it yields `Some`, or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A response: status, headers (lower-cased names), body.
pub struct Reply {
    pub code: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.1 request over a fresh socket; headers are (name, value) pairs.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Reply> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    // Read to the end, or to Content-Length (Chromium's DevTools server keeps the socket open).
    let mut buf = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout_at(end.into(), s.read(&mut chunk))
            .await
            .context("read timed out")??;
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || complete(&buf) {
            break;
        }
    }
    let text = String::from_utf8(buf)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let code = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Ok(Reply { code, head, body })
}

/// A response with a Content-Length that has all its body.
fn complete(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

/// `GET path` on `host:port`; the status code and body.
pub async fn get(addr: &str, path: &str) -> Result<(u16, String)> {
    let r = request(addr, "GET", path, &[], "").await?;
    Ok((r.code, r.body))
}

/// Decodes a chunked HTTP/1.1 body.
pub fn dechunk(mut s: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").context("chunk size")?;
        let n = usize::from_str_radix(size.trim(), 16)?;
        if n == 0 {
            return Ok(out);
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

/// `GET path` and parse the JSON body; an error unless the status is 200.
pub async fn get_json(addr: &str, path: &str) -> Result<serde_json::Value> {
    let (code, body) = get(addr, path).await?;
    if code != 200 {
        bail!("GET {path}: {code} {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// A scenario from `configs/scenarios/` on free loopback ports, at `time_scale`.
pub fn scenario(file: &str, time_scale: f64) -> simulator::scenario::ScenarioConfig {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sc = simulator::scenario::ScenarioConfig::from_toml_str(&text).unwrap();
    sc.opcua.listen = "127.0.0.1:0".parse().unwrap();
    sc.modbus.listen = "127.0.0.1:0".parse().unwrap();
    sc.time_scale = time_scale;
    sc
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "e2e-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[path = "support/mosquitto.rs"]
pub mod mosquitto;

pub mod devices {
    //! Small Modbus TCP devices for tests and the benchmark, on real loopback sockets.

    use std::future;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_modbus::prelude::*;
    use tokio_modbus::server::tcp::{accept_tcp_connection, Server};

    /// Time cut into equal periods; the counter device's registers change at each boundary.
    pub struct Clock {
        pub start: Instant,
        pub change: Duration,
    }

    impl Clock {
        pub fn period(&self, at: Instant) -> u64 {
            (at.duration_since(self.start).as_nanos() / self.change.as_nanos()) as u64
        }
        pub fn began(&self, k: u64) -> Instant {
            self.start + self.change * k as u32
        }
    }

    /// Holding register `r` holds `(k + r) mod 65536` during period `k`.
    #[derive(Clone)]
    pub struct Counter {
        pub clock: Arc<Clock>,
        pub tags: u16,
    }

    impl tokio_modbus::server::Service for Counter {
        type Request = Request<'static>;
        type Response = Response;
        type Exception = ExceptionCode;
        type Future = future::Ready<Result<Response, ExceptionCode>>;

        fn call(&self, req: Self::Request) -> Self::Future {
            future::ready(match req {
                Request::ReadHoldingRegisters(addr, cnt)
                    if addr.saturating_add(cnt) <= self.tags =>
                {
                    let k = self.clock.period(Instant::now());
                    Ok(Response::ReadHoldingRegisters(
                        (addr..addr + cnt)
                            .map(|r| (k as u16).wrapping_add(r))
                            .collect(),
                    ))
                }
                Request::ReadHoldingRegisters(..) => Err(ExceptionCode::IllegalDataAddress),
                _ => Err(ExceptionCode::IllegalFunction),
            })
        }
    }

    /// Serves a counter device on a free loopback port.
    pub async fn counter(clock: Arc<Clock>, tags: u16) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dev = Counter { clock, tags };
        tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, peer| {
                let dev = dev.clone();
                async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(dev.clone()))) }
            };
            let _ = server
                .serve(&on_connected, |e| eprintln!("counter device: {e}"))
                .await;
        });
        addr
    }

    /// How the faulty device answers a read of holding registers at an address.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum Answer {
        /// Correct: every register holds its address + 1000.
        Correct,
        /// A well-framed answer with fewer registers than asked for.
        Short,
        /// Bytes that are not a Modbus answer at all.
        Garbage,
    }

    /// A device written at the byte level, to answer what a well-behaved server library never
    /// would. `answer(address)` decides per request.
    pub async fn faulty(answer: fn(u16) -> Answer) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut req = [0u8; 12];
                    while sock.read_exact(&mut req).await.is_ok() {
                        // MBAP: transaction(2) protocol(2) length(2) unit(1); PDU: fc addr(2) count(2)
                        let (tid, unit, fc) = ([req[0], req[1]], req[6], req[7]);
                        let start = u16::from_be_bytes([req[8], req[9]]);
                        let count = u16::from_be_bytes([req[10], req[11]]);
                        let frame = |pdu: Vec<u8>| {
                            let mut f = vec![tid[0], tid[1], 0, 0];
                            f.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
                            f.push(unit);
                            f.extend(pdu);
                            f
                        };
                        let registers = |n: u16| {
                            let mut pdu = vec![fc, (2 * n) as u8];
                            for r in start..start + n {
                                pdu.extend_from_slice(&(r + 1000).to_be_bytes());
                            }
                            pdu
                        };
                        let out = match answer(start) {
                            Answer::Correct => frame(registers(count)),
                            Answer::Short => frame(registers(count.saturating_sub(1))),
                            Answer::Garbage => {
                                vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0xff, 0xff, 0xff]
                            }
                        };
                        if sock.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }
}
