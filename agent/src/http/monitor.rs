//! `GET /api/monitor`: process monitoring as the page's load chart and a maintenance view read
//! it: per operation whether its envelope is learned and what its detectors say, and the
//! operation under way with the band the envelope expects at each position.

use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::evaluators::monitor::{LiveRun, OperationStatus};

/// `GET /api/monitor`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a description: `view` builds the answer
pub struct MonitorAnswer {
    /// `[monitor]` is on.
    pub enabled: bool,
    pub operations: Vec<OperationStatus>,
    /// The operation under way, or the last one until the next starts; `null` before any.
    pub live: Option<LiveRun>,
}

#[utoipa::path(
    get,
    path = "/api/monitor",
    tag = "live",
    responses(
        (status = 200, description = "Each operation's envelope (learned or learning) and its detectors' findings, and the operation under way along its path with its band.", body = MonitorAnswer),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn view(Extract(app): Extract<AppState>) -> Response {
    Json(body(&app)).into_response()
}

/// The answer, also the live stream's `monitor` event.
pub fn body(app: &AppState) -> serde_json::Value {
    json!({
        "enabled": app.monitor.enabled,
        "operations": app.monitor.get(),
        "live": app.monitor.live(),
    })
}
