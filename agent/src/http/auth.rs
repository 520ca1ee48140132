//! Who may change what. Reading needs no login on the local network by default
//! (`[http] read_requires_auth` changes that); every request that changes something needs the
//! token, as `Authorization: Bearer <token>` or as a session cookie from the login form. A
//! request without it gets 401 and changes nothing: the check runs before the handler.
//!
//! There is one token per agent, not one account per person; who did something is the name
//! given at login (or the `X-Agent-User` header with a bearer token), recorded in the audit
//! trail behind the token. The session cookie is `HttpOnly` and `SameSite=Strict`, so another
//! site cannot make a logged-in browser post to the agent.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Request, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::config::HttpSettings;
use crate::records::access::AccessEvent;

const COOKIE: &str = "agent_session";
const MAX_SESSIONS: usize = 1000;

/// Who made an authenticated request (a handler extension).
#[derive(Debug, Clone)]
pub struct Who(pub String);

pub struct Auth {
    token: String,
    read_requires_auth: bool,
    ttl: Duration,
    secure_cookie: bool,
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    /// Wrong tokens per client address, for the back-off (`Throttle`).
    failures: Mutex<HashMap<IpAddr, Throttle>>,
    /// Wrong tokens since start, for `/metrics`.
    pub failed_total: std::sync::atomic::AtomicU64,
    /// Keeps an access event (in the store).
    record: Recorder,
}

/// Where access events go (the store's writer queue; never blocks).
pub type Recorder = Box<dyn Fn(AccessEvent) + Send + Sync>;

/// Wrong tokens from one address. The first `FREE_FAILURES` cost nothing (a mistyped token);
/// after them each attempt waits twice as long as the last, up to `MAX_LOCKOUT`, before the
/// token is even compared: guessing a 16-character token becomes hopeless, and a machinist who
/// mistyped waits seconds, not hours. A right token from the address clears it.
struct Throttle {
    count: u32,
    locked_until: Instant,
    last: Instant,
}

const FREE_FAILURES: u32 = 5;
const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Addresses remembered at most (a scan from many addresses cannot grow memory without bound).
const MAX_THROTTLED: usize = 10_000;

impl Auth {
    /// `generated` is where a token is kept when none is configured (`http-token` beside the
    /// store): made once with mode 600, then read at every start, so the person at the machine
    /// logs in with the same token after a restart. The token itself never goes to the log.
    pub fn new(s: &HttpSettings, generated: &Path, record: Recorder) -> Arc<Auth> {
        let token = s
            .token
            .clone()
            .unwrap_or_else(|| match generated_token(generated) {
                Ok((t, made)) => {
                    tracing::warn!(
                        "no [http] token or token_file configured: changes (acknowledge, shelve,                          reset) need the token {} in {} (mode 600)",
                        if made { "now made" } else { "kept" },
                        generated.display()
                    );
                    t
                }
                Err(e) => {
                    // Nobody can log in this run; reading still works. Never a token only this
                    // process knows, and never one in the log.
                    tracing::error!(
                        "no [http] token configured and none could be kept in {}: {e:#};                          nothing can be changed from the page or API this run (set [http]                          token_file)",
                        generated.display()
                    );
                    random_hex(32)
                }
            });
        Arc::new(Auth {
            token,
            read_requires_auth: s.read_requires_auth,
            ttl: s.session,
            secure_cookie: s.tls.is_some(),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            failed_total: Default::default(),
            record,
        })
    }

    pub fn read_requires_auth(&self) -> bool {
        self.read_requires_auth
    }

