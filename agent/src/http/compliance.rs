//! Green-cutting endpoints: the live compliance state, operations, parts and summaries.

use axum::extract::{Query, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::{blocking_json, query, AppState};
use crate::store::Reader;
use crate::value::now_ms;

/// `GET /api/compliance`: every rule's live state with value, limit, since and source.
#[utoipa::path(
    get,
    path = "/api/compliance",
    tag = "compliance",
    responses((status = 200, description = "The profile, the verdict now and every rule's state.", body = crate::evaluators::compliance::LiveStatus)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn live(Extract(app): Extract<AppState>) -> Response {
    Json(app.compliance.get()).into_response()
}

/// Runs a store query on the blocking pool, on a read-only handle.
async fn read<T: serde::Serialize + Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static,
) -> Response {
    let store = app.store.clone();
    blocking_json(move || store.read(f)).await
}

/// `GET /api/operations?from_ms=&to_ms=&limit=`: finished operations with KPIs and violations.
#[utoipa::path(
    get,
    path = "/api/operations",
    tag = "compliance",
    responses(
        (status = 200, description = "Operations that ended in the window, newest first.", body = Vec<crate::store::OperationView>),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn operations(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Result<Response, ApiError> {
    let (from, to) = query::OPERATIONS.window(&q, now_ms())?;
    let limit = query::OPERATIONS.limit(&q)?;
    Ok(read(&app, move |r| r.operations(from, to, limit)).await)
}

/// `GET /api/parts?from_ms=&to_ms=&limit=`: finished parts with energy and oil per part.
#[utoipa::path(
    get,
    path = "/api/parts",
    tag = "compliance",
    responses(
        (status = 200, description = "Parts finished in the window, newest first.", body = Vec<crate::records::operation::PartRecord>),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn parts(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Result<Response, ApiError> {
    let (from, to) = query::PARTS.window(&q, now_ms())?;
    let limit = query::PARTS.limit(&q)?;
    Ok(read(&app, move |r| r.parts(from, to, limit)).await)
}

/// `GET /api/summary?period=shift|day` or `?from_ms=&to_ms=`: totals and per-part figures.
#[utoipa::path(
    get,
    path = "/api/summary",
    tag = "compliance",
    params(("period" = Option<String>, Query, description = "`shift` or `day`: the current shift or day from `[shifts]`; `from_ms` and `to_ms` are then not read.")),
    responses(
        (status = 200, description = "Totals and per-part figures of the window.", body = crate::store::Summary),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn summary(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Result<Response, ApiError> {
    let (from, to) = match q.get("period").map(String::as_str) {
        Some(p @ ("shift" | "day")) => app.shifts.window(p == "day", now_ms()),
        Some(other) => {
            return Err(ApiError::field(
                "period",
                format!("`period` must be shift or day, got `{other}`"),
            ))
        }
        None => query::SUMMARY.window(&q, now_ms())?,
    };
    let carbon = app.carbon.clone();
    Ok(read(&app, move |r| r.summary(from, to, &carbon)).await)
}
