//! What the agent publishes, each a small task that turns one part of the agent into messages
//! for the outbox: signals from the state, finished operations and parts from the store,
//! alarm events and the active set from the alarm service, life predictions from the life
//! evaluator. The topics are listed in `fleet/mod.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value as Json};
use tokio::sync::{mpsc, oneshot, watch};

use super::outbox::Publish;
use crate::alarms::engine::AlarmView;
use crate::evaluators::life::Life;
use crate::notify::{ChannelStats, Event};
use crate::state::{changed, State};
use crate::store::{Reader, Store};
use crate::value::{now_ms, rfc3339, Quality, Value};

/// A JSON object stamped with the machine and the time.
fn body(machine_id: &str, ts_ms: i64, fields: Json) -> Map<String, Json> {
    let mut m = match fields {
        Json::Object(m) => m,
        other => Map::from_iter([("data".to_string(), other)]),
    };
    m.insert("machine_id".into(), machine_id.into());
    m.insert("ts".into(), rfc3339(ts_ms).into());
    m.insert("ts_ms".into(), ts_ms.into());
    m
}

/// How often the state is looked at for signal changes.
const SIGNAL_SCAN: Duration = Duration::from_millis(250);

struct Published {
    value: Option<Value>,
    quality: Quality,
    at: Instant,
}

/// Each signal on `signals/<name>`: when its value moves beyond its deadband (at most once per
/// `min_interval`), when its quality changes (a value going stale is news, not silence), and
/// at least every `heartbeat`.
pub async fn signals(
    state: Arc<State>,
    s: crate::config::SignalPublishing,
    base: String,
    tx: mpsc::Sender<Publish>,
) {
    let mut last: Vec<Option<Published>> = vec![];
    let mut tick = tokio::time::interval(SIGNAL_SCAN);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let views = state.snapshot();
        last.resize_with(views.len(), || None);
        for (i, v) in views.into_iter().enumerate() {
            let due = match &last[i] {
                None => true,
                Some(p) => {
                    let since = now.duration_since(p.at);
                    p.quality != v.quality
                        || since >= s.heartbeat
                        || (since >= s.min_interval
                            && match (&p.value, &v.value) {
                                (Some(a), Some(b)) => changed(a, b, state.signals()[i].deadband),
                                (a, b) => a.is_some() != b.is_some(),
                            })
                }
            };
            if !due {
                continue;
            }
            let value = match v.quality {
                Quality::Unavailable => None,
                _ => v.value.clone(),
            };
            let ts = v.ts_ms.unwrap_or_else(now_ms);
            let msg = Publish {
                topic: format!("{base}/signals/{}", v.signal),
                retain: false,
                body: body(
                    state.machine_id(),
                    ts,
                    json!({
                        "signal": v.signal,
                        "value": value,
                        "unit": v.unit,
                        "quality": v.quality,
                        "device": v.device,
                    }),
                ),
                cursor: None,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            last[i] = Some(Published {
                value,
                quality: v.quality,
                at: now,
            });
        }
    }
}

/// What is published row by row from the store: finished operations and parts (the
/// compliance evaluator's records) and tool changes (the life evaluator's labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Operations,
    Parts,
    ToolChanges,
}

impl Feed {
    /// Under the machine's base topic.
    pub fn topic(self) -> &'static str {
        match self {
            Feed::Operations => "operations",
            Feed::Parts => "parts",
            Feed::ToolChanges => "life/tool-changes",
        }
    }

    /// The name of its position in the outbox (the table it follows, as before versions).
    pub fn cursor(self) -> &'static str {
        match self {
            Feed::Operations => "operation",
            Feed::Parts => "part",
            Feed::ToolChanges => "tool_change",
        }
    }

    /// Rows with an id above `after`, oldest first, as (id, time, record as JSON).
    fn after(self, r: &Reader, after: i64) -> anyhow::Result<Vec<(i64, i64, Json)>> {
        const PAGE: usize = 200;
        Ok(match self {
            Feed::Operations => r
                .operations_after(after, PAGE)?
                .into_iter()
                .map(|(id, o)| (id, o.end_ms, serde_json::to_value(o).unwrap_or_default()))
                .collect(),
            Feed::Parts => r
                .parts_after(after, PAGE)?
                .into_iter()
                .map(|(id, p)| (id, p.end_ms, serde_json::to_value(p).unwrap_or_default()))
                .collect(),
            Feed::ToolChanges => r
                .tool_changes_after(after, PAGE)?
                .into_iter()
                .map(|c| (c.id, c.ts_ms, serde_json::to_value(c).unwrap_or_default()))
                .collect(),
        })
    }
}

/// A feed whose rows become messages, in id order, each row once.
struct Tail {
    feed: Feed,
    topic: String,
    /// The last row published (or on disk in the outbox); on the very first run, the newest
    /// row at start.
    after: i64,
}