    /// Who is asking, if the request carries the token or a live session.
    pub fn who(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(t) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            if same(t.trim().as_bytes(), self.token.as_bytes()) {
                let user = headers
                    .get("x-agent-user")
                    .and_then(|v| v.to_str().ok())
                    .map(clean_name)
                    .filter(|n| !n.is_empty());
                return Some(user.unwrap_or_else(|| "api".into()));
            }
            return None;
        }
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap();
        match sessions.get(id) {
            Some((who, until)) if *until > Instant::now() => Some(who.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// How long `ip` must still wait before its token is compared, if it is locked out.
    fn locked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = ip?;
        let failures = self.failures.lock().unwrap();
        let t = failures.get(&ip)?;
        t.locked_until.checked_duration_since(Instant::now())
    }

    /// A wrong token from `ip` (`via`: `login` or `bearer <path>`; `name`: given at the form):
    /// logged and recorded without the token, counted, and the address's back-off lengthened.
    fn failed(&self, ip: Option<IpAddr>, via: String, name: Option<String>) {
        use std::sync::atomic::Ordering;
        self.failed_total.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let (count, wait) = match ip {
            None => (1, Duration::ZERO),
            Some(ip) => {
                let mut failures = self.failures.lock().unwrap();
                if failures.len() >= MAX_THROTTLED && !failures.contains_key(&ip) {
                    let hour = Duration::from_secs(3600);
                    failures.retain(|_, t| now.duration_since(t.last) < hour);
                    if failures.len() >= MAX_THROTTLED {
                        if let Some(oldest) =
                            failures.iter().min_by_key(|(_, t)| t.last).map(|(k, _)| *k)
                        {
                            failures.remove(&oldest);
                        }
                    }
                }
                let t = failures.entry(ip).or_insert(Throttle {
                    count: 0,
                    locked_until: now,
                    last: now,
                });
                t.count += 1;
                t.last = now;
                let wait = if t.count > FREE_FAILURES {
                    let doubling = (t.count - FREE_FAILURES - 1).min(16);
                    Duration::from_secs(1 << doubling).min(MAX_LOCKOUT)
                } else {
                    Duration::ZERO
                };
                t.locked_until = now + wait;
                (t.count, wait)
            }
        };
        let peer = ip.map_or("an unknown address".to_string(), |ip| ip.to_string());
        let named = name
            .as_ref()
            .map_or(String::new(), |n| format!(", name `{n}`"));
        if wait.is_zero() {
            tracing::warn!("wrong token from {peer} ({via}{named}), {count} in a row");
        } else {
            tracing::warn!(
                "wrong token from {peer} ({via}{named}), {count} in a row: its next attempt \
                 waits {} s",
                wait.as_secs()
            );
        }
        (self.record)(AccessEvent {
            ts_ms: crate::value::now_ms(),
            peer: ip.map(|ip| ip.to_string()),
            via,
            name,
            count,
            locked_s: wait.as_secs(),
        });
    }

    fn succeeded(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.failures.lock().unwrap().remove(&ip);
        }
    }

    /// Who is asking, checking the bearer token with the back-off: `Err` is the wait still
    /// imposed on the client's address.
    fn identify(&self, req: &Request) -> Result<Option<String>, Duration> {
        let ip = peer(req.extensions());
        let bearer = req.headers().contains_key(header::AUTHORIZATION);
        if bearer {
            if let Some(wait) = self.locked(ip) {
                return Err(wait);
            }
        }
        let who = self.who(req.headers());
        if bearer {
            match who {
                Some(_) => self.succeeded(ip),
                None => self.failed(ip, format!("bearer {}", req.uri().path()), None),
            }
        }
        Ok(who)
    }

    fn login(&self, name: &str) -> String {
        let id = random_hex(32);
        let mut sessions = self.sessions.lock().unwrap();
        let now = Instant::now();
        sessions.retain(|_, (_, until)| *until > now);
        if sessions.len() >= MAX_SESSIONS {
            // Bounded: the oldest login goes first.
            if let Some(k) = sessions
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&k);
            }
        }
        sessions.insert(id.clone(), (name.to_string(), now + self.ttl));
        id
    }
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The kept token: read if the file is there (and private), else made and written with mode 600.
/// Returns it and whether it was made now.
fn generated_token(path: &Path) -> anyhow::Result<(String, bool)> {
    use anyhow::Context;
    match std::fs::read_to_string(path) {
        Ok(t) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
                anyhow::ensure!(
                    mode & 0o077 == 0,
                    "it has mode {mode:o}: readable by others (chmod 600 it, or delete it for a new one)"
                );
            }
            let t = t.trim().to_string();
            anyhow::ensure!(t.len() >= 16, "it holds fewer than 16 characters");
            Ok((t, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let t = random_hex(16);
            let mut f = std::fs::OpenOptions::new();
            f.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut f, 0o600);
            let mut file = f.open(path)?;
            std::io::Write::write_all(&mut file, format!("{t}\n").as_bytes())?;
            file.sync_all()?;
            Ok((t, true))
        }
        Err(e) => Err(e.into()),
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A name for the audit trail: printable, short.
fn clean_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect::<String>()
        .trim()
        .to_string()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The client's address, for the back-off. axum knows it for a plain TCP listener only; this
/// one type carries it for both (ours, so that it may be `Connected` to the TLS listener too).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, super::tls::TlsListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, super::tls::TlsListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

/// The client's address, when the server was started with it (`serve` does; a router called
/// directly in a unit test has none, and is then throttled by nothing).
fn peer(ext: &axum::http::Extensions) -> Option<IpAddr> {
    ext.get::<axum::extract::ConnectInfo<Peer>>()
        .map(|c| c.0 .0.ip())
}

fn too_many(wait: Duration) -> Response {
    let secs = wait.as_secs() + 1;
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        Json(json!({
            "error": format!("too many wrong tokens from this address: try again in {secs} s"),
        })),
    )
        .into_response()
}

