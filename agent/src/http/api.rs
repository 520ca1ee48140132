//! Handlers of the JSON API and the page.

use axum::extract::{Query, State as Extract};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::{blocking_json, query, AppState};
use crate::value::now_ms;

pub async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

pub async fn healthz(Extract(app): Extract<AppState>) -> Json<serde_json::Value> {
    let devices = app.state.device_views();
    Json(json!({
        "status": "ok",
        "machine_id": app.state.machine_id(),
        "devices_total": devices.len(),
        "devices_connected": devices.iter().filter(|d| d.connected).count(),
        "store_dropped_samples": app.state.dropped_samples(),
        "mqtt": app.fleet.as_ref().map(|f| {
            use std::sync::atomic::Ordering::Relaxed;
            json!({
                "connected": f.connected.load(Relaxed),
                "queued": f.queued.load(Relaxed),
                "dropped": f.dropped.load(Relaxed),
            })
        }),
    }))
}

pub async fn signals(Extract(app): Extract<AppState>) -> Response {
    Json(app.state.snapshot()).into_response()
}

pub async fn devices(Extract(app): Extract<AppState>) -> Response {
    Json(app.state.device_views()).into_response()
}

/// `GET /api/history?signal=NAME&from_ms=&to_ms=&limit=`: stored samples of one signal.
pub async fn history(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Result<Response, ApiError> {
    let Some(signal) = q.get("signal").cloned() else {
        return Err(ApiError::field(
            "signal",
            "`signal` is required, e.g. ?signal=spindle.speed",
        ));
    };
    let Some(id) = app.state.id(&signal) else {
        return Err(ApiError::field(
            "signal",
            format!("no signal `{signal}` is configured"),
        ));
    };
    let (from, to) = query::window(&q, now_ms(), 3_600_000)?;
    let limit = query::limit(&q, 10_000, 100_000)?;
    let store = app.store.clone();
    let unit = app.state.signals()[id].unit.clone();
    Ok(blocking_json(move || {
        let samples = store.read(|r| r.history(&signal, from, to, limit))?;
        Ok(json!({ "signal": signal, "unit": unit, "samples": samples }))
    })
    .await)
}
