//! Remaining-life endpoints: `GET /api/life`, `GET /api/life/prerun?program=NAME`, the
//! shop floor's tool-change label `POST /api/tools/{id}/change` and its flank wear measured
//! during a tool's life `POST /api/tools/{id}/wear` (both behind the token).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Extension, Path, Query, State as Extract};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::Who;
use super::error::ApiError;
use super::{blocking_json, AppState};
use crate::records::tool::ChangeReason;
use crate::value::now_ms;

/// Tools shown: the one in the spindle and the most recently used.
pub const MAX_TOOLS: usize = 50;

/// The pre-run check reads a program's operations of the last 30 days, the newest 10,000 at
/// most.
const PRERUN_SPAN_MS: i64 = 30 * 86_400_000;
const PRERUN_ROWS: usize = 10_000;

/// `GET /api/life`: per tool, usage counters and the latest prediction with its model.
#[utoipa::path(
    get,
    path = "/api/life",
    tag = "life",
    responses(
        (status = 200, description = "The tool in the spindle and the most recently used (at most 50), their counters and predictions; components.", body = crate::evaluators::life::LifeView),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn view(Extract(app): Extract<AppState>) -> Response {
    let life = app.life.clone();
    blocking_json(move || life.view(MAX_TOOLS)).await
}

/// `GET /api/life/trend`: each tool's predictions over its cuts and each component's remaining
/// life over time, since the agent started (`trend.rs`).
#[utoipa::path(
    get,
    path = "/api/life/trend",
    tag = "life",
    responses(
        (status = 200, description = "For the charts, since the agent started (kept in memory): each tool's predictions over its cuts, each component's remaining life every 10 min.", body = super::trend::Trends),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn trend(Extract(app): Extract<AppState>) -> Response {
    axum::Json(app.stream.trends.json()).into_response()
}

fn bad(field: &'static str, message: impl Into<String>) -> Response {
    ApiError::field(field, message).into_response()
}

/// `POST /api/tools/{id}/change` with `{"reason": "worn_out"|"broken"|"preventive",
/// "measured_vb_mm": 0.21}` (the measurement optional).
#[utoipa::path(
    post,
    path = "/api/tools/{id}/change",
    tag = "life",
    params(("id" = String, Path, description = "The tool's id, as the CNC or the tool table names it.")),
    request_body(content = super::openapi::ToolChangeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The change as recorded, with the tool's counters and prediction at the change.", body = crate::records::tool::ToolChange),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn change(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) | Err(_) => return bad(
            "reason",
            "body must be a JSON object like {\"reason\": \"worn_out\", \"measured_vb_mm\": 0.25}",
        ),
    };
    let reason = match v
        .get("reason")
        .and_then(|r| r.as_str())
        .and_then(ChangeReason::parse)
    {
        Some(r) => r,
        None => {
            let all: Vec<&str> = ChangeReason::ALL.iter().map(|r| r.as_str()).collect();
            return bad(
                "reason",
                format!(
                    "`reason` must be one of {}, got {}",
                    all.join(", "),
                    v.get("reason").unwrap_or(&serde_json::Value::Null)
                ),
            );
        }
    };
    let vb = match v.get("measured_vb_mm") {
        None | Some(serde_json::Value::Null) => None,
        Some(x) => match vb_mm("measured_vb_mm", x) {
            Ok(mm) => Some(mm),
            Err(e) => return e.into_response(),
        },
    };
    if id.trim().is_empty() {
        return bad("id", "the tool id in the path is empty");
    }
    let life = app.life.clone();
    blocking_json(move || life.change(&id, reason, vb, &who, now_ms())).await
}

/// A flank wear land beyond a few millimetres is a typo, not a measurement.
fn vb_mm(field: &'static str, x: &serde_json::Value) -> Result<f64, ApiError> {
    match x.as_f64() {
        Some(mm) if (0.0..=5.0).contains(&mm) => Ok(mm),
        _ => Err(ApiError::field(
            field,
            format!("`{field}` must be a number of millimetres 0..=5, got {x}"),
        )),
    }
}

/// What `POST /api/tools/{id}/wear` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WearAnswer {
    pub measurement: crate::records::tool::WearMeasurement,
    /// Why the wear model could not use it (`measurement.check` is then null); it is stored
    /// all the same.
    pub note: Option<String>,
}

