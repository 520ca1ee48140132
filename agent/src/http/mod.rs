//! The HTTP server: the machinist's status page and the JSON API. Reading is open on the local
//! network by default; every change (acknowledge, shelve, tables, tool-change labels) needs the
//! token (`auth`).

mod alarms;
mod api;
pub mod auth;
mod compliance;
mod error;
mod export;
mod life;
mod metrics;
mod monitor;
pub mod openapi;
mod query;
pub mod stream;
mod tables;
pub mod tls;
pub mod trend;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;

use crate::config::Shifts;
use crate::state::State;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub state: Arc<State>,
    pub store: Arc<Store>,
    pub compliance: Arc<crate::evaluators::compliance::Live>,
    pub life: Arc<crate::evaluators::life::Life>,
    pub shifts: Shifts,
    /// The factors behind the carbon figures (`[carbon]`), shown with them.
    pub carbon: crate::config::Carbon,
    /// The machine context: where the tool and program tables are.
    pub machine: Arc<crate::config::machine::MachineContext>,
    pub alarms: Arc<crate::alarms::Alarms>,
    /// The alarm channels, for their delivery counters.
    pub notifier: Arc<crate::notify::Notifier>,
    pub auth: Arc<auth::Auth>,
    /// Publishing to the broker, when configured.
    pub fleet: Option<Arc<crate::fleet::FleetStats>>,
    /// The heartbeats of the agent's loops (evaluators and each evaluator, alarms, the store's
    /// writer): `/healthz` answers 503 when one is stuck.
    pub loops: Vec<Arc<crate::supervise::Pulse>>,
    /// Process monitoring: each operation's envelope and the operation under way.
    pub monitor: Arc<crate::evaluators::monitor::View>,
    /// The live stream's producer and open streams (`GET /api/stream`).
    pub stream: Arc<stream::Hub>,
    /// `[agent] language`: the pages' language, in `/healthz`.
    pub language: String,
}

/// The limits every request runs under (`[http] request_timeout_s`, `max_requests`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request that has no answer after this gets 503: a stuck store read cannot hold a
    /// connection for ever.
    pub timeout: std::time::Duration,
    /// Requests handled at once; more wait (and time out): a burst from a script or ten tablets
    /// cannot take the Pi's memory and CPU from acquisition.
    pub concurrent: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: std::time::Duration::from_secs(60),
            concurrent: 32,
        }
    }
}

pub fn router(app: AppState, limits: Limits) -> Router {
    limited(routes(app.auth.clone()).with_state(app), limits)
}

/// `routes` under the request timeout and the one concurrency limit.
fn limited(routes: Router, limits: Limits) -> Router {
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                limits.timeout,
            ))
            // Global: one count for every route (a plain `ConcurrencyLimitLayer` would give each
            // route its own).
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                limits.concurrent,
            )),
    )
}

/// Every route (`openapi::routed_paths` reads them from here for the document's test).
fn routes(auth: Arc<auth::Auth>) -> Router<AppState> {
    Router::new()
        .route("/", get(api::page))
        .route("/healthz", get(api::healthz))
        .route("/api/signals", get(api::signals))
        .route("/api/stream", get(stream::stream))
        .route("/api/devices", get(api::devices))
        .route("/api/history", get(api::history))
        .route("/api/compliance", get(compliance::live))
        .route("/api/operations", get(compliance::operations))
        .route("/api/parts", get(compliance::parts))
        .route("/api/summary", get(compliance::summary))
        .route("/api/life", get(life::view))
        .route("/api/life/prerun", get(life::prerun))
        .route("/api/life/trend", get(life::trend))
        .route("/api/monitor", get(monitor::view))
        .route("/api/tables/{which}", get(tables::get))
        .route("/maintenance", get(alarms::maintenance_page))
        .route("/api/alarms", get(alarms::list))
        .route("/api/alarms/history", get(alarms::history))
        .route("/api/components", get(alarms::components))
        .route("/api/counter-events", get(alarms::counter_events))
        .route("/metrics", get(metrics::metrics))
        // Everything above is reading: open unless `[http] read_requires_auth`.
        .route_layer(from_fn_with_state(auth.clone(), auth::require_for_reading))
        .merge(changing(auth.clone()))
        .merge(
            Router::new()
                .route("/login", get(auth::login_page).post(auth::login))
                .route("/logout", post(auth::logout))
                .route("/api/session", get(auth::session))
                // Describes the API, discloses no data: open like the login form.
                .route("/api/openapi.json", get(openapi::serve))
                .with_state(auth),
        )
}

