//! Alarm and component endpoints. Reading: `GET /api/alarms`, `GET /api/alarms/history`,
//! `GET /api/components`, `GET /api/counter-events`. Changing (behind `auth::require`): acknowledge, shelve, unshelve,
//! out-of-service, return-to-service, component reset.

use axum::extract::{Extension, Path, Query, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::Who;
use super::error::ApiError;
use super::{query, AppState};
use crate::alarms::engine::ActError;
use crate::alarms::lifecycle::Action;
use crate::condition::Severity;
use crate::evaluators::life::ResetError;
use crate::field::BadField;
use crate::records::alarm::AlarmState;
use crate::store::HistoryFilter;
use crate::value::now_ms;

fn bad(field: &'static str, message: impl Into<String>) -> Response {
    ApiError::field(field, message).into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    ApiError::internal(e).into_response()
}

/// `GET /api/alarms`: every alarm that is not normal, worst first, and the stack light.
pub async fn list(Extract(app): Extract<AppState>) -> Response {
    let alarms = app.alarms.views();
    Json(json!({
        "alarms": *alarms,
        "lamps": crate::notify::gpio::lamps(&alarms),
    }))
    .into_response()
}

/// `GET /api/alarms/history?from_ms=&to_ms=&state=&severity=&key=&limit=`, newest first.
pub async fn history(Extract(app): Extract<AppState>, Query(q): Query<query::Query>) -> Response {
    let parsed = (|| {
        Ok::<_, BadField>((
            query::ALARM_HISTORY.window(&q, now_ms())?,
            query::ALARM_HISTORY.limit(&q)?,
        ))
    })();
    let ((from_ms, to_ms), limit) = match parsed {
        Ok(x) => x,
        Err(b) => return ApiError::from(b).into_response(),
    };
    let state = match q.get("state").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match AlarmState::parse(s) {
            Some(x) => Some(x),
            None => {
                let all: Vec<&str> = AlarmState::ALL.iter().map(|s| s.as_str()).collect();
                return bad(
                    "state",
                    format!("unknown state `{s}` (one of: {})", all.join(", ")),
                );
            }
        },
    };
    let severity = match q.get("severity").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Severity::parse(s) {
            Some(x) => Some(x),
            None => {
                return bad(
                    "severity",
                    format!("unknown severity `{s}` (info, warning or critical)"),
                )
            }
        },
    };
    let f = HistoryFilter {
        from_ms,
        to_ms,
        state,
        severity,
        key: q.get("key").filter(|s| !s.is_empty()).cloned(),
        limit,
    };
    let alarms = app.alarms.clone();
    match tokio::task::spawn_blocking(move || alarms.history(&f)).await {
        Ok(Ok(rows)) => Json(json!({ "events": rows })).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => internal(e),
    }
}

async fn act(app: AppState, key: String, action: Action, who: String) -> Response {
    let alarms = app.alarms.clone();
    match tokio::task::spawn_blocking(move || alarms.act(&key, action, &who)).await {
        Ok(Ok(view)) => Json(json!({ "alarm": view })).into_response(),
        Ok(Err(e @ ActError::Unknown(_))) => ApiError::NotFound(e.to_string()).into_response(),
        Ok(Err(e @ ActError::Refused(_))) => ApiError::Conflict(e.to_string()).into_response(),
        Err(e) => internal(e),
    }
}

pub async fn ack(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::Acknowledge, who).await
}

/// `POST /api/alarms/{key}/shelve` with `{"minutes": 1..=1440}`.
pub async fn shelve(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return bad(
                "minutes",
                format!("body must be JSON like {{\"minutes\": 30}}: {e}"),
            )
        }
    };
    let minutes = match v.get("minutes").and_then(|m| m.as_i64()) {
        Some(m) if (1..=1440).contains(&m) => m,
        _ => {
            return bad(
                "minutes",
                format!(
                    "`minutes` must be an integer 1..=1440, got {}",
                    v.get("minutes").unwrap_or(&serde_json::Value::Null)
                ),
            )
        }
    };
    let until_ms = now_ms() + minutes * 60_000;
    act(app, key, Action::Shelve { until_ms }, who).await
}

pub async fn unshelve(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::Unshelve, who).await
}

pub async fn out_of_service(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::RemoveFromService, who).await
}

pub async fn return_to_service(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::ReturnToService, who).await
}

/// `GET /api/components`: component life used, remaining, last reset.
pub async fn components(Extract(app): Extract<AppState>) -> Response {
    Json(json!({ "components": app.life.counter_views(&app.state) })).into_response()
}

/// `GET /api/counter-events?from_ms=&to_ms=&limit=`: counter steps the plausibility guards
/// refused (newest first, default: the last 30 days): why a usage figure is what it is.
pub async fn counter_events(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Response {
    let parsed = (|| {
        Ok::<_, BadField>((
            query::COUNTER_EVENTS.window(&q, now_ms())?,
            query::COUNTER_EVENTS.limit(&q)?,
        ))
    })();
    let ((from_ms, to_ms), limit) = match parsed {
        Ok(x) => x,
        Err(b) => return ApiError::from(b).into_response(),
    };
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || {
        store.read(|r| r.counter_events(from_ms, to_ms, limit))
    })
    .await
    {
        Ok(Ok(events)) => Json(json!({ "events": events })).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /api/access-events?from_ms=&to_ms=&limit=`, behind the token: wrong tokens at the form
/// or in a bearer header (newest first, default: the last 30 days), with the client's address.
pub async fn access_events(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Response {
    let parsed = (|| {
        Ok::<_, BadField>((
            query::ACCESS_EVENTS.window(&q, now_ms())?,
            query::ACCESS_EVENTS.limit(&q)?,
        ))
    })();
    let ((from_ms, to_ms), limit) = match parsed {
        Ok(x) => x,
        Err(b) => return ApiError::from(b).into_response(),
    };
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || {
        store.read(|r| r.access_events(from_ms, to_ms, limit))
    })
    .await
    {
        Ok(Ok(events)) => Json(json!({ "events": events })).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /api/components/{name}/reset`: the component was replaced.
pub async fn reset_component(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(name): Path<String>,
) -> Response {
    let (life, state) = (app.life.clone(), app.state.clone());
    match tokio::task::spawn_blocking(move || life.reset_component(&state, &name, &who)).await {
        Ok(Ok(view)) => Json(json!({ "component": view })).into_response(),
        Ok(Err(e @ ResetError::Unknown(_))) => ApiError::NotFound(e.to_string()).into_response(),
        Ok(Err(e @ ResetError::NoValue(_))) => ApiError::Conflict(e.to_string()).into_response(),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

pub async fn maintenance_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("maintenance.html"))
}
