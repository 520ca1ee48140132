//! A real Mosquitto broker on a loopback port, and a subscriber that records what arrives.
//! The test command installs Mosquitto; a test without it fails saying what to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;

use crate::wait_for;

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

/// Mosquitto on `port`, killed when dropped.
pub struct Mosquitto {
    child: Child,
}

impl Mosquitto {
    /// Without persistence: a restart forgets sessions and retained messages.
    pub async fn start(dir: &Path, port: u16) -> Mosquitto {
        Self::launch(dir, port, false).await
    }

    /// With persistence in `dir`: a graceful stop (`stop`) and a start keep the subscribers'
    /// persistent sessions and what was queued for them, as a plant's broker does.
    pub async fn start_persistent(dir: &Path, port: u16) -> Mosquitto {
        Self::launch(dir, port, true).await
    }

    async fn launch(dir: &Path, port: u16, persistent: bool) -> Mosquitto {
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        let persistence = if persistent {
            // Started as root, Mosquitto drops to the `mosquitto` user, which cannot write the
            // persistence file into our directory: it would then lose every session at a
            // restart, silently. `user` names who runs it now (ignored when not root).
            let me = Command::new("id")
                .arg("-un")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "root".into());
            format!(
                "persistence true\npersistence_location {}/\nmax_queued_messages 0\nuser {me}\n",
                dir.display()
            )
        } else {
            "persistence false\n".into()
        };
        std::fs::write(
            &conf,
            // set_tcp_nodelay: without it Mosquitto's small PUBACKs wait on Nagle against the
            // client's delayed ACKs, ~40 ms per window of publishes.
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n{persistence}"),
        )
        .unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting mosquitto");
        let up = wait_for(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
        })
        .await;
        assert!(up.is_some(), "mosquitto did not listen on {port}");
        Mosquitto { child }
    }

    /// SIGTERM and wait: Mosquitto writes its persistence file on the way out.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (topic, retained, payload as JSON or as a JSON string) in order of arrival.
pub type Received = Arc<Mutex<Vec<(String, bool, Json)>>>;

/// Subscribes to `topic` with QoS 1 and records what arrives; resubscribes after every
/// reconnect. `persistent`: a fixed client id and a persistent session, so that the broker
/// keeps what arrives for it while it is away.
pub fn subscriber(port: u16, topic: &str, persistent: Option<&str>) -> Received {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let got = Arc::new(Mutex::new(Vec::new()));
    let id = persistent.map_or(format!("test-sub-{port}-{}", rand_id()), str::to_string);
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_clean_session(persistent.is_none());
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(o, 64);
    let (topic, out) = (topic.to_string(), got.clone());
    tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.subscribe(&topic, QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v = serde_json::from_slice(&p.payload).unwrap_or_else(|_| {
                        Json::String(String::from_utf8_lossy(&p.payload).into())
                    });
                    out.lock().unwrap().push((p.topic.clone(), p.retain, v));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    got
}

fn rand_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The first message on `topic` that satisfies `pred`, waiting up to `timeout`.
pub async fn first(
    got: &Received,
    timeout: Duration,
    topic: &str,
    pred: impl Fn(&Json) -> bool,
) -> Option<Json> {
    wait_for(timeout, || async {
        got.lock()
            .unwrap()
            .iter()
            .find(|(t, _, v)| t == topic && pred(v))
            .map(|(_, _, v)| v.clone())
    })
    .await
}
