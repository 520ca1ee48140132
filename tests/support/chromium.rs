//! A real headless Chromium driven over the DevTools protocol (a websocket), for tests of the
//! pages in a browser. The test command installs Chromium; a test without it fails saying what
//! to install.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};

use crate::{request, temp_dir, wait_until};

fn binary() -> PathBuf {
    for p in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/lib/chromium/chromium",
    ] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("chromium not found: install chromium (apt-get install chromium)");
}

/// Headless Chromium with a fresh profile, killed when dropped.
pub struct Browser {
    child: Child,
    _profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools protocol session on one page.
pub struct Cdp {
    ws: tokio::sync::Mutex<Ws>,
    next: AtomicU64,
}

/// Starts Chromium on `about:blank` and opens a DevTools session on its page. Chromium picks
/// its DevTools port itself (`--remote-debugging-port=0`) and writes it to
/// `DevToolsActivePort` in the profile.
pub async fn open() -> (Browser, Cdp) {
    open_with(&[]).await
}

/// As [`open`], with more command-line switches (e.g. the key of a test's own TLS certificate
/// to trust).
pub async fn open_with(extra: &[String]) -> (Browser, Cdp) {
    let profile = temp_dir("chromium-profile");
    let child = Command::new(binary())
        .args(extra)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1100",
            &format!("--user-data-dir={}", profile.display()),
            "--remote-debugging-port=0",
            "about:blank",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let browser = Browser {
        child,
        _profile: profile.clone(),
    };
    let active = profile.join("DevToolsActivePort");
    let port = wait_until(
        Duration::from_secs(30),
        "chromium to write its DevTools port",
        || async {
            let text = std::fs::read_to_string(&active).ok()?;
            // The port, then the browser's websocket path: complete once both lines are there.
            let mut lines = text.lines();
            let port: u16 = lines.next()?.trim().parse().ok()?;
            lines.next()?;
            Some(port)
        },
    )
    .await
    .unwrap();
    let devtools = format!("127.0.0.1:{port}");
    let ws_url = wait_until(
        Duration::from_secs(30),
        "chromium's page in the DevTools list",
        || async {
            let r = request(&devtools, "GET", "/json/list", &[], "")
                .await
                .ok()?;
            let list = r.json();
            list.as_array()?
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(String::from))
        },
    )
    .await
    .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let cdp = Cdp {
        ws: tokio::sync::Mutex::new(ws),
        next: AtomicU64::new(0),
    };
    cdp.call("Page.enable", json!({})).await.unwrap();
    cdp.call("Runtime.enable", json!({})).await.unwrap();
    (browser, cdp)
}

impl Cdp {
    /// Calls a DevTools method and returns its result.
    pub async fn call(&self, method: &str, params: Json) -> Result<Json> {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        let mut ws = self.ws.lock().await;
        ws.send(Message::Text(msg.into())).await?;
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let m = tokio::time::timeout_at(end.into(), ws.next())
                .await
                .with_context(|| format!("{method}: no answer"))?
                .context("devtools socket closed")??;
            let Message::Text(t) = m else { continue };
            let v: Json = serde_json::from_str(&t)?;
            if v["id"] == id {
                if !v["error"].is_null() {
                    bail!("{method}: {}", v["error"]);
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its value.
    pub async fn eval(&self, expr: &str) -> Result<Json> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if !r["exceptionDetails"].is_null() {
            bail!("{expr}: {}", r["exceptionDetails"]);
        }
        Ok(r["result"]["value"].clone())
    }

    /// Logs in through the form at `origin` (`http://host:port` or `https://…`) as a machinist
    /// would, and waits for the status page to show the name.
    pub async fn log_in(&self, origin: &str, name: &str, token: &str) -> Result<()> {
        self.call("Page.navigate", json!({ "url": format!("{origin}/login") }))
            .await?;
        self.wait_eval(
            "document.getElementById('token') !== null",
            Duration::from_secs(15),
        )
        .await
        .context("the login form")?;
        self.eval(&format!(
            "document.getElementById('name').value = '{name}'; \
             document.getElementById('token').value = '{token}'; \
             document.querySelector('form button').click(); true"
        ))
        .await?;
        self.wait_eval(
            &format!(
                "location.pathname === '/' && \
                 document.getElementById('login').textContent.includes('{name}')"
            ),
            Duration::from_secs(15),
        )
        .await
        .context("the status page after logging in")?;
        Ok(())
    }

    /// Waits until `expr` evaluates to something other than null, false or "", and returns it.
    pub async fn wait_eval(&self, expr: &str, timeout: Duration) -> Result<Json> {
        let last = Mutex::new(String::new());
        wait_until(timeout, Waiting { expr, last: &last }, || async {
            // While a navigation is under way the new document may be committed but not yet
            // parsed, so the expression can throw; that counts as "not yet", not as a failure.
            let seen = match self.eval(expr).await {
                Ok(v) if !(v.is_null() || v == false || v == "") => return Some(v),
                Ok(v) => v.to_string(),
                Err(e) => format!("{e:#}"),
            };
            *last.lock().unwrap() = seen;
            None
        })
        .await
    }

    /// A PNG of the page as it is now.
    pub async fn screenshot(&self, to: &Path) -> Result<()> {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        std::fs::write(to, base64_decode(r["data"].as_str().context("no data")?)?)?;
        Ok(())
    }
}

/// What [`Cdp::wait_eval`] waits for, with the last value seen when it gives up.
struct Waiting<'a> {
    expr: &'a str,
    last: &'a Mutex<String>,
}

impl fmt::Display for Waiting<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (last: {})", self.expr, self.last.lock().unwrap())
    }
}

fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let val = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: {c}"),
        } as u32)
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Ok(out)
}