fn unauthorized(req: &Request) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && req.method() == axum::http::Method::GET {
        return Redirect::to("/login").into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({
            "error": "this needs the agent's token: `Authorization: Bearer <token>`, or log in at /login",
            "login": "/login"
        })),
    )
        .into_response()
}

/// For every route that changes something.
pub async fn require(Extract(auth): Extract<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    match auth.identify(&req) {
        Ok(Some(who)) => {
            req.extensions_mut().insert(Who(who));
            next.run(req).await
        }
        Ok(None) => unauthorized(&req),
        Err(wait) => too_many(wait),
    }
}

/// For reading routes: only when `read_requires_auth`.
pub async fn require_for_reading(
    Extract(auth): Extract<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    if !auth.read_requires_auth {
        return next.run(req).await;
    }
    match auth.identify(&req) {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => unauthorized(&req),
        Err(wait) => too_many(wait),
    }
}

#[utoipa::path(
    get,
    path = "/login",
    tag = "access",
    responses((status = 200, description = "The login form.", content_type = "text/html", body = String)),
)]
pub async fn login_page() -> Html<String> {
    Html(login_html(None))
}

/// The login form, with an error in English and Chinese (the page shows the reader's).
fn login_html(error: Option<(&str, &str)>) -> String {
    let err = error.map_or(String::new(), |(en, zh)| {
        format!("<p class=\"err\" data-en=\"{en}\" data-zh=\"{zh}\">{en}</p>")
    });
    include_str!("login.html").replace("<!--error-->", &err)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginForm {
    name: String,
    token: String,
}

#[utoipa::path(
    post,
    path = "/login",
    tag = "access",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Logged in: the session cookie is set (`Set-Cookie`), and the browser goes to `/`."),
        (status = 400, description = "No name given: the form again, saying so.", content_type = "text/html", body = String),
        (status = 401, description = "Wrong token: the form again, saying so.", content_type = "text/html", body = String),
        (status = 429, description = "Too many wrong tokens from this address: the form again, with the wait (`Retry-After`).", content_type = "text/html", body = String),
        (status = 415, description = "The body is not a form.", content_type = "text/plain", body = String),
        (status = 422, description = "The form lacks `name` or `token`.", content_type = "text/plain", body = String),
    ),
)]
pub async fn login(
    Extract(auth): Extract<Arc<Auth>>,
    connect: Option<axum::Extension<axum::extract::ConnectInfo<Peer>>>,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = connect.map(|c| c.0 .0 .0.ip());
    if let Some(wait) = auth.locked(ip) {
        let secs = wait.as_secs() + 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Html(login_html(Some((
                &format!("Too many wrong tokens from this device: try again in {secs} s."),
                &format!("此设备输错令牌次数过多：请 {secs} 秒后再试。"),
            )))),
        )
            .into_response();
    }
    let name = clean_name(&f.name);
    if name.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Html(login_html(Some((
                "Give your name: it goes into the alarm log.",
                "请填写姓名：它会记入报警日志。",
            )))),
        )
            .into_response();
    }
    if !same(f.token.trim().as_bytes(), auth.token.as_bytes()) {
        auth.failed(ip, "login".into(), Some(name.clone()));
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_html(Some(("Wrong token.", "令牌错误。")))),
        )
            .into_response();
    }
    auth.succeeded(ip);
    let id = auth.login(&name);
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        auth.ttl.as_secs(),
        if auth.secure_cookie { "; Secure" } else { "" }
    );
    tracing::info!("login: {name}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[utoipa::path(
    post,
    path = "/logout",
    tag = "access",
    responses((status = 303, description = "The session ends; the browser goes to `/`.")),
)]
pub async fn logout(Extract(auth): Extract<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        auth.sessions.lock().unwrap().remove(id);
    }
    (
        [(header::SET_COOKIE, format!("{COOKIE}=; Path=/; Max-Age=0"))],
        Redirect::to("/"),
    )
        .into_response()
}

