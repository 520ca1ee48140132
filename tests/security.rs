//! The agent on a plant network: no secret reaches its log, wrong tokens back off, and plain
//! HTTP beyond loopback is said at start. The agent as a child process with every secret
//! configured and every channel that carries one failing (so that its errors are logged), its
//! log at debug level in a file that the test reads.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::{dead_addr, get, request, temp_dir, wait_until, AgentProcess};

/// Secrets of every kind the configuration can hold, each unique enough to find in a log.
const OPCUA_PASSWORD: &str = "opcua-pw-5f1c09d2e7";
const MQTT_PASSWORD: &str = "mqtt-pw-a83be0c4d1";
const WEBHOOK_PATH_KEY: &str = "hookpath9c2e41f07b";
const WEBHOOK_QUERY_KEY: &str = "hookquery3d7a0e95c6";
const WEBHOOK_HEADER: &str = "hookheader71b4c2e8d0";
const TYPED_TOKEN: &str = "typed-by-someone-0e4f9a";

/// The agent with `config`, its log (debug level) in `agent.log` beside it.
async fn agent(config: &Path, listen: &str) -> AgentProcess {
    let log = std::fs::File::create(config.with_file_name("agent.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent-e2e"));
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .args(["--listen", listen])
        .stderr(log)
        .env("RUST_LOG", "debug");
    AgentProcess::spawn(cmd).await
}

fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let dead = dead_addr();
    let text = format!(
        r#"
[agent]
machine_id = "vmc-sec"
[store]
path = "{dir}/agent.db"
flush_interval_ms = 200
[alarms]
tick_ms = 50
on_delay_ms = 100
off_delay_ms = 100
[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "{dead}"
timeout_ms = 200
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
[[device]]
name = "cnc"
protocol = "opcua"
endpoint = "opc.tcp://{dead}/"
username = "agent"
password = "{OPCUA_PASSWORD}"
allow_plaintext_credentials = true
timeout_ms = 200
  [[device.tag]]
  name = "speed"
  node = "ns=2;s=Speed"
  signal = "spindle.speed"
[[notify.webhook]]
name = "chat"
url = "http://{dead}/send/{WEBHOOK_PATH_KEY}?key={WEBHOOK_QUERY_KEY}"
timeout_ms = 500
retry_initial_ms = 100
retry_max_ms = 500
headers = {{ Authorization = "Bearer {WEBHOOK_HEADER}" }}
[mqtt]
host = "127.0.0.1"
port = {port}
username = "agent"
password = "{MQTT_PASSWORD}"
{extra}
"#,
        dir = dir.display(),
        port = dead.port(),
    );
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    e2e::private(&path);
    path
}

