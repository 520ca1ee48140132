//! `GET /api/openapi.json`: the API described as an OpenAPI 3.1 document, served without a token
//! (it describes the routes, it discloses no data).
//!
//! The document is derived, not written: each handler carries its route, parameters and answers
//! in a `#[utoipa::path]` attribute beside its code, and the types it answers with derive
//! `ToSchema` where they are defined, so a field added to a type is in the document at the next
//! build. What the handlers build as `json!` wrappers is described by the types below; the
//! end-to-end test (`tests/openapi.rs`) checks every route's real answers against the document,
//! closed to fields it does not list, and that the router and the document list the same routes
//! and methods ([`routed_paths`]). What every route shares is added here once ([`Shared`]):
//! the time-window and row-limit parameters from `query::Bounds`, the answers of the token check
//! (401, 429) and of the request timeout (503).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

use super::query::{self, Bounds};
use crate::clock::WallStatus;
use crate::config::tables::{ProgramEntry, ToolEntry};
use crate::records::tool::ChangeReason;
use crate::supervise::PulseView;

/// The document, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string(&document()).expect("an OpenAPI document always serialises")
});

/// The OpenAPI document of this agent's API.
pub fn document() -> utoipa::openapi::OpenApi {
    Api::openapi()
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object)),
)]
pub async fn serve() -> axum::response::Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "green-agent API",
        description = "The agent's page and JSON API. Reading is open on the local network unless \
            `[http] read_requires_auth`; every change, the export and the access audit trail need \
            the agent's token (`Authorization: Bearer <token>`, optionally with `X-Agent-User: \
            <name>` for the audit trail) or a session cookie from `POST /login`. Times are ms \
            since the Unix epoch; each value carries its quality and age.",
    ),
    paths(
        super::api::page,
        super::api::healthz,
        super::api::signals,
        super::api::devices,
        super::api::history,
        super::compliance::live,
        super::compliance::operations,
        super::compliance::parts,
        super::compliance::summary,
        super::life::view,
        super::life::prerun,
        super::life::trend,
        super::monitor::view,
        super::stream::stream,
        super::life::change,
        super::life::measure_wear,
        super::tables::get,
        super::tables::put,
        super::alarms::maintenance_page,
        super::alarms::list,
        super::alarms::history,
        super::alarms::components,
        super::alarms::counter_events,
        super::alarms::access_events,
        super::alarms::ack,
        super::alarms::shelve,
        super::alarms::unshelve,
        super::alarms::out_of_service,
        super::alarms::return_to_service,
        super::alarms::reset_component,
        super::metrics::metrics,
        super::export::download,
        super::auth::login_page,
        super::auth::login,
        super::auth::logout,
        super::auth::session,
        serve,
    ),
    components(schemas(Error, Unauthorized)),
    modifiers(&Shared),
    tags(
        (name = "live", description = "What the machine does now."),
        (name = "history", description = "What the store kept; bounded windows and row limits."),
        (name = "compliance", description = "Near-dry and dry cutting against the standards profiles."),
        (name = "life", description = "Tool and component life."),
        (name = "alarms", description = "Alarms (ISA-18.2 states) and who changed them."),
        (name = "tables", description = "The tool table and the program table."),
        (name = "access", description = "Login, sessions and the token."),
        (name = "pages", description = "HTML for people."),
        (name = "meta", description = "Health, metrics and this document."),
    ),
)]
struct Api;

/// The answer of every refused request: what is wrong, in words.
#[derive(ToSchema)]
pub struct Error {
    pub error: String,
    /// The request field at fault (a query parameter, a body field, or `id` for the path), for
    /// a 400.
    pub field: Option<String>,
}

