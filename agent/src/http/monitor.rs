//! `GET /api/monitor`: process monitoring as the page's load chart and a maintenance view read
//! it: per operation whether its envelope is learned and what its detectors say, and the
//! operation under way with the band the envelope expects at each position.

use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

pub async fn view(Extract(app): Extract<AppState>) -> Response {
    Json(json!({
        "enabled": app.monitor.enabled,
        "operations": app.monitor.get(),
        "live": app.monitor.live(),
    }))
    .into_response()
}
