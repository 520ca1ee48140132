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
#[utoipa::path(
    get,
    path = "/api/alarms",
    tag = "alarms",
    responses((status = 200, description = "Every alarm that is not normal, worst first, and the stack light.", body = super::openapi::AlarmList)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn list(Extract(app): Extract<AppState>) -> Response {
    let alarms = app.alarms.views();
    Json(json!({
        "alarms": *alarms,
        "lamps": crate::notify::gpio::lamps(&alarms),
    }))
    .into_response()
}

/// `GET /api/alarms/history?from_ms=&to_ms=&state=&severity=&key=&limit=`, newest first.
#[utoipa::path(
    get,
    path = "/api/alarms/history",
    tag = "alarms",
    params(
        ("state" = Option<crate::records::alarm::AlarmState>, Query, description = "Only transitions into this state."),
        ("severity" = Option<crate::condition::Severity>, Query, description = "Only alarms of this severity."),
        ("key" = Option<String>, Query, description = "Only this alarm."),
    ),
    responses(
        (status = 200, description = "Stored alarm transitions, newest first.", body = super::openapi::AlarmHistory),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/alarms/{key}/ack",
    tag = "alarms",
    params(("key" = String, Path, description = "The alarm's key, e.g. `device:plc:unavailable`.")),
    responses(
        (status = 200, description = "The alarm after the action.", body = super::openapi::AlarmAnswer),
        (status = 404, description = "No alarm has this key.", body = super::openapi::Error),
        (status = 409, description = "The alarm's state does not allow this now.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn ack(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::Acknowledge, who).await
}

/// `POST /api/alarms/{key}/shelve` with `{"minutes": 1..=1440}`.
#[utoipa::path(
    post,
    path = "/api/alarms/{key}/shelve",
    tag = "alarms",
    params(("key" = String, Path, description = "The alarm's key, e.g. `device:plc:unavailable`.")),
    request_body(content = super::openapi::ShelveRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The alarm after the action.", body = super::openapi::AlarmAnswer),
        (status = 400, description = "`minutes` is not an integer 1..=1440.", body = super::openapi::Error),
        (status = 404, description = "No alarm has this key.", body = super::openapi::Error),
        (status = 409, description = "The alarm's state does not allow this now.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/alarms/{key}/unshelve",
    tag = "alarms",
    params(("key" = String, Path, description = "The alarm's key, e.g. `device:plc:unavailable`.")),
    responses(
        (status = 200, description = "The alarm after the action.", body = super::openapi::AlarmAnswer),
        (status = 404, description = "No alarm has this key.", body = super::openapi::Error),
        (status = 409, description = "The alarm's state does not allow this now.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn unshelve(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::Unshelve, who).await
}

#[utoipa::path(
    post,
    path = "/api/alarms/{key}/out-of-service",
    tag = "alarms",
    params(("key" = String, Path, description = "The alarm's key, e.g. `device:plc:unavailable`.")),
    responses(
        (status = 200, description = "The alarm after the action.", body = super::openapi::AlarmAnswer),
        (status = 404, description = "No alarm has this key.", body = super::openapi::Error),
        (status = 409, description = "The alarm's state does not allow this now.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn out_of_service(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::RemoveFromService, who).await
}

#[utoipa::path(
    post,
    path = "/api/alarms/{key}/return-to-service",
    tag = "alarms",
    params(("key" = String, Path, description = "The alarm's key, e.g. `device:plc:unavailable`.")),
    responses(
        (status = 200, description = "The alarm after the action.", body = super::openapi::AlarmAnswer),
        (status = 404, description = "No alarm has this key.", body = super::openapi::Error),
        (status = 409, description = "The alarm's state does not allow this now.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn return_to_service(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(key): Path<String>,
) -> Response {
    act(app, key, Action::ReturnToService, who).await
}

/// `GET /api/components`: component life used, remaining, last reset.
#[utoipa::path(
    get,
    path = "/api/components",
    tag = "life",
    responses((status = 200, description = "Counter components: life used, remaining, last reset.", body = super::openapi::ComponentList)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn components(Extract(app): Extract<AppState>) -> Response {
    Json(json!({ "components": app.life.counter_views(&app.state) })).into_response()
}

/// `GET /api/counter-events?from_ms=&to_ms=&limit=`: counter steps the plausibility guards
/// refused (newest first, default: the last 30 days): why a usage figure is what it is.
#[utoipa::path(
    get,
    path = "/api/counter-events",
    tag = "history",
    responses(
        (status = 200, description = "Counter steps the plausibility guards refused, newest first.", body = super::openapi::CounterEvents),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
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
#[utoipa::path(
    get,
    path = "/api/access-events",
    tag = "access",
    responses(
        (status = 200, description = "Wrong tokens at the form or in a bearer header, newest first, with the client's address.", body = super::openapi::AccessEvents),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
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
#[utoipa::path(
    post,
    path = "/api/components/{name}/reset",
    tag = "life",
    params(("name" = String, Path, description = "The counter component, as configured.")),
    responses(
        (status = 200, description = "The component after its reset: life used counts again from the counter's value now.", body = super::openapi::ComponentAnswer),
        (status = 404, description = "No counter component has this name.", body = super::openapi::Error),
        (status = 409, description = "Its counter has no good value now, so the reset cannot be taken.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/maintenance",
    tag = "pages",
    responses((status = 200, description = "The maintenance page: alarms, their history, components.", content_type = "text/html", body = String)),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn maintenance_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("maintenance.html"))
}