/// 401: the route needs the token.
#[derive(ToSchema)]
pub struct Unauthorized {
    pub error: String,
    /// Where a person logs in (`/login`).
    pub login: String,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    pub status: HealthStatus,
    /// What is wrong, in words; empty when `ok`.
    pub problems: Vec<String>,
    pub machine_id: String,
    /// `[agent] language`: the pages' language where the browser chose none.
    pub language: String,
    pub devices_total: u64,
    pub devices_connected: u64,
    /// Samples the store's queue dropped (oldest first) since start.
    pub store_dropped_samples: u64,
    /// Each supervised loop's heartbeat, by name.
    pub loops: BTreeMap<String, PulseView>,
    pub store: crate::store::StoreStatus,
    pub clock: WallStatus,
    /// Publishing to the broker; `null` without `[mqtt]`.
    pub mqtt: Option<MqttHealth>,
}

/// `ok`; `degraded` (200) when something loses data but every loop runs; `failing` (503) when a
/// loop is stuck.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // a description only: `healthz` sends the name
pub enum HealthStatus {
    Ok,
    Degraded,
    Failing,
}

#[derive(ToSchema)]
pub struct MqttHealth {
    pub connected: bool,
    /// Messages waiting for the broker's acknowledgement, in memory.
    pub queued: u64,
    pub queued_on_disk: u64,
    /// Messages dropped for the outbox's byte budget since start.
    pub dropped: u64,
}

/// `GET /api/history`.
#[derive(ToSchema)]
pub struct SignalHistory {
    pub signal: String,
    pub unit: String,
    /// Oldest first.
    pub samples: Vec<crate::store::StoredSample>,
}

/// `GET /api/life/prerun`.
#[derive(ToSchema)]
pub struct PrerunAnswer {
    pub program: String,
    pub verdict: super::life::Prerun,
    pub tools: Vec<super::life::PrerunTool>,
}

/// `GET` and `PUT /api/tables/{which}`: the table as its file holds it.
#[derive(ToSchema)]
pub struct TableAnswer {
    pub file: String,
    pub entries: Vec<TableEntry>,
}

/// A row of the tool table or of the program table.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a description only: the handlers send the entries themselves
pub enum TableEntry {
    Tool(ToolEntry),
    Program(ProgramEntry),
}

/// `GET /api/alarms`.
#[derive(ToSchema)]
pub struct AlarmList {
    /// Every alarm that is not normal, worst first.
    pub alarms: Vec<crate::alarms::engine::AlarmView>,
    /// What the stack light shows.
    pub lamps: crate::notify::gpio::Lamps,
}

/// `GET /api/alarms/history`, newest first.
#[derive(ToSchema)]
pub struct AlarmHistory {
    pub events: Vec<crate::store::HistoryRow>,
}

/// The alarm after an operator's action.
#[derive(ToSchema)]
pub struct AlarmAnswer {
    pub alarm: crate::alarms::engine::AlarmView,
}

/// `POST /api/alarms/{key}/shelve`.
#[derive(ToSchema)]
pub struct ShelveRequest {
    #[schema(minimum = 1, maximum = 1440)]
    pub minutes: i64,
}

/// `POST /api/tools/{id}/change`.
#[derive(ToSchema)]
pub struct ToolChangeRequest {
    pub reason: ChangeReason,
    /// Flank wear measured on the tool taken out (mm).
    #[schema(minimum = 0.0, maximum = 5.0)]
    pub measured_vb_mm: Option<f64>,
}

/// `POST /api/tools/{id}/wear`.
#[derive(ToSchema)]
pub struct WearMeasurementRequest {
    /// Flank wear measured on the tool, which stays in (mm).
    #[schema(minimum = 0.0, maximum = 5.0)]
    pub vb_mm: f64,
}

/// `GET /api/components`.
#[derive(ToSchema)]
pub struct ComponentList {
    pub components: Vec<crate::evaluators::life::CounterView>,
}

/// `POST /api/components/{name}/reset`.
#[derive(ToSchema)]
pub struct ComponentAnswer {
    pub component: crate::evaluators::life::CounterView,
}

/// `GET /api/counter-events`, newest first.
#[derive(ToSchema)]
pub struct CounterEvents {
    pub events: Vec<crate::records::counter::CounterEvent>,
}