/// `GET /api/session`: whether this browser may change things (the page greys its buttons).
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "access",
    responses((status = 200, description = "Whether this request may change things (the page greys its buttons without).", body = super::openapi::Session)),
)]
pub async fn session(
    Extract(auth): Extract<Arc<Auth>>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    let who = auth.who(&headers);
    Json(json!({ "authenticated": who.is_some(), "who": who }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Arc<Auth> {
        Auth::new(
            &HttpSettings {
                token: Some("0123456789abcdef".into()),
                session: Duration::from_secs(60),
                ..HttpSettings::default()
            },
            Path::new("/nonexistent/unused"),
            Box::new(|_| {}),
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_and_session_cookie() {
        let a = auth();
        assert_eq!(a.who(&headers(&[])), None);
        assert_eq!(
            a.who(&headers(&[("authorization", "Bearer 0123456789abcdeX")])),
            None
        );
        assert_eq!(a.who(&headers(&[("authorization", "Bearer 0123")])), None);
        assert_eq!(
            a.who(&headers(&[("authorization", "Bearer 0123456789abcdef")]))
                .as_deref(),
            Some("api")
        );
        assert_eq!(
            a.who(&headers(&[
                ("authorization", "Bearer 0123456789abcdef"),
                ("x-agent-user", "Li Wei")
            ]))
            .as_deref(),
            Some("Li Wei")
        );
        let id = a.login("anna");
        let c = format!("theme=dark; {COOKIE}={id}");
        assert_eq!(a.who(&headers(&[("cookie", &c)])).as_deref(), Some("anna"));
        assert_eq!(a.who(&headers(&[("cookie", "agent_session=forged")])), None);
    }

    #[test]
    fn a_generated_token_is_kept_private_and_reused() {
        let dir = std::env::temp_dir().join(format!("auth-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("state").join("http-token");
        let a = Auth::new(&HttpSettings::default(), &file, Box::new(|_| {}));
        assert_eq!(a.token.len(), 32);
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), a.token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            // Kept across restarts.
            assert_eq!(
                Auth::new(&HttpSettings::default(), &file, Box::new(|_| {})).token,
                a.token
            );
            // A token file others can read is not used: the run gets a token nobody knows.
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_ne!(
                Auth::new(&HttpSettings::default(), &file, Box::new(|_| {})).token,
                a.token
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_tokens_back_off_per_address() {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let k = kept.clone();
        let a = Auth::new(
            &HttpSettings {
                token: Some("0123456789abcdef".into()),
                ..HttpSettings::default()
            },
            Path::new("/nonexistent/unused"),
            Box::new(move |e| k.lock().unwrap().push(e)),
        );
        let (ip, other): (IpAddr, IpAddr) =
            ("10.0.0.7".parse().unwrap(), "10.0.0.8".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            a.failed(Some(ip), "login".into(), Some("anna".into()));
            assert_eq!(
                a.locked(Some(ip)),
                None,
                "the first few mistakes cost nothing"
            );
        }
        a.failed(Some(ip), "login".into(), Some("anna".into()));
        let first = a.locked(Some(ip)).expect("locked after the free failures");
        assert!(first <= Duration::from_secs(1));
        a.failed(Some(ip), "login".into(), Some("anna".into()));
        a.failed(Some(ip), "login".into(), Some("anna".into()));
        let third = a.locked(Some(ip)).unwrap();
        assert!(third > Duration::from_secs(2), "doubling: {third:?}");
        assert_eq!(a.locked(Some(other)), None, "another address is not locked");
        for _ in 0..40 {
            a.failed(Some(ip), "login".into(), Some("anna".into()));
        }
        assert!(a.locked(Some(ip)).unwrap() <= MAX_LOCKOUT);
        a.succeeded(Some(ip));
        assert_eq!(a.locked(Some(ip)), None);
        assert_eq!(
            a.failed_total.load(std::sync::atomic::Ordering::Relaxed),
            FREE_FAILURES as u64 + 43
        );
        let kept = kept.lock().unwrap();
        assert_eq!(
            kept.len(),
            FREE_FAILURES as usize + 43,
            "every one recorded"
        );
        let sixth = &kept[FREE_FAILURES as usize];
        assert_eq!(
            (
                sixth.peer.as_deref(),
                sixth.via.as_str(),
                sixth.name.as_deref()
            ),
            (Some("10.0.0.7"), "login", Some("anna"))
        );
        assert_eq!((sixth.count, sixth.locked_s), (FREE_FAILURES + 1, 1));
        assert_eq!(kept.last().unwrap().locked_s, MAX_LOCKOUT.as_secs());
    }
}