#[tokio::test]
async fn no_secret_reaches_the_log_and_wrong_tokens_back_off() {
    let dir = temp_dir("security");
    let mut a = agent(&config(&dir, ""), "127.0.0.1:0").await;
    let http = a.http.clone();
    // No token configured: one is made, kept private beside the store, and never logged.
    let token_file = dir.join("http-token");
    let token = std::fs::read_to_string(&token_file)
        .expect("the generated token is kept beside the store")
        .trim()
        .to_string();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token file is private");
    }

    // Wrong tokens: the first few answer 401, then the address waits, doubling.
    let login = |t: &str| format!("name=Li+Wei&token={t}");
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = request(&http, "POST", "/login", &form, &login(TYPED_TOKEN))
            .await
            .unwrap();
        codes.push(r.code);
    }
    assert_eq!(codes, [401, 401, 401, 401, 401, 401], "{codes:?}");
    let locked = request(&http, "POST", "/login", &form, &login(&token))
        .await
        .unwrap();
    assert_eq!(
        locked.code, 429,
        "even the right token waits out the back-off"
    );
    assert!(locked.head.contains("retry-after:"), "{}", locked.head);
    let bearer = request(
        &http,
        "POST",
        "/api/alarms/x/ack",
        &[("authorization", &format!("Bearer {TYPED_TOKEN}"))],
        "",
    )
    .await
    .unwrap();
    assert_eq!(bearer.code, 429, "a bearer header shares the back-off");
    // The right token, once the wait is over, clears the address.
    wait_until(
        Duration::from_secs(30),
        "the back-off to pass and the right token to log in",
        || async {
            let r = request(&http, "POST", "/login", &form, &login(&token))
                .await
                .ok()?;
            (r.code == 303).then_some(())
        },
    )
    .await
    .unwrap();
    // A wrong bearer token, now that the address is clear again, counts like a wrong login.
    let wrong = request(
        &http,
        "POST",
        "/api/alarms/x/ack",
        &[("authorization", &format!("Bearer {TYPED_TOKEN}"))],
        "",
    )
    .await
    .unwrap();
    assert_eq!(wrong.code, 401);
    let (_, metrics) = get(&http, "/metrics").await.unwrap();
    assert!(
        metrics.contains("agent_http_wrong_tokens_total 7"),
        "six wrong logins and one wrong bearer (attempts refused while locked are not checked): {metrics}"
    );
    // The audit trail in the store, for the token's holders: address, way, name, never a token.
    let bearer = format!("Bearer {token}");
    let events = wait_until(
        Duration::from_secs(30),
        "seven access events stored",
        || async {
            let r = request(
                &http,
                "GET",
                "/api/access-events",
                &[("authorization", &bearer)],
                "",
            )
            .await
            .ok()?;
            let events = r.json()["events"].as_array()?.clone();
            (events.len() == 7).then_some(events)
        },
    )
    .await
    .unwrap();
    assert_eq!(events[0]["via"], "bearer /api/alarms/x/ack", "{events:?}");
    let logins: Vec<_> = events[1..].iter().rev().collect();
    for (i, e) in logins.iter().enumerate() {
        assert_eq!(
            (
                e["peer"].as_str(),
                e["via"].as_str(),
                e["name"].as_str(),
                e["count"].as_u64()
            ),
            (
                Some("127.0.0.1"),
                Some("login"),
                Some("Li Wei"),
                Some(i as u64 + 1)
            ),
            "{e}"
        );
    }
    assert_eq!(
        logins[5]["locked_s"], 1,
        "the sixth in a row locks the address"
    );
    let unauthorized = get(&http, "/api/access-events").await.unwrap();
    assert_eq!(
        unauthorized.0, 401,
        "the audit trail is for the token's holders"
    );

    // Every channel that carries a secret has failed and said so in the log.
    wait_until(
        Duration::from_secs(60),
        "webhook, MQTT and OPC UA failures in the log",
        || async {
            let log = log_of(&dir);
            (log.contains("webhook chat:") && log.contains("mqtt") && log.contains("opcua cnc"))
                .then_some(())
        },
    )
    .await
    .unwrap();
    a.kill();
    let log = log_of(&dir);
    assert!(
        log.contains("wrong token from 127.0.0.1 (login, name `Li Wei`)"),
        "failed logins are recorded with the address: {log}"
    );
    assert!(
        log.contains(&format!("http://{}/…", dead_addr())),
        "the webhook is named by its host"
    );
    for secret in [
        token.as_str(),
        OPCUA_PASSWORD,
        MQTT_PASSWORD,
        WEBHOOK_PATH_KEY,
        WEBHOOK_QUERY_KEY,
        WEBHOOK_HEADER,
        TYPED_TOKEN,
    ] {
        assert!(
            !log.contains(secret),
            "`{secret}` is in the agent's log: {}",
            log.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The token is kept across a restart: the person at the machine logs in with the same one.
    let a = agent(&dir.join("agent.toml"), "127.0.0.1:0").await;
    let r = request(&a.http, "POST", "/login", &form, &login(&token))
        .await
        .unwrap();
    assert_eq!(r.code, 303, "{}", r.body);
}

#[tokio::test]
async fn plain_http_beyond_loopback_is_said_at_start_unless_allowed() {
    for (allow, warned) in [("", true), ("[http]\nallow_plaintext = true", false)] {
        let dir = temp_dir("plaintext");
        let a = agent(&config(&dir, allow), "0.0.0.0:0").await;
        let warning = "without TLS: the token, logins and session cookies cross the network";
        if warned {
            wait_until(
                Duration::from_secs(30),
                "the warning in the log",
                || async { log_of(&dir).contains(warning).then_some(()) },
            )
            .await
            .unwrap();
        } else {
            // Started and answering: the warning would have come before.
            get(&a.http, "/healthz").await.unwrap();
            let log = log_of(&dir);
            assert!(!log.contains(warning), "{allow:?}: {log}");
        }
    }
}

/// A self-signed certificate for 127.0.0.1 (openssl, from Debian's packages), and the base64
/// SHA-256 of its public key, which Chromium is told to trust.
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=green-agent test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl not found: install openssl (apt-get install openssl)");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let spki = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | openssl base64 -A",
            cert.display()
        ))
        .output()
        .unwrap();
    assert!(spki.status.success());
    (
        cert,
        key,
        String::from_utf8(spki.stdout).unwrap().trim().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_login_over_https_in_a_browser() {
    const TOKEN: &str = "https-test-token-0123456789";
    let dir = temp_dir("https");
    let (cert, key, spki) = self_signed(&dir);
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[agent]
machine_id = "vmc-tls"
listen = "127.0.0.1:0"
[store]
path = "{}/agent.db"
[http]
token = "{TOKEN}"
tls_cert = "{}"
tls_key = "{}"
[[device]]
name = "mql"
protocol = "modbus-tcp"
address = "{}"
  [[device.tag]]
  name = "flow"
  table = "input"
  address = 0
  signal = "mql.oil_flow"
"#,
            dir.display(),
            cert.display(),
            key.display(),
            dead_addr()
        ),
    )
    .unwrap();
    e2e::private(&path);
    let agent = agent::Agent::start(agent::config::load(&path).unwrap())
        .await
        .unwrap();
    let origin = format!("https://{}", agent.http_addr);
    // Trusts this certificate's key and nothing else: a browser that would accept any
    // certificate would prove nothing about the agent's TLS.
    let (_browser, cdp) =
        e2e::chromium::open_with(&[format!("--ignore-certificate-errors-spki-list={spki}")]).await;
    cdp.log_in(&origin, "Li Wei", TOKEN)
        .await
        .expect("logged in over HTTPS, on the status page");
    assert_eq!(cdp.eval("location.protocol").await.unwrap(), "https:");
    // The session cookie is Secure: the browser never sends it over plain HTTP.
    let cookies = cdp
        .call(
            "Network.getCookies",
            serde_json::json!({ "urls": [origin] }),
        )
        .await
        .unwrap();
    let session = cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "agent_session")
        .cloned()
        .unwrap_or_else(|| panic!("no session cookie: {cookies}"));
    assert_eq!(session["secure"], true, "{session}");
    assert_eq!(session["httpOnly"], true, "{session}");
    // And plain HTTP on the same port is not served.
    assert!(get(&agent.http_addr.to_string(), "/healthz").await.is_err());
    agent.shutdown().await;
}
