//! A linked pair of pseudo-terminals, like `socat pty,raw,echo=0 pty,raw,echo=0`: bytes written
//! to one slave tty come out of the other. The simulator serves Modbus RTU on one end; the
//! agent opens the other as if it were a USB-RS485 adapter.
//!
//! Two ptys are opened; a task copies bytes between their master sides in both directions.
//! We keep each slave side open ourselves, so a master never sees a hang-up (EIO) while the
//! simulator or the agent closes and reopens its end, and the raw line settings persist.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

/// Copy buffer per direction; RTU frames are at most 256 bytes.
const BUF_LEN: usize = 512;

pub struct PtyPair {
    simulator_path: PathBuf,
    agent_path: PathBuf,
    bridge: JoinHandle<()>,
    _slaves: [OwnedFd; 2],
}

impl PtyPair {
    /// Opens the two ptys and starts the bridge task (needs a tokio runtime).
    pub fn new() -> io::Result<PtyPair> {
        let (m1, s1, p1) = open_pty()?;
        let (m2, s2, p2) = open_pty()?;
        let a = Arc::new(register(m1)?);
        let b = Arc::new(register(m2)?);
        let bridge = tokio::spawn(async move {
            let (r1, r2) = tokio::join!(pump(a.clone(), b.clone()), pump(b, a));
            for r in [r1, r2] {
                if let Err(e) = r {
                    tracing::warn!("pty bridge stopped: {e}");
                }
            }
        });
        Ok(PtyPair {
            simulator_path: p1,
            agent_path: p2,
            bridge,
            _slaves: [s1, s2],
        })
    }

    /// The tty the simulator serves RTU on.
    pub fn simulator_path(&self) -> &Path {
        &self.simulator_path
    }

    /// The tty the agent opens (e.g. with `tokio_serial::SerialStream::open`).
    pub fn agent_path(&self) -> &Path {
        &self.agent_path
    }
}

impl Drop for PtyPair {
    fn drop(&mut self) {
        self.bridge.abort();
    }
}

/// Registers an owned master fd with the tokio reactor.
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and is never replaced until the
    // AsyncFd is dropped.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}

/// A new pty: (non-blocking master, slave held open in raw mode, slave path).
fn open_pty() -> io::Result<(OwnedFd, OwnedFd, PathBuf)> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let path = PathBuf::from(ptsname_r(&master)?);
    let slave = nix::fcntl::open(
        &path,
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // Raw: no echo, no line editing, no CR/LF translation; binary Modbus frames pass as-is.
    let mut t = tcgetattr(&slave)?;
    cfmakeraw(&mut t);
    tcsetattr(&slave, SetArg::TCSANOW, &t)?;
    let master: OwnedFd = master.into();
    let flags = OFlag::from_bits_truncate(fcntl(&master, FcntlArg::F_GETFL)?);
    fcntl(&master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    // FD_CLOEXEC on the master too, so a spawned child does not inherit it.
    fcntl(&master, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    Ok((master, slave, path))
}

/// Copy bytes from one master to the other until an unrecoverable error. A full output queue
/// (nobody reading the other end) blocks this direction: backpressure, no unbounded buffer.
async fn pump(from: Arc<AsyncFd<OwnedFd>>, to: Arc<AsyncFd<OwnedFd>>) -> io::Result<()> {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let mut guard = from.readable().await?;
        let n = match guard.try_io(|fd| Ok(nix::unistd::read(fd.get_ref(), &mut buf)?)) {
            Err(_would_block) => continue,
            Ok(Ok(n)) => n,
            // EIO: no slave open right now (cannot happen while we hold one, but be calm).
            Ok(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => {
                drop(guard);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Err(e)) => return Err(e),
        };
        if n == 0 {
            continue;
        }
        let mut off = 0;
        while off < n {
            let mut guard = to.writable().await?;
            match guard.try_io(|fd| Ok(nix::unistd::write(fd.get_ref(), &buf[off..n])?)) {
                Err(_would_block) => continue,
                Ok(Ok(w)) => off += w,
                Ok(Err(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_cross_both_ways() {
        let pair = PtyPair::new().unwrap();
        assert_ne!(pair.simulator_path(), pair.agent_path());
        let mut sim = tokio_serial::SerialStream::open(&tokio_serial::new(
            pair.simulator_path().to_string_lossy(),
            19200,
        ))
        .unwrap();
        let mut agent = tokio_serial::SerialStream::open(&tokio_serial::new(
            pair.agent_path().to_string_lossy(),
            19200,
        ))
        .unwrap();
        // All 256 byte values, including CR, LF and XON/XOFF, must pass unchanged.
        let all: Vec<u8> = (0..=255u8).collect();
        agent.write_all(&all).await.unwrap();
        let mut got = vec![0u8; all.len()];
        tokio::time::timeout(Duration::from_secs(5), sim.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, all);
        sim.write_all(b"\x01\x04\x02\x00\x0a").await.unwrap();
        let mut back = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), agent.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&back, b"\x01\x04\x02\x00\x0a");
    }
}