/// Every route that changes something, behind the token. A new mutating route goes here, and
/// so does a reading route whose answer is for the token's holders only (exports, the access
/// audit trail).
fn changing(a: Arc<auth::Auth>) -> Router<AppState> {
    Router::new()
        .route("/api/alarms/{key}/ack", post(alarms::ack))
        .route("/api/alarms/{key}/shelve", post(alarms::shelve))
        .route("/api/alarms/{key}/unshelve", post(alarms::unshelve))
        .route(
            "/api/alarms/{key}/out-of-service",
            post(alarms::out_of_service),
        )
        .route(
            "/api/alarms/{key}/return-to-service",
            post(alarms::return_to_service),
        )
        .route(
            "/api/components/{name}/reset",
            post(alarms::reset_component),
        )
        .route("/api/tools/{id}/change", post(life::change))
        .route("/api/tools/{id}/wear", post(life::measure_wear))
        .route("/api/tables/{which}", axum::routing::put(tables::put))
        .route("/api/export", get(export::download))
        .route("/api/access-events", get(alarms::access_events))
        .route_layer(from_fn_with_state(a, auth::require))
}

/// Binds `listen` and serves until the task is aborted. Returns the bound address (so port 0
/// works for tests) and the task.
pub async fn serve(
    listen: &str,
    app: AppState,
    limits: Limits,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP server cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // With the client's address: the login back-off is per address.
        let service = router(app, limits).into_make_service_with_connect_info::<auth::Peer>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!("HTTP server stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// Like `serve`, over HTTPS (`[http] tls_cert` / `tls_key`).
pub async fn serve_tls(
    listen: &str,
    app: AppState,
    limits: Limits,
    tls: Arc<rustls::ServerConfig>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("HTTPS server cannot listen on {listen}: {e}"))?;
    let listener = tls::TlsListener::new(tcp, tls)?;
    let addr = axum::serve::Listener::local_addr(&listener)?;
    let task = tokio::spawn(async move {
        let service = router(app, limits).into_make_service_with_connect_info::<auth::Peer>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!("HTTPS server stopped: {e}");
        }
    });
    Ok((addr, task))
}

/// Runs blocking work (SQLite) on the blocking pool and answers its result as JSON, or the
/// error (503 for a store that records nothing this run, else 500).
async fn blocking_json<T, F>(f: F) -> axum::response::Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    use axum::response::IntoResponse;
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => error::ApiError::from(e).into_response(),
        Err(e) => error::ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::routing::get;
    use axum::Router;

    use super::{limited, Limits};

    /// Serves `router` on a free loopback port.
    async fn serve(router: Router) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_request_without_an_answer_in_time_gets_503() {
        let slow = Router::new()
            .route("/slow", get(std::future::pending::<&'static str>))
            .route("/fast", get(|| async { "ok" }));
        let url = serve(limited(
            slow,
            Limits {
                timeout: Duration::from_millis(200),
                concurrent: 4,
            },
        ))
        .await;
        let r = reqwest::get(format!("{url}/slow")).await.unwrap();
        assert_eq!(r.status(), 503);
        let r = reqwest::get(format!("{url}/fast")).await.unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn no_more_requests_run_at_once_than_the_limit_across_routes() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let handler = {
            let (now, most) = (now.clone(), most.clone());
            move || {
                let (now, most) = (now.clone(), most.clone());
                async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(n, Ordering::SeqCst);
                    // Long enough that, without the limit, the requests would overlap.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    "ok"
                }
            }
        };
        let routes = Router::new()
            .route("/a", get(handler.clone()))
            .route("/b", get(handler));
        let url = serve(limited(
            routes,
            Limits {
                timeout: Duration::from_secs(30),
                concurrent: 2,
            },
        ))
        .await;
        let client = reqwest::Client::new();
        let requests = (0..12).map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let path = if i % 2 == 0 { "a" } else { "b" };
                client
                    .get(format!("{url}/{path}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        });
        for r in futures::future::join_all(requests).await {
            assert_eq!(
                r.unwrap(),
                200,
                "every request is answered, the extra ones later"
            );
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "at most the limit at once, and it was reached"
        );
    }
}
