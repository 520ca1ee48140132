//! What the agent publishes, each a small task that turns one part of the agent into messages
//! for the outbox: signals from the state, finished operations and parts from the store,
//! alarm events and the active set from the alarm service, life predictions from the life
//! evaluator. The topics are listed in `fleet/mod.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{json, Map, Value as Json};
use tokio::sync::{mpsc, watch};

use super::outbox::Publish;
use crate::alarms::engine::AlarmView;
use crate::evaluators::life::Life;
use crate::notify::{ChannelStats, Event};
use crate::state::{changed, State};
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
                topic: format!("{base}/signals/{}", v.name),
                retain: false,
                body: body(
                    state.machine_id(),
                    ts,
                    json!({
                        "signal": v.name,
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

/// A store table whose rows become messages, in id order, each row once.
pub struct Tail {
    /// The table (`operation`, `part` or `tool_change`), also the cursor's name in the outbox.
    pub table: &'static str,
    pub topic: String,
    /// The last row published (or on disk in the outbox); on the very first run, the newest
    /// row at start.
    pub after: i64,
}

/// Each table's rows as (id, time, JSON record). Operations and parts are stored as JSON
/// already; a tool change is assembled from its columns by SQLite.
fn select(table: &str) -> &'static str {
    match table {
        "operation" => {
            "SELECT id, end_ms, record FROM operation WHERE id > ?1 ORDER BY id LIMIT 200"
        }
        "part" => "SELECT id, end_ms, record FROM part WHERE id > ?1 ORDER BY id LIMIT 200",
        "tool_change" => {
            "SELECT id, ts_ms, json_object(
                 'tool_id', tool_id, 'reason', reason,
                 'censored', json(CASE WHEN censored THEN 'true' ELSE 'false' END),
                 'measured_vb_mm', measured_vb_mm, 'by', by,
                 'counters', json(counters), 'prediction', json(prediction))
             FROM tool_change WHERE id > ?1 ORDER BY id LIMIT 200"
        }
        other => unreachable!("no tail for table {other}"),
    }
}

/// Follows store tables and publishes every new row: finished operations and parts (the
/// compliance evaluator's records) and tool changes (the life evaluator's labels). On the very
/// first run it starts at the end: a fleet wants what happens from now on, the history is in
/// the store and the exports.
pub async fn tail(
    store: PathBuf,
    machine_id: String,
    mut tails: Vec<Tail>,
    tx: mpsc::Sender<Publish>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut db: Option<Connection> = None;
    loop {
        tick.tick().await;
        if db.is_none() {
            db = crate::store::open_read_only(&store).ok();
        }
        let Some(conn) = &db else { continue };
        let mut out = Vec::new();
        for t in &mut tails {
            // The table appears when its evaluator first writes; until then, nothing.
            for (id, ts_ms, record) in read_after(conn, t.table, t.after).unwrap_or_default() {
                let record: Json = serde_json::from_str(&record).unwrap_or(Json::Null);
                out.push(Publish {
                    topic: t.topic.clone(),
                    retain: false,
                    body: body(&machine_id, ts_ms, json!({ "id": id, "record": record })),
                    cursor: Some((t.table.to_string(), id)),
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

fn read_after(
    db: &Connection,
    table: &str,
    after: i64,
) -> rusqlite::Result<Vec<(i64, i64, String)>> {
    let mut st = db.prepare_cached(select(table))?;
    let rows = st.query_map([after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The newest id of a table now (where a first run starts), 0 if it is empty or absent.
pub fn newest_id(store: &std::path::Path, table: &str) -> i64 {
    crate::store::open_read_only(store)
        .and_then(|db| {
            db.query_row(
                &format!("SELECT COALESCE(MAX(id), 0) FROM {table}"),
                [],
                |r| r.get(0),
            )
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