/// `GET /api/access-events`, newest first.
#[derive(ToSchema)]
pub struct AccessEvents {
    pub events: Vec<crate::records::access::AccessEvent>,
}

/// `GET /api/session`.
#[derive(ToSchema)]
pub struct Session {
    pub authenticated: bool,
    /// The name given at login (`api` for a bearer token without `X-Agent-User`).
    pub who: Option<String>,
}

/// Routes and the `Bounds` of their window and limit parameters.
const BOUNDED: &[(&str, Bounds)] = &[
    ("/api/history", query::HISTORY),
    ("/api/operations", query::OPERATIONS),
    ("/api/parts", query::PARTS),
    ("/api/summary", query::SUMMARY),
    ("/api/counter-events", query::COUNTER_EVENTS),
    ("/api/access-events", query::ACCESS_EVENTS),
    ("/api/alarms/history", query::ALARM_HISTORY),
];

/// What every route shares, added once: the security schemes; the window and limit
/// parameters; 401 and 429 where the token is checked; 503 for the request timeout.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The agent's token (`[http] token`, `token_file`, or the generated \
                         `http-token` beside the store). Wrong tokens back off per client \
                         address: five are free, then each waits twice as long (429).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "agent_session",
                "The session cookie `POST /login` sets (HttpOnly, SameSite=Strict).",
            ))),
        );
        for (path, bounds) in BOUNDED {
            let item = doc
                .paths
                .paths
                .get_mut(*path)
                .unwrap_or_else(|| panic!("{path} has bounds but is not in the document"));
            let op = item.get.as_mut().expect("a bounded route is a GET");
            op.parameters
                .get_or_insert_with(Vec::new)
                .extend(window(bounds));
        }
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                shared_answers(op);
            }
        }
    }
}

/// `from_ms`, `to_ms` and (where rows are listed) `limit`, from the route's bounds.
fn window(b: &Bounds) -> Vec<Parameter> {
    const H: i64 = 3_600_000;
    let span = |ms: i64| {
        if ms % (24 * H) == 0 {
            format!("{} days", ms / (24 * H))
        } else {
            format!("{} h", ms / H)
        }
    };
    let int = |min: Option<i64>, max: Option<i64>| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(min.map(|v| v as f64))
            .maximum(max.map(|v| v as f64))
            .build()
    };
    let param = |name: &str, description: String, schema| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(schema))
            .build()
    };
    let mut out = vec![
        param(
            "from_ms",
            format!(
                "Start of the window (ms since the Unix epoch); default: {} before `to_ms`. \
                 One request reads at most {} (400 naming `from_ms` beyond).",
                span(b.default_span_ms),
                span(b.max_span_ms)
            ),
            int(None, None),
        ),
        param(
            "to_ms",
            "End of the window (ms since the Unix epoch); default: now.".into(),
            int(None, None),
        ),
    ];
    if b.max_limit > 0 {
        out.push(param(
            "limit",
            format!(
                "Most rows; default {}, at most {} (400 naming `limit` beyond).",
                b.default_limit, b.max_limit
            ),
            int(Some(1), Some(b.max_limit)),
        ));
    }
    out
}