/// `POST /api/tools/{id}/wear` with `{"vb_mm": 0.12}`: a flank wear measured on a tool that
/// stays in.
#[utoipa::path(
    post,
    path = "/api/tools/{id}/wear",
    tag = "life",
    params(("id" = String, Path, description = "The tool's id, as the CNC or the tool table names it.")),
    request_body(content = super::openapi::WearMeasurementRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The measurement as stored, and what the wear model made of it: the band of the tool's last cut it was scored against, the predicted wear before and after. The tool's predictions go on from the measured wear, with its own recalibrated band: at once where the measurement governs its remaining life (the machine has its own wear curves, or the tool's class has no worn-out life on it), else from its next finished operation.", body = WearAnswer),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 404, description = "No tool of that id has cut since its last change.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn measure_wear(
    Extract(app): Extract<AppState>,
    Extension(Who(who)): Extension<Who>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let vb = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v @ serde_json::Value::Object(_)) => {
            match vb_mm("vb_mm", v.get("vb_mm").unwrap_or(&serde_json::Value::Null)) {
                Ok(mm) => mm,
                Err(e) => return e.into_response(),
            }
        }
        Ok(_) | Err(_) => return bad("vb_mm", "body must be a JSON object like {\"vb_mm\": 0.12}"),
    };
    if id.trim().is_empty() {
        return bad("id", "the tool id in the path is empty");
    }
    let missing = format!(
        "no tool `{id}` has cut since its last change: wear is measured on a tool in service"
    );
    let life = app.life.clone();
    match tokio::task::spawn_blocking(move || life.measure_wear(&id, vb, &who, now_ms())).await {
        Ok(Ok(Some((measurement, note)))) => {
            axum::Json(WearAnswer { measurement, note }).into_response()
        }
        Ok(Ok(None)) => ApiError::NotFound(missing).into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Whether a tool (or the program) has life enough for one more part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Prerun {
    Enough,
    NotEnough,
    /// No predicted remaining life (for a tool, or for one of the program's).
    NoPrediction,
    /// The program has no stored operations in the last 30 days.
    UnknownProgram,
}

/// One tool in a pre-run check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PrerunTool {
    tool_id: String,
    /// Minutes of cutting this program needed from the tool per part (mean over stored parts).
    needed_min_per_part: f64,
    parts_seen: usize,
    remaining_p10_min: Option<f64>,
    /// Whole parts the tool can still cut at its P10 remaining life.
    parts_left_p10: Option<u64>,
    verdict: Prerun,
}

/// `GET /api/life/prerun?program=NAME`: for each tool the program used before, the cutting
/// minutes one part needs against the tool's predicted remaining life P10.
#[utoipa::path(
    get,
    path = "/api/life/prerun",
    tag = "life",
    params(("program" = String, Query, description = "The program, e.g. `O1000`.")),
    responses(
        (status = 200, description = "For each tool the program used in the last 30 days: the cutting minutes one part needs against its remaining life P10.", body = super::openapi::PrerunAnswer),
        (status = 400, description = "A bad request field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn prerun(
    Extract(app): Extract<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(program) = q.get("program").filter(|p| !p.is_empty()).cloned() else {
        return bad("program", "`program` is required, e.g. ?program=O1000");
    };
    let (store, life) = (app.store.clone(), app.life.clone());
    blocking_json(move || {
        // The program's last PRERUN_ROWS operations of the last 30 days are what it looks
        // like now (and bound the query).
        let now = now_ms();
        let ops = store.read(|r| {
            let p = &program;
            r.operations_of_program(p, now - PRERUN_SPAN_MS, now, PRERUN_ROWS)
        })?;
        // Per tool: cutting seconds and the parts they belong to.
        let mut per_tool: BTreeMap<String, (f64, BTreeSet<i64>)> = BTreeMap::new();
        for o in &ops {
            let Some(tool) = &o.tool_id else {
                continue;
            };
            let e = per_tool.entry(tool.clone()).or_default();
            e.0 += o.cutting_s;
            // An operation without a parts counter is its own part.
            e.1.insert(o.part_no.map_or(-o.id, |p| p as i64));
        }
        let tools: Vec<PrerunTool> = per_tool
            .into_iter()
            .map(|(tool_id, (s, parts))| {
                let needed = s / 60.0 / parts.len().max(1) as f64;
                let p10 = life
                    .tool(&tool_id)
                    .and_then(|(_, p)| p)
                    .map(|p| p.remaining_min.p10);
                PrerunTool {
                    verdict: match p10 {
                        None => Prerun::NoPrediction,
                        Some(r) if r >= needed => Prerun::Enough,
                        Some(_) => Prerun::NotEnough,
                    },
                    tool_id,
                    needed_min_per_part: needed,
                    parts_seen: parts.len(),
                    remaining_p10_min: p10,
                    parts_left_p10: p10
                        .filter(|_| needed > 0.0)
                        .map(|r| (r / needed).floor().max(0.0) as u64),
                }
            })
            .collect();
        let verdict = if tools.is_empty() {
            Prerun::UnknownProgram
        } else if tools.iter().any(|t| t.verdict == Prerun::NotEnough) {
            Prerun::NotEnough
        } else if tools.iter().all(|t| t.verdict == Prerun::Enough) {
            Prerun::Enough
        } else {
            Prerun::NoPrediction
        };
        Ok(serde_json::json!({ "program": program, "verdict": verdict, "tools": tools }))
    })
    .await
}
