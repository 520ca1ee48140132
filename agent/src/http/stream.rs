//! `GET /api/stream`: the pages' live data as server-sent events, so a tablet does not poll six
//! endpoints every second.
//!
//! **One producer for every page.** A single task builds each event's JSON once per period
//! (`signals`, `devices`, `alarms`, `compliance`, `health`, `monitor` every second; `life`
//! every fifth)
//! into a `watch` channel, and only while a page listens. Each stream sends an event only when
//! its text changed since it last sent it. Ten tablets cost one serialisation per period and ten
//! socket writes, not ten times the reads of one polling tablet (`cargo run --release -p e2e
//! --bin stream-bench` measures it).
//!
//! Streams are bounded ([`MAX_STREAMS`]): beyond, 503 with `Retry-After`, and the page falls
//! back to polling. A stream that ends (agent restart, network) is reopened by the browser's
//! `EventSource`; the page polls while it is down.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Extract;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use super::AppState;

/// Streams open at once, at most: a page each on a few tablets and screens, with room to spare.
pub const MAX_STREAMS: usize = 64;

/// The events, in the order a new stream sends them.
pub const EVENTS: [&str; 7] = [
    "health",
    "signals",
    "devices",
    "alarms",
    "compliance",
    "life",
    "monitor",
];

/// One period's events as JSON text, in [`EVENTS`] order; `None` for an event that could not be
/// built this period (the page keeps what it has).
type Snapshot = [Option<Arc<str>>; EVENTS.len()];

/// The producer's channel and the open streams.
pub struct Hub {
    rx: watch::Receiver<Arc<Snapshot>>,
    open: AtomicUsize,
    /// The charts' history of life figures, recorded by the producer whether a page listens
    /// or not (`GET /api/life/trend`).
    pub trends: super::trend::Recorder,
}

/// The producer's end, started once the pages' state exists (it reads through the same
/// `AppState` the hub is part of).
pub struct Producer(watch::Sender<Arc<Snapshot>>);

impl Hub {
    pub fn new() -> (Arc<Hub>, Producer) {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let hub = Arc::new(Hub {
            rx,
            open: AtomicUsize::new(0),
            trends: super::trend::Recorder::new(crate::value::now_ms()),
        });
        (hub, Producer(tx))
    }
}

impl Producer {
    /// Builds the events from `app` every `period` while a stream listens.
    pub fn start(self, app: AppState, period: Duration) {
        tokio::spawn(produce(app, self.0, period));
    }
}

async fn produce(app: AppState, tx: watch::Sender<Arc<Snapshot>>, period: Duration) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let mut life: Option<Arc<str>> = None;
    loop {
        every.tick().await;
        if tx.is_closed() {
            return;
        }
        let text = |v: serde_json::Value| Some(Arc::<str>::from(v.to_string()));
        // Predictions change once per cut: every fifth period is plenty (as the polling page),
        // and the charts' trend is recorded from it whether a page listens or not.
        if n.is_multiple_of(5) {
            let l = app.life.clone();
            if let Ok(Ok(v)) =
                tokio::task::spawn_blocking(move || l.view(super::life::MAX_TOOLS)).await
            {
                app.stream.trends.record(&v, crate::value::now_ms());
                life = serde_json::to_value(v).ok().and_then(text);
            }
        }
        n += 1;
        if tx.receiver_count() <= 1 {
            // Only the hub's own receiver: nobody listens, nothing more to build.
            continue;
        }
        let snapshot = EVENTS.map(|name| match name {
            "life" => life.clone(),
            other => text(event(&app, other)),
        });
        if tx.send(Arc::new(snapshot)).is_err() {
            return;
        }
    }
}

/// The body of one event but `life` (built apart, every fifth period): each the body of the
/// endpoint of the same name.
fn event(app: &AppState, name: &str) -> serde_json::Value {
    match name {
        "health" => super::api::health(app).1,
        "signals" => serde_json::json!(app.state.snapshot()),
        "devices" => serde_json::json!(app.state.device_views()),
        "alarms" => {
            let alarms = app.alarms.views();
            serde_json::json!({
                "alarms": *alarms,
                "lamps": crate::notify::gpio::lamps(&alarms),
            })
        }
        "compliance" => serde_json::json!(app.compliance.get()),
        // The operation under way with its band, for the load chart.
        "monitor" => super::monitor::body(app),
        _ => serde_json::Value::Null,
    }
}

/// Counts a stream as open until dropped (the client went away or the server stops).
struct Open(Arc<Hub>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /api/stream`: `text/event-stream` of the events in [`EVENTS`], each a JSON body like
/// the endpoint of the same name (`health` is `/healthz`'s body).
#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "live",
    responses(
        (status = 200, description = "Server-sent events for the pages, each event's data the JSON body of the endpoint of the same name: `health` (/healthz), `signals`, `devices`, `alarms`, `compliance`, `monitor` once a second when changed, `life` every fifth second. A new stream gets each at once.", content_type = "text/event-stream", body = String),
        (status = 503, description = "More live streams than the agent serves at once: poll the endpoints instead (Retry-After).", content_type = "text/plain", body = String),
    ),
    security((), ("token" = []), ("session" = [])),
)]
pub async fn stream(Extract(app): Extract<AppState>) -> Response {
    let hub = app.stream.clone();
    if hub.open.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        hub.open.fetch_sub(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "30")],
            "too many live streams; poll the endpoints instead",
        )
            .into_response();
    }
    let open = Open(hub.clone());
    let rx = hub.rx.clone();
    // What this stream sent last, per event: an unchanged event is not sent again.
    let sent: Vec<Option<Arc<str>>> = vec![None; EVENTS.len()];
    let events = futures::stream::unfold(
        (rx, sent, open, std::collections::VecDeque::new()),
        |(mut rx, mut sent, open, mut queue)| async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    return Some((Ok::<Event, Infallible>(e), (rx, sent, open, queue)));
                }
                // The current snapshot first (a new stream), then each new one.
                let snapshot = rx.borrow_and_update().clone();
                for (i, (name, text)) in EVENTS.iter().zip(snapshot.iter()).enumerate() {
                    let Some(text) = text else { continue };
                    if sent[i]
                        .as_ref()
                        .is_some_and(|s| Arc::ptr_eq(s, text) || s == text)
                    {
                        continue;
                    }
                    sent[i] = Some(text.clone());
                    queue.push_back(Event::default().event(*name).data(&**text));
                }
                if queue.is_empty() && rx.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
