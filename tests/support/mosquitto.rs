//! A real Mosquitto broker on a loopback port, and a subscriber that records what arrives.
//! The test command installs Mosquitto; a test without it fails saying what to install.
//!
//! Mosquitto cannot listen on port 0 and say which port it got, so the port is chosen here,
//! without binding it first (a port bound, released and bound again can be taken in between):
//! from below the kernel's ephemeral range, where neither outgoing connections nor other
//! tests' port-0 listeners are put, and never one a broker of this process holds. Should
//! another program hold it anyway, Mosquitto says so in its log and exits, and the broker is
//! started again on another port: a collision can cost a retry, never a broker that is not ours.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value as Json;

use crate::wait_until;

fn binary() -> PathBuf {
    for p in [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v mosquitto"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return p.into();
        }
    }
    panic!("mosquitto not found: install mosquitto (apt-get install mosquitto)");
}

/// Ports held by this process's brokers, running or stopped to be started again.
static HELD: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port for a broker, held (not offered to another broker of this process) until dropped.
struct Port(u16);

impl Port {
    /// A port below the ephemeral range that no broker of this process holds.
    fn pick() -> Port {
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32768);
        let (lo, hi) = (
            ephemeral.saturating_sub(12_000).max(1024),
            ephemeral.max(2048),
        );
        let mut held = HELD.lock().unwrap();
        loop {
            let p = lo + (random() % u64::from(hi - lo)) as u16;
            if held.insert(p) {
                return Port(p);
            }
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        HELD.lock().unwrap().remove(&self.0);
    }
}

fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// How a start ended.
enum Launch {
    Running(Child),
    /// Another program listens on the port.
    PortTaken,
}

/// Mosquitto on a port of its own, killed when dropped.
pub struct Mosquitto {
    child: Child,
    port: u16,
    /// What [`Mosquitto::stop`] hands back; taken there.
    stopped: Option<Stopped>,
}

/// A broker stopped by [`Mosquitto::stop`]; [`Stopped::start`] starts it again on the same
/// port, with the same persistence.
pub struct Stopped {
    dir: PathBuf,
    port: Port,
    persistent: bool,
}

impl Mosquitto {
    /// Without persistence: a restart forgets sessions and retained messages.
    pub async fn start(dir: &Path) -> Mosquitto {
        Self::start_new(dir, false).await
    }

    /// With persistence in `dir`: a graceful stop (`stop`) and a start keep the subscribers'
    /// persistent sessions and what was queued for them, as a plant's broker does.
    pub async fn start_persistent(dir: &Path) -> Mosquitto {
        Self::start_new(dir, true).await
    }

    async fn start_new(dir: &Path, persistent: bool) -> Mosquitto {
        for _ in 0..10 {
            let stopped = Stopped {
                dir: dir.to_path_buf(),
                port: Port::pick(),
                persistent,
            };
            if let Launch::Running(child) = stopped.launch().await {
                return stopped.running(child);
            }
        }
        panic!("mosquitto found its port taken ten times in a row");
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGTERM and wait: Mosquitto writes its persistence file on the way out.
    pub fn stop(mut self) -> Stopped {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.stopped.take().unwrap()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stopped {
    /// Starts the broker again on its port. The port was ours until a moment ago and lies
    /// outside the ranges the kernel hands out, so finding it taken is a failure, not a retry:
    /// the agent under test is configured with this port.
    pub async fn start(self) -> Mosquitto {
        match self.launch().await {
            Launch::Running(child) => self.running(child),
            Launch::PortTaken => panic!(
                "port {} was taken by another program while the broker was stopped",
                self.port.0
            ),
        }
    }

    fn running(self, child: Child) -> Mosquitto {
        Mosquitto {
            child,
            port: self.port.0,
            stopped: Some(self),
        }
    }

    /// Starts Mosquitto and waits until it says it runs (after opening its listener), or exits.
    async fn launch(&self) -> Launch {
        let port = self.port.0;
        let conf = self.dir.join(format!("mosquitto-{port}.conf"));
        let log = self.dir.join(format!("mosquitto-{port}.log"));
        let _ = std::fs::remove_file(&log);
        // Started as root, Mosquitto drops to the `mosquitto` user, which can write neither the
        // log nor the persistence file into our directory: it would then lose every session at
        // a restart, silently. `user` names who runs it now (ignored when not root).
        let me = Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "root".into());
        let persistence = if self.persistent {
            format!(
                "persistence true\npersistence_location {}/\nmax_queued_messages 0\n",
                self.dir.display()
            )
        } else {
            "persistence false\n".into()
        };
        std::fs::write(
            &conf,
            // set_tcp_nodelay: without it Mosquitto's small PUBACKs wait on Nagle against the
            // client's delayed ACKs, ~40 ms per window of publishes.
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nuser {me}\n\
                 log_dest file {}\n{persistence}",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        let child = Mutex::new(child);
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        let ended = wait_until(
            Duration::from_secs(10),
            format!("mosquitto to run on port {port}"),
            || async {
                // "running" is logged once every listener is open.
                if read_log().contains(" running") {
                    return Some(None);
                }
                child.lock().unwrap().try_wait().ok().flatten().map(Some)
            },
        )
        .await;
        let mut child = child.into_inner().unwrap();
        let ended = ended.unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{e}; its log:\n{}", read_log())
        });
        match ended {
            None => Launch::Running(child),
            Some(_) if read_log().contains("Address already in use") => Launch::PortTaken,
            Some(status) => panic!("mosquitto exited ({status}); its log:\n{}", read_log()),
        }
    }
}

/// (topic, retained, payload as JSON or as a JSON string) in order of arrival.
pub type Received = Arc<Mutex<Vec<(String, bool, Json)>>>;

/// Subscribes to `topic` with QoS 1 and records what arrives; resubscribes after every
/// reconnect. `persistent`: a fixed client id and a persistent session, so that the broker
/// keeps what arrives for it while it is away. Returns once the broker has acknowledged the
/// subscription, so nothing published after that is missed.
pub async fn subscriber(port: u16, topic: &str, persistent: Option<&str>) -> Received {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let got = Arc::new(Mutex::new(Vec::new()));
    let id = persistent.map_or(format!("test-sub-{port}-{}", random()), str::to_string);
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_clean_session(persistent.is_none());
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 64);
    let (subscribed, acked) = tokio::sync::oneshot::channel();
    let (topic, out) = (topic.to_string(), got.clone());
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(&topic, QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v = serde_json::from_slice(&p.payload).unwrap_or_else(|_| {
                        Json::String(String::from_utf8_lossy(&p.payload).into())
                    });
                    out.lock().unwrap().push((p.topic.clone(), p.retain, v));
                }
                Ok(_) => {}
                // Not a wait for anything: a pause before reconnecting, so that a broker that
                // is down is not knocked at in a busy loop.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), acked)
        .await
        .expect("the broker did not acknowledge the subscription within 10 s")
        .expect("the subscriber ended");
    got
}

/// The first message on `topic` that satisfies `pred`, waiting up to `timeout`.
pub async fn first(
    got: &Received,
    timeout: Duration,
    topic: &str,
    pred: impl Fn(&Json) -> bool,
) -> Result<Json> {
    wait_until(
        timeout,
        format!("a matching message on {topic}"),
        || async {
            got.lock()
                .unwrap()
                .iter()
                .find(|(t, _, v)| t == topic && pred(v))
                .map(|(_, _, v)| v.clone())
        },
    )
    .await
}
