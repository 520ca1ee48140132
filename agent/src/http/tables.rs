//! The tool table and the program table over HTTP: `GET /api/tables/tools` and
//! `/api/tables/programs` read them, `PUT` (behind the token) replaces one with the JSON array
//! it is given, checked like the file, and writes the file (the machine context reloads it).

use axum::extract::{Path, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::config::tables::{self, ProgramEntry, Table, ToolEntry};

/// Which table a path names, and its file.
fn file(app: &AppState, which: &str) -> Result<std::path::PathBuf, ApiError> {
    let path = match which {
        "tools" => app.machine.tool_table.clone(),
        "programs" => app.machine.program_table.clone(),
        other => {
            return Err(ApiError::NotFound(format!(
                "no table `{other}` (tools or programs)"
            )))
        }
    };
    path.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no {which} table is configured ([machine] {}_table)",
            which.trim_end_matches('s')
        ))
    })
}

/// `GET /api/tables/{tools|programs}`: the table as the file holds it now.
#[utoipa::path(
    get,
    path = "/api/tables/{which}",
    tag = "tables",
    params(("which" = String, Path, description = "`tools` or `programs`.")),
    responses(
        (status = 200, description = "The table as its file holds it now.", body = super::openapi::TableAnswer),
        (status = 404, description = "No such table, or none is configured.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn get(Extract(app): Extract<AppState>, Path(which): Path<String>) -> Response {
    let path = match file(&app, &which) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let result = tokio::task::spawn_blocking(move || {
        let entries = if which == "tools" {
            serde_json::to_value(
                tables::load_tools(&path)?
                    .entries
                    .into_values()
                    .collect::<Vec<_>>(),
            )
        } else {
            serde_json::to_value(
                tables::load_programs(&path)?
                    .entries
                    .into_values()
                    .collect::<Vec<_>>(),
            )
        }
        .map_err(anyhow::Error::from)?;
        Ok::<_, anyhow::Error>(json!({ "file": path.display().to_string(), "entries": entries }))
    })
    .await;
    match result {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `PUT /api/tables/{tools|programs}` with the whole table as a JSON array of entries.
#[utoipa::path(
    put,
    path = "/api/tables/{which}",
    tag = "tables",
    params(("which" = String, Path, description = "`tools` or `programs`.")),
    request_body(content = Vec<super::openapi::TableEntry>, content_type = "application/json", description = "The whole table: tool entries for `tools`, program entries for `programs`."),
    responses(
        (status = 200, description = "The table as written (the machine context reloads it).", body = super::openapi::TableAnswer),
        (status = 400, description = "The body is not a table, or an entry is wrong (`field`: `tool` or `program`); nothing was written.", body = super::openapi::Error),
        (status = 404, description = "No such table, or none is configured.", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn put(
    Extract(app): Extract<AppState>,
    Path(which): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let path = match file(&app, &which) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let field = if which == "tools" { "tool" } else { "program" };
    // The text that will be written, checked as the file will be read.
    let text = if which == "tools" {
        serde_json::from_slice::<Vec<ToolEntry>>(&body).map(|v| {
            tables::tools_to_toml(&Table {
                entries: v.into_iter().map(|e| (e.id.clone(), e)).collect(),
            })
        })
    } else {
        serde_json::from_slice::<Vec<ProgramEntry>>(&body).map(|v| {
            tables::programs_to_toml(&Table {
                entries: v.into_iter().map(|e| (e.name.clone(), e)).collect(),
            })
        })
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            return ApiError::field(
                field,
                format!("the body must be a JSON array of {which}: {e}"),
            )
            .into_response()
        }
    };
    let checked = if which == "tools" {
        tables::parse_tools(&path, &text).map(|_| ())
    } else {
        tables::parse_programs(&path, &text).map(|_| ())
    };
    if let Err(e) = checked {
        let messages: Vec<String> = e.problems.iter().map(|p| p.message.clone()).collect();
        return ApiError::field(field, messages.join("; ")).into_response();
    }
    let written = tokio::task::spawn_blocking(move || write_atomically(&path, &text)).await;
    match written {
        Ok(Ok(())) => get(Extract(app), Path(which)).await,
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// Writes through a temporary file renamed over the old one: a reader (the machine context)
/// never sees half a table, and a failed write leaves the old one.
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