/// 401 and 429 where the token is checked (always, or with `read_requires_auth` for a reading
/// route), and 503 for the request timeout (`[http] request_timeout_s`).
fn shared_answers(op: &mut Operation) {
    let security = op.security.clone().unwrap_or_default();
    let always = !security.is_empty() && !security.contains(&SecurityRequirement::default());
    let reading = security.contains(&SecurityRequirement::default());
    let when = if always {
        ""
    } else {
        " Only with `[http] read_requires_auth`."
    };
    let responses = &mut op.responses.responses;
    let json = |name: &str| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(name)))
            .build()
    };
    if always || reading {
        responses.entry("401".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description(format!(
                    "No token or session, or a wrong token; nothing was done. A browser's GET \
                     (`Accept: text/html`) is redirected to `/login` instead.{when}"
                ))
                .content("application/json", json("Unauthorized"))
                .header(
                    "WWW-Authenticate",
                    utoipa::openapi::header::Header::new(
                        ObjectBuilder::new().schema_type(Type::String),
                    ),
                )
                .build()
                .into()
        });
        responses.entry("429".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description(format!(
                    "Too many wrong tokens from this address: `Retry-After` says when to try \
                     again.{when}"
                ))
                .content("application/json", json("Error"))
                .header(
                    "Retry-After",
                    utoipa::openapi::header::Header::new(
                        ObjectBuilder::new().schema_type(Type::Integer),
                    ),
                )
                .build()
                .into()
        });
    }
    responses.entry("503".into()).or_insert_with(|| {
        ResponseBuilder::new()
            .description(
                "No answer within `[http] request_timeout_s` (empty body); requests beyond \
                 `[http] max_requests` at once wait for it.",
            )
            .build()
            .into()
    });
}

/// The paths the router serves, read from the router itself (its `Debug` output lists them):
/// the end-to-end test compares them with the document's, so a route added without a
/// `#[utoipa::path]` (or a path documented but not routed) fails it. Empty if axum's output
/// changes shape, which that test reports as such.
#[doc(hidden)]
pub fn routed_paths() -> Vec<String> {
    let auth = super::auth::Auth::new(
        &crate::config::HttpSettings {
            token: Some("only-to-list-the-routes".into()),
            ..Default::default()
        },
        std::path::Path::new(""),
        Box::new(|_| {}),
    );
    let text = format!("{:?}", super::routes(Arc::clone(&auth)));
    let mut paths = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("RouteId(") {
        rest = &rest[i + "RouteId(".len()..];
        let Some(after) = rest
            .split_once("): \"")
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, a)| a)
        else {
            continue;
        };
        // axum's own catch-all for its fallback is no route of ours.
        if let Some((path, _)) = after
            .split_once('"')
            .filter(|(p, _)| !p.contains("__private__axum"))
        {
            paths.push(path.to_string());
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routed paths are read from the router's `Debug` output; this fails if that reading
    /// breaks, and says which paths the router and the document disagree on.
    #[test]
    fn the_document_lists_every_routed_path_and_no_other() {
        let routed = routed_paths();
        assert!(
            routed.len() > 20,
            "the router's paths could not be read (axum's Debug output changed?): {routed:?}"
        );
        let doc: Vec<String> = document().paths.paths.keys().cloned().collect();
        let missing: Vec<_> = routed.iter().filter(|p| !doc.contains(p)).collect();
        let extra: Vec<_> = doc.iter().filter(|p| !routed.contains(p)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routed but not documented: {missing:?}; documented but not routed: {extra:?}"
        );
    }

    #[test]
    fn bounded_routes_get_their_window_and_limit_from_the_bounds() {
        let doc = serde_json::to_value(document()).unwrap();
        let params = &doc["paths"]["/api/operations"]["get"]["parameters"];
        let limit = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .expect("a limit parameter");
        assert_eq!(limit["schema"]["maximum"], query::OPERATIONS.max_limit);
        let summary = &doc["paths"]["/api/summary"]["get"]["parameters"];
        assert!(
            !summary
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "limit"),
            "the summary has no row limit: {summary}"
        );
        // A changing route always answers 401 without the token; a reading one only with
        // `read_requires_auth`; the login form never.
        let ack = &doc["paths"]["/api/alarms/{key}/ack"]["post"];
        assert!(ack["responses"]["401"].is_object(), "{ack}");
        let signals = &doc["paths"]["/api/signals"]["get"]["responses"]["401"]["description"];
        assert!(
            signals.as_str().unwrap().contains("read_requires_auth"),
            "{signals}"
        );
        assert!(doc["paths"]["/login"]["get"]["responses"]["401"].is_null());
        assert!(doc["components"]["securitySchemes"]["token"].is_object());
    }
}
