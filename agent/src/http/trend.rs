//! `GET /api/life/trend`: each tool's predictions over its cuts and each component's remaining
//! life over time, for the pages' charts. Kept in memory from the life evaluator's view (the
//! live stream's producer records it every few seconds), bounded, and lost at a restart: the
//! charts say since when they know (`since_ms`). The figures themselves are the evaluator's;
//! nothing here computes a life.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

use crate::evaluators::life::LifeView;
use crate::supervise::lock;

/// Points kept per tool or component, and items kept: enough for a tool's whole life at a cut
/// a minute, and a component's last two days at one point per [`COMPONENT_EVERY_MS`].
const POINTS: usize = 300;
const ITEMS: usize = 60;
const COMPONENT_EVERY_MS: i64 = 10 * 60_000;

/// One prediction of a tool, after a cut.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ToolPoint {
    pub at_ms: i64,
    pub after_cut: u64,
    pub cutting_min: f64,
    /// Flank wear P10/P50/P90 where a wear model predicts it, in `vb_unit`.
    #[schema(value_type = Option<Vec<f64>>, min_items = 3, max_items = 3)]
    pub vb: Option<[f64; 3]>,
    pub vb_unit: String,
    /// The wear model's limit `vb` runs to.
    pub vb_limit: Option<f64>,
    /// Remaining minutes of cutting, P10/P50/P90 (`null` for an unbounded quantile).
    #[schema(value_type = Vec<Option<f64>>, min_items = 3, max_items = 3)]
    pub remaining_min: [Option<f64>; 3],
}

/// A component's remaining life at a time.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ComponentPoint {
    pub at_ms: i64,
    /// Remaining hours P10/P50/P90 (`null` for an unbounded quantile).
    #[schema(value_type = Option<Vec<Option<f64>>>, min_items = 3, max_items = 3)]
    pub remaining_h: Option<[Option<f64>; 3]>,
    pub life_used_fraction: Option<f64>,
}

/// `GET /api/life/trend`.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Trends {
    /// When recording began (the agent's start).
    pub since_ms: i64,
    /// By tool id, oldest first.
    #[schema(value_type = BTreeMap<String, Vec<ToolPoint>>)]
    pub tools: BTreeMap<String, VecDeque<ToolPoint>>,
    /// By component name, oldest first.
    #[schema(value_type = BTreeMap<String, Vec<ComponentPoint>>)]
    pub components: BTreeMap<String, VecDeque<ComponentPoint>>,
}

pub struct Recorder(Mutex<Trends>);

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn push<T>(q: &mut VecDeque<T>, p: T) {
    if q.len() == POINTS {
        q.pop_front();
    }
    q.push_back(p);
}

impl Recorder {
    pub fn new(now_ms: i64) -> Recorder {
        Recorder(Mutex::new(Trends {
            since_ms: now_ms,
            ..Trends::default()
        }))
    }

    /// Takes what is new in `view`: a tool's prediction after a cut it has not recorded, a
    /// component's figures when the last point is older than [`COMPONENT_EVERY_MS`].
    pub fn record(&self, view: &LifeView, now_ms: i64) {
        let mut t = lock(&self.0);
        for tool in &view.tools {
            let Some(p) = &tool.prediction else { continue };
            if !t.tools.contains_key(&tool.tool_id) && t.tools.len() >= ITEMS {
                continue;
            }
            let q = t.tools.entry(tool.tool_id.clone()).or_default();
            if q.back().is_some_and(|l| l.after_cut == p.after_cut) {
                continue;
            }
            let r = &p.remaining_min;
            push(
                q,
                ToolPoint {
                    at_ms: p.at_ms,
                    after_cut: p.after_cut,
                    cutting_min: p.cutting_min,
                    vb: p.vb.as_ref().map(|v| [v.p10, v.p50, v.p90]),
                    vb_unit: p.vb_unit.clone(),
                    vb_limit: p.limit,
                    remaining_min: [finite(r.p10), finite(r.p50), finite(r.p90)],
                },
            );
        }
        for c in &view.components {
            if !t.components.contains_key(&c.name) && t.components.len() >= ITEMS {
                continue;
            }
            let q = t.components.entry(c.name.clone()).or_default();
            if q.back()
                .is_some_and(|l| now_ms - l.at_ms < COMPONENT_EVERY_MS)
            {
                continue;
            }
            push(
                q,
                ComponentPoint {
                    at_ms: now_ms,
                    remaining_h: c
                        .remaining_h
                        .as_ref()
                        .map(|r| [finite(r.p10), finite(r.p50), finite(r.p90)]),
                    life_used_fraction: c.life_used_fraction,
                },
            );
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(&*lock(&self.0)).unwrap_or_default()
    }
}
