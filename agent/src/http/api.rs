//! Handlers of the JSON API and the page.

use std::collections::HashMap;

use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
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

/// A bad request parameter: answered with 400 and the name of the field.
pub(super) struct BadField {
    pub field: &'static str,
    pub message: String,
}

impl IntoResponse for BadField {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "field": self.field });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

fn bad(field: &'static str, message: String) -> Response {
    BadField { field, message }.into_response()
}

pub(super) fn int_param(
    q: &HashMap<String, String>,
    field: &'static str,
    default: i64,
) -> Result<i64, BadField> {
    match q.get(field) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().map_err(|_| BadField {
            field,
            message: format!(
                "`{field}` must be an integer (ms since the Unix epoch or a count), got `{v}`"
            ),
        }),
    }
}

/// `GET /api/history?signal=NAME&from_ms=&to_ms=&limit=`: stored samples of one signal.
pub async fn history(
    Extract(app): Extract<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(signal) = q.get("signal").cloned() else {
        return bad(
            "signal",
            "`signal` is required, e.g. ?signal=spindle.speed".into(),
        );
    };
    if app.state.id(&signal).is_none() {
        return bad("signal", format!("no signal `{signal}` is configured"));
    }
    let now = now_ms();
    let parsed = (|| {
        Ok::<_, BadField>((
            int_param(&q, "from_ms", now - 3_600_000)?,
            int_param(&q, "to_ms", now)?,
            int_param(&q, "limit", 10_000)?,
        ))
    })();
    let (from, to, limit) = match parsed {
        Ok(x) => x,
        Err(b) => return b.into_response(),
    };
    if !(1..=100_000).contains(&limit) {
        return bad("limit", format!("`limit` must be 1..=100000, got {limit}"));
    }
    let store = app.store.clone();
    let unit = app.state.signals()[app.state.id(&signal).unwrap()]
        .unit
        .clone();
    let sig = signal.clone();
    blocking_json(move || {
        let samples = store.read(|r| r.history(&sig, from, to, limit as usize))?;
        Ok(json!({ "signal": signal, "unit": unit, "samples": samples }))
    })
    .await
}

/// Runs blocking work (SQLite) on the blocking pool and answers its result as JSON, or 500 with
/// the error.
pub(super) async fn blocking_json<T, F>(f: F) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    let error = |e: String| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e })),
        )
            .into_response()
    };
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(format!("{e:#}")),
        Err(e) => error(e.to_string()),
    }
}
