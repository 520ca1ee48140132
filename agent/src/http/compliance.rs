//! Green-cutting endpoints: the live compliance state, operations, parts and summaries.

use std::collections::HashMap;

use axum::extract::{Query, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::api::{blocking_json, int_param, BadField};
use super::AppState;
use crate::store::Reader;
use crate::value::now_ms;

/// `GET /api/compliance`: every rule's live state with value, limit, since and source.
pub async fn live(Extract(app): Extract<AppState>) -> Response {
    Json(app.compliance.get()).into_response()
}

/// Runs a store query on the blocking pool, on a read-only handle.
async fn query<T: serde::Serialize + Send + 'static>(
    app: &AppState,
    f: impl FnOnce(&Reader) -> anyhow::Result<T> + Send + 'static,
) -> Response {
    let store = app.store.clone();
    blocking_json(move || store.read(f)).await
}

fn window(q: &HashMap<String, String>, default_span_ms: i64) -> Result<(i64, i64), BadField> {
    let now = now_ms();
    let to = int_param(q, "to_ms", now)?;
    let from = int_param(q, "from_ms", to - default_span_ms)?;
    if from > to {
        return Err(BadField {
            field: "from_ms",
            message: format!("`from_ms` ({from}) is after `to_ms` ({to})"),
        });
    }
    Ok((from, to))
}

/// `GET /api/operations?from_ms=&to_ms=&limit=`: finished operations with KPIs and violations.
pub async fn operations(
    Extract(app): Extract<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let parsed = window(&q, 8 * 3_600_000).and_then(|w| Ok((w, int_param(&q, "limit", 1000)?)));
    let ((from, to), limit) = match parsed {
        Ok(x) => x,
        Err(b) => return b.into_response(),
    };
    if !(1..=100_000).contains(&limit) {
        return BadField {
            field: "limit",
            message: format!("`limit` must be 1..=100000, got {limit}"),
        }
        .into_response();
    }
    query(&app, move |r| r.operations(from, to, limit as usize)).await
}

/// `GET /api/parts?from_ms=&to_ms=`: finished parts with energy and oil per part.
pub async fn parts(
    Extract(app): Extract<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match window(&q, 24 * 3_600_000) {
        Ok((from, to)) => query(&app, move |r| r.parts(from, to)).await,
        Err(b) => b.into_response(),
    }
}

/// `GET /api/summary?period=shift|day` or `?from_ms=&to_ms=`: totals and per-part figures.
pub async fn summary(
    Extract(app): Extract<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (from, to) = match q.get("period").map(String::as_str) {
        Some(p @ ("shift" | "day")) => {
            let (from, to) = app.shifts.window(p == "day", now_ms());
            (from, to)
        }
        Some(other) => {
            return BadField {
                field: "period",
                message: format!("`period` must be shift or day, got `{other}`"),
            }
            .into_response()
        }
        None => match window(&q, 8 * 3_600_000) {
            Ok(w) => w,
            Err(b) => return b.into_response(),
        },
    };
    query(&app, move |r| r.summary(from, to)).await
}
