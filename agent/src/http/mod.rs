//! The HTTP server: the machinist's status page and the JSON API, read-only for now.

mod api;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::state::State;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub state: Arc<State>,
    pub store: Arc<Store>,
}

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(api::page))
        .route("/healthz", get(api::healthz))
        .route("/api/signals", get(api::signals))
        .route("/api/devices", get(api::devices))
        .route("/api/history", get(api::history))
        .with_state(app)
}

/// Binds `listen` and serves until the task is aborted. Returns the bound address (so port 0
/// works for tests) and the task.
pub async fn serve(
    listen: &str,
    app: AppState,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("HTTP server cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(app)).await {
            tracing::error!("HTTP server stopped: {e}");
        }
    });
    Ok((addr, task))
}