/// Follows the feeds and publishes every new row, from where the outbox's file says each
/// left off (`cursors`, once the outbox has opened it). On the very first run it starts at the
/// end: a fleet wants what happens from now on, the history is in the store and the exports.
pub async fn tail(
    store: Arc<Store>,
    machine_id: String,
    base: String,
    feeds: Vec<Feed>,
    cursors: oneshot::Receiver<BTreeMap<String, i64>>,
    tx: mpsc::Sender<Publish>,
) {
    let Ok(cursors) = cursors.await else { return };
    let s = store.clone();
    // SQLite on the blocking pool, never on the runtime's thread.
    let starts = tokio::task::spawn_blocking(move || {
        feeds
            .into_iter()
            .map(|feed| {
                let after = cursors
                    .get(feed.cursor())
                    .copied()
                    .unwrap_or_else(|| newest_id(&s, feed));
                (feed, after)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let Ok(starts) = starts else { return };
    let mut tails: Vec<Tail> = starts
        .into_iter()
        .map(|(feed, after)| Tail {
            feed,
            topic: format!("{base}/{}", feed.topic()),
            after,
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        let wanted: Vec<(Feed, i64)> = tails.iter().map(|t| (t.feed, t.after)).collect();
        // SQLite on the blocking pool, never on the runtime's thread.
        let rows = tokio::task::spawn_blocking(move || {
            s.read(|r| {
                wanted
                    .iter()
                    .map(|(feed, after)| feed.after(r, *after))
                    .collect::<anyhow::Result<Vec<_>>>()
            })
        })
        .await;
        let rows = match rows {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!("mqtt: reading new records from the store: {e:#}");
                continue;
            }
            Err(_) => continue,
        };
        let mut out = Vec::new();
        for (t, rows) in tails.iter_mut().zip(rows) {
            for (id, ts_ms, record) in rows {
                out.push(Publish {
                    topic: t.topic.clone(),
                    retain: false,
                    body: body(&machine_id, ts_ms, json!({ "id": id, "record": record })),
                    cursor: Some((t.feed.cursor().to_string(), id)),
                });
                t.after = id;
            }
        }
        for msg in out {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// The newest id of a feed now (where a first run starts), 0 if there is none.
fn newest_id(store: &Store, feed: Feed) -> i64 {
    store
        .read(|r| match feed {
            Feed::Operations => Ok(r.newest_operation_and_part()?.0),
            Feed::Parts => Ok(r.newest_operation_and_part()?.1),
            Feed::ToolChanges => r.newest_tool_change(),
        })
        .unwrap_or(0)
}

/// Every alarm transition on `alarms/events`; the alarms that are not normal, retained, on
/// `alarms/state` whenever that set changes.
pub async fn alarms(
    mut rx: mpsc::Receiver<Arc<Event>>,
    mut current: watch::Receiver<Arc<Vec<AlarmView>>>,
    machine_id: String,
    base: String,
    tx: mpsc::Sender<Publish>,
    stats: Arc<ChannelStats>,
) {
    current.mark_changed();
    loop {
        let msg = tokio::select! {
            e = rx.recv() => {
                let Some(e) = e else { return };
                let mut b = body(&machine_id, e.transition.ts_ms, serde_json::to_value(&e.transition).unwrap_or_default());
                b.insert("alarm".into(), b.get("key").cloned().unwrap_or_default());
                ChannelStats::add(&stats.delivered);
                Publish { topic: format!("{base}/alarms/events"), retain: false, body: b, cursor: None }
            }
            c = current.changed() => {
                if c.is_err() { return; }
                let set = current.borrow_and_update().clone();
                Publish {
                    topic: format!("{base}/alarms/state"),
                    retain: true,
                    body: body(&machine_id, now_ms(), json!({ "alarms": &*set })),
                    cursor: None,
                }
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// How often life predictions are looked at; they change after a cut, not faster.
const LIFE_SCAN: Duration = Duration::from_secs(10);

/// Tools with their usage and predicted remaining life on `life/tools`, components on
/// `life/components`, both retained, sent when they changed.
pub async fn life(life: Arc<Life>, machine_id: String, base: String, tx: mpsc::Sender<Publish>) {
    let mut sent: [Option<Json>; 2] = [None, None];
    let mut tick = tokio::time::interval(LIFE_SCAN);
    loop {
        tick.tick().await;
        let view = life.current(500);
        let parts = [
            (
                "tools",
                json!({
                    "model": view.model,
                    "tool_in_spindle": view.tool_in_spindle,
                    "tools": view.tools,
                    "note": view.note,
                }),
            ),
            ("components", json!({ "components": view.components })),
        ];
        for (i, (name, content)) in parts.into_iter().enumerate() {
            if sent[i].as_ref() == Some(&content) {
                continue;
            }
            let msg = Publish {
                topic: format!("{base}/life/{name}"),
                retain: true,
                body: body(&machine_id, now_ms(), content.clone()),
                cursor: None,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
            sent[i] = Some(content);
        }
    }
}
