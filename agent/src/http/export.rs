//! `GET /api/export?what=&from_ms=&to_ms=&format=`: the same export as `agent export`, as a
//! download. Behind the token always (routed with the changing routes): an export hands out
//! the machine's whole history, more than the open read-only page shows.
//!
//! The body is streamed: the export runs on the blocking pool and writes into a bounded
//! channel of 64 KiB pieces that the response body drains, so neither memory nor the SD card
//! (no temporary file) pays for a long history. A failure after the first bytes aborts the
//! response (no final chunk), which clients report as an incomplete transfer.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::{query, AppState};
use crate::export::{LifeContext, Request};
use crate::value::now_ms;

/// Pieces of this size go to the client; at most [`IN_FLIGHT`] wait.
const PIECE: usize = 64 * 1024;
const IN_FLIGHT: usize = 8;

const FIELDS: &[&str] = &["what", "format", "from_ms", "to_ms"];

/// A `Write` into the response body's channel; blocks (on the blocking pool) while the client
/// is slow, fails once it has gone.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[utoipa::path(
    get,
    path = "/api/export",
    tag = "history",
    params(
        ("what" = String, Query, description = "`residual-life`, `operations` or `signals`."),
        ("format" = Option<String>, Query, description = "`csv` (default) or `parquet`."),
        ("from_ms" = Option<i64>, Query, description = "Start (ms since the Unix epoch); as `agent export --from`."),
        ("to_ms" = Option<i64>, Query, description = "End (ms since the Unix epoch); as `agent export --to`."),
    ),
    responses(
        (status = 200, description = "The file, streamed (`Content-Disposition` names it); a failure after the first bytes ends the transfer incomplete.", content(
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.apache.parquet"),
        )),
        (status = 400, description = "A bad or unknown field, named in `field`.", body = super::openapi::Error),
        (status = 503, description = "The store records nothing this run (its reason), or no answer in time (empty body).", body = super::openapi::Error),
        (status = 500, description = "A failure of the agent, with its causes.", body = super::openapi::Error),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn download(
    Extract(app): Extract<AppState>,
    Query(q): Query<query::Query>,
) -> Result<Response, ApiError> {
    // A misspelt field (`form=`) would otherwise silently export the whole history.
    if let Some(k) = q.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::field(
            k.clone(),
            format!("unknown field `{k}`: use what, format, from_ms, to_ms"),
        ));
    }
    let Some(what) = q.get("what") else {
        return Err(ApiError::field(
            "what",
            "`what` is required: residual-life, operations or signals",
        ));
    };
    let ms = |field| {
        q.contains_key(field)
            .then(|| query::int(&q, field, 0))
            .transpose()
    };
    let req = Request::parse(
        what,
        q.get("format").map_or("csv", String::as_str),
        (ms("from_ms")?, ms("to_ms")?),
        "from_ms",
        now_ms(),
    )?;
    if let Some(why) = app.store.unavailable_reason() {
        return Err(ApiError::Unavailable(
            crate::store::Unavailable(why.to_string()).to_string(),
        ));
    }
    let machine_id = app.state.machine_id().to_string();
    let store = app.store.path().to_path_buf();
    let life = app.life.clone();
    let offset = app.shifts.utc_offset_min;
    // Everything that can fail before the first byte fails here, with a status code.
    let ctx = match tokio::task::spawn_blocking({
        let machine_id = machine_id.clone();
        move || {
            // Fails here (a 500 with the reason) rather than after the headers are sent.
            drop(crate::store::open_reader(&store)?);
            let view = life.current(0);
            Ok::<_, anyhow::Error>((
                LifeContext::from_view(&machine_id, view, now_ms(), offset),
                store,
            ))
        }
    })
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(ApiError::internal(e)),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let (tx, mut rx) = mpsc::channel(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let (life, store) = ctx;
        let out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(PIECE),
        };
        if let Err(e) = crate::export::write(&store, &life, &req, Box::new(out)) {
            tracing::warn!("export {} failed: {e:#}", req.what.name());
            let _ = tx.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
        }
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    Ok((
        [
            (header::CONTENT_TYPE, req.format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", req.file_name(&machine_id)),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}
