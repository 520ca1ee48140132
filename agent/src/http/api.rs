//! Handlers of the JSON API and the page.

use axum::extract::{Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::{blocking_json, query, AppState};
use crate::supervise::PulseView;
use crate::value::now_ms;

#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    responses((status = 200, description = "The machinist's status page (no external assets).", content_type = "text/html", body = String)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// `GET /healthz`: built from facts. Each supervised loop's last completed step (the evaluator
/// loop and each evaluator, the alarm tick, the store's writer), the store's last commit and
/// backlog, the MQTT outbox's backlog, device counts. `status` is `ok`; `degraded` (200) when
/// something loses data but every loop runs (the store is unavailable or its writes fail);
/// `failing` (503) when a loop is stuck: alarms or evaluations have stopped. `problems` says
/// what is wrong, in words. `clock` says whether the wall clock is synchronised; one that
/// reads before the agent was built makes every timestamp wrong (`degraded`).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "Every loop runs: `ok`, or `degraded` with its problems.", body = super::openapi::Health),
        (status = 503, description = "A supervised loop is stuck (`failing`); or no answer in time (empty body).", body = super::openapi::Health),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn healthz(Extract(app): Extract<AppState>) -> Response {
    let (stuck, body) = health(&app);
    let code = if stuck {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}

/// `/healthz`'s body, and whether a loop is stuck (the live stream sends the same body).
pub fn health(app: &AppState) -> (bool, serde_json::Value) {
    use std::sync::atomic::Ordering::Relaxed;
    let devices = app.state.device_views();
    let store = app.store.status();
    let loops: std::collections::BTreeMap<String, PulseView> = app
        .loops
        .iter()
        .map(|p| (p.name().to_string(), p.view()))
        .collect();
    let mut problems = Vec::new();
    for l in loops.values().filter(|l| l.stuck) {
        problems.push(format!(
            "{}: no completed step for {:.1} s{}",
            l.name,
            l.last_tick_age_ms as f64 / 1000.0,
            l.last_panic.as_ref().map_or(String::new(), |p| format!(
                " ({} panics, the last: {p})",
                l.panics
            ))
        ));
    }
    let stuck = !problems.is_empty();
    match store.state {
        "unavailable" => problems.push(format!(
            "store unavailable, nothing is stored: {}",
            store.reason.as_deref().unwrap_or("")
        )),
        "failing" => problems.push(format!(
            "store writes fail ({} samples and {} records waiting, the oldest dropped beyond \
             the bounds): {}",
            store.backlog_samples,
            store.backlog_records,
            store.reason.as_deref().unwrap_or("")
        )),
        _ => {}
    }
    let clock = crate::clock::wall_status();
    problems.extend(clock.problem());
    let status = match (stuck, problems.is_empty()) {
        (true, _) => "failing",
        (false, false) => "degraded",
        (false, true) => "ok",
    };
    let body = json!({
        "status": status,
        "problems": problems,
        "machine_id": app.state.machine_id(),
        "language": app.language,
        "devices_total": devices.len(),
        "devices_connected": devices.iter().filter(|d| d.connected).count(),
        "store_dropped_samples": app.state.dropped_samples(),
        "loops": loops,
        "store": store,
        "clock": clock,
        "mqtt": app.fleet.as_ref().map(|f| {
            json!({
                "connected": f.connected.load(Relaxed),
                "queued": f.queued.load(Relaxed),
                "queued_on_disk": f.queued_on_disk.load(Relaxed),
                "dropped": f.dropped.load(Relaxed),
            })
        }),
    });
    (stuck, body)
}

#[utoipa::path(
    get,
    path = "/api/signals",
    tag = "live",
    responses((status = 200, description = "Every signal with its value, quality and age, in configuration order.", body = Vec<crate::state::SignalView>)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn signals(Extract(app): Extract<AppState>) -> Response {
    Json(app.state.snapshot()).into_response()
}

#[utoipa::path(
    get,
    path = "/api/devices",
    tag = "live",
    responses((status = 200, description = "Every device, its connection and counters.", body = Vec<crate::state::DeviceView>)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn devices(Extract(app): Extract<AppState>) -> Response {
    Json(app.state.device_views()).into_response()
}

/// `GET /api/history?signal=NAME&from_ms=&to_ms=&limit=`: stored samples of one signal.
#[utoipa::path(
    get,
    path = "/api/history",
    tag = "history",
    params(("signal" = String, Query, description = "A configured signal, e.g. `spindle.speed`.")),
    responses(
        (status = 200, description = "The stored samples of the signal in the window, oldest first.", body = super::openapi::SignalHistory),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
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
    let (from, to) = query::HISTORY.window(&q, now_ms())?;
    let limit = query::HISTORY.limit(&q)?;
    let store = app.store.clone();
    let unit = app.state.signals()[id].unit.clone();
    Ok(blocking_json(move || {
        let samples = store.read(|r| r.history(&signal, from, to, limit))?;
        Ok(json!({ "signal": signal, "unit": unit, "samples": samples }))
    })
    .await)
}
