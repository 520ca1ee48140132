//! Components: each one's persisted state as JSON (`component_life`: the spindle bearing's
//! trend, the service history; the evaluator owns the shape), and the counter resets
//! maintenance records when it replaces a component (`component_reset`).

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::{Reader, Tx};

/// A component counter's baseline from its last reset: life used = counter − baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentReset {
    pub component: String,
    pub baseline: f64,
    pub ts_ms: i64,
    pub by: String,
}

impl Tx<'_> {
    pub(super) fn save_component_state(&self, name: &str, json: &str, now_ms: i64) -> Result<()> {
        self.0.execute(
            "INSERT INTO component_life (name, state, updated_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET state = ?2, updated_ms = ?3",
            params![name, json, now_ms],
        )?;
        Ok(())
    }

    pub fn insert_component_reset(&self, r: &ComponentReset) -> Result<()> {
        self.0.execute(
            "INSERT INTO component_reset (component, ts_ms, baseline, by) VALUES (?1, ?2, ?3, ?4)",
            params![r.component, r.ts_ms, r.baseline, r.by],
        )?;
        Ok(())
    }
}

impl Reader {
    /// A component's stored state (JSON), if it has one.
    pub fn component_state(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM component_life WHERE name = ?1",
                [name],
                |r| r.get("state"),
            )
            .optional()?)
    }

    /// The latest reset of every component that was ever reset.
    pub fn component_resets(&self) -> Result<Vec<ComponentReset>> {
        let mut stmt = self.conn.prepare(
            "SELECT component, baseline, ts_ms, by FROM component_reset c
             WHERE id = (SELECT max(id) FROM component_reset WHERE component = c.component)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ComponentReset {
                component: r.get("component")?,
                baseline: r.get("baseline")?,
                ts_ms: r.get("ts_ms")?,
                by: r.get("by")?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
