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
}

impl Auth {
    /// With no token configured, one is generated for this run and logged once: changes stay
    /// protected, and the person at the console can still log in.
    pub fn new(s: &HttpSettings) -> Arc<Auth> {
        let token = s.token.clone().unwrap_or_else(|| {
            let t = random_hex(16);
            tracing::warn!(
                "no [http] token or token_file configured: changes (acknowledge, shelve, reset) \
                 need this token for this run only: {t}"
            );
            t
        });
        Arc::new(Auth {
            token,
            read_requires_auth: s.read_requires_auth,
            ttl: s.session,
            secure_cookie: s.tls.is_some(),
            sessions: Mutex::new(HashMap::new()),
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
    match auth.who(req.headers()) {
        Some(who) => {
            req.extensions_mut().insert(Who(who));
            next.run(req).await
        }
        None => unauthorized(&req),
    }
}

/// For reading routes: only when `read_requires_auth`.
pub async fn require_for_reading(
    Extract(auth): Extract<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    if !auth.read_requires_auth || auth.who(req.headers()).is_some() {
        next.run(req).await
    } else {
        unauthorized(&req)
    }
}

pub async fn login_page() -> Html<String> {
    Html(login_html(None))
}

fn login_html(error: Option<&str>) -> String {
    let err = error.map_or(String::new(), |e| format!("<p class=\"err\">{e}</p>"));
    include_str!("login.html").replace("<!--error-->", &err)
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    token: String,
}

pub async fn login(Extract(auth): Extract<Arc<Auth>>, Form(f): Form<LoginForm>) -> Response {
    let name = clean_name(&f.name);
    if name.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Html(login_html(Some(
                "Give your name: it goes into the alarm log.",
            ))),
        )
            .into_response();
    }
    if !same(f.token.trim().as_bytes(), auth.token.as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_html(Some("Wrong token."))),
        )
            .into_response();
    }
    let id = auth.login(&name);
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        auth.ttl.as_secs(),
        if auth.secure_cookie { "; Secure" } else { "" }
    );
    tracing::info!("login: {name}");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

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
        Auth::new(&HttpSettings {
            token: Some("0123456789abcdef".into()),
            session: Duration::from_secs(60),
            ..HttpSettings::default()
        })
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
    fn a_generated_token_when_none_is_configured() {
        let a = Auth::new(&HttpSettings::default());
        assert_eq!(a.token.len(), 32);
        assert_ne!(a.token, Auth::new(&HttpSettings::default()).token);
    }
}
