//! Operations, parts and violation episodes: the green-cutting evaluator's records. Few rows
//! (one per operation, part or episode); operations and parts are stored as JSON of their
//! record type (one schema, in Rust), episodes column by column.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use super::{Reader, Tx};
use crate::condition::Severity;
use crate::config::Carbon;
use crate::records::operation::{OperationRecord, PartRecord, Violation};

/// An operation with the violations that overlapped it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OperationView {
    pub id: i64,
    #[serde(flatten)]
    pub record: OperationRecord,
    pub duration_s: f64,
    pub oil_ml_per_h: Option<f64>,
    /// `compliant_s / judged_s`: of the cutting a profile judged, the compliant share; `null`
    /// when none of it was judged.
    pub compliant_share: Option<f64>,
    pub violations: Vec<Violation>,
}

/// Totals over a time window.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Summary {
    pub from_ms: i64,
    pub to_ms: i64,
    pub operations: u64,
    pub parts: u64,
    pub cutting_s: f64,
    /// Cutting a standards profile judged, and what was not judged (cooling mode unknown, no
    /// profile for it, or a monitored rule without data): never counted as a pass.
    pub judged_s: f64,
    pub not_judged_s: f64,
    pub compliant_s: f64,
    /// `compliant_s / judged_s`; `null` when nothing was judged.
    pub compliant_share: Option<f64>,
    pub energy_kwh: f64,
    pub oil_ml: f64,
    pub oil_ml_per_h: Option<f64>,
    pub energy_kwh_per_part: Option<f64>,
    pub oil_ml_per_part: Option<f64>,
    /// kg CO₂e of the operations' energy and oil; each record at the factors in force when
    /// it was made (a record from before carbon figures at today's).
    pub co2e_kg: f64,
    /// As `energy_kwh_per_part`: the whole cycle of each part.
    pub co2e_kg_per_part: Option<f64>,
    /// Oil saved against the flood-coolant baseline; `null` without one.
    pub oil_saved_ml: Option<f64>,
    /// The factors behind the figures, with their sources.
    pub carbon: crate::config::Carbon,
    /// Cutting seconds per cooling mode.
    pub cutting_s_by_cooling: BTreeMap<String, f64>,
    /// The newest [`SUMMARY_VIOLATIONS`] episodes that overlapped the window, oldest first.
    pub violations: Vec<Violation>,
    /// Every episode that overlapped the window (`violations` may hold fewer).
    pub violations_total: u64,
}

/// Episodes a summary lists at most (a flapping rule can open thousands in a month).
pub const SUMMARY_VIOLATIONS: usize = 1000;

/// One stored operation of a program: what the pre-run check needs.
#[derive(Debug, Clone)]
pub struct ProgramOperation {
    pub id: i64,
    pub tool_id: Option<String>,
    pub part_no: Option<f64>,
    pub cutting_s: f64,
}

fn json<T: serde::de::DeserializeOwned>(what: &str, id: i64, text: &str) -> Result<T> {
    serde_json::from_str(text).with_context(|| format!("{what} {id}: stored record unreadable"))
}

fn violation(r: &Row) -> rusqlite::Result<Violation> {
    let severity: String = r.get("severity")?;
    Ok(Violation {
        rule_id: r.get("rule_id")?,
        profile: r.get("profile")?,
        standard: r.get("standard")?,
        severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
        start_ms: r.get("start_ms")?,
        end_ms: r.get("end_ms")?,
        worst_value: r.get("worst_value")?,
        limit: r.get("limit_text")?,
        unit: r.get("unit")?,
        source: r.get("source")?,
        verified: r.get("verified")?,
        message: r.get("message")?,
        message_zh: r.get("message_zh")?,
    })
}

impl Tx<'_> {
    pub(super) fn insert_operation(&self, op: &OperationRecord) -> Result<i64> {
        self.0.execute(
            "INSERT INTO operation (start_ms, end_ms, record) VALUES (?1, ?2, ?3)",
            params![op.start_ms, op.end_ms, serde_json::to_string(op)?],
        )?;
        Ok(self.0.last_insert_rowid())
    }

    pub(super) fn insert_part(&self, p: &PartRecord) -> Result<()> {
        self.0.execute(
            "INSERT INTO part (end_ms, record) VALUES (?1, ?2)",
            params![p.end_ms, serde_json::to_string(p)?],
        )?;
        Ok(())
    }

    pub(super) fn open_violation(&self, v: &Violation) -> Result<()> {
        self.0.execute(
            "INSERT INTO violation (rule_id, profile, standard, severity, start_ms, end_ms,
             worst_value, limit_text, unit, source, verified, message, message_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                v.rule_id,
                v.profile,
                v.standard,
                v.severity.as_str(),
                v.start_ms,
                v.end_ms,
                v.worst_value,
                v.limit,
                v.unit,
                v.source,
                v.verified,
                v.message,
                v.message_zh
            ],
        )?;
        Ok(())
    }

    /// Updates an open episode with its latest message (`(en, zh)`) and worst value, and closes
    /// it when `end_ms` is given.
    pub(super) fn update_violation(
        &self,
        profile: &str,
        rule_id: &str,
        start_ms: i64,
        message: (&str, &str),
        value: Option<f64>,
        end_ms: Option<i64>,
    ) -> Result<()> {
        self.0.execute(
            "UPDATE violation SET end_ms = ?4, message = CASE WHEN ?5 = '' THEN message ELSE ?5 END,
             message_zh = CASE WHEN ?7 = '' THEN message_zh ELSE ?7 END,
             worst_value = CASE WHEN ?6 IS NULL THEN worst_value WHEN worst_value IS NULL THEN ?6
                                WHEN abs(?6) > abs(worst_value) THEN ?6 ELSE worst_value END
             WHERE profile = ?1 AND rule_id = ?2 AND start_ms = ?3 AND end_ms IS NULL",
            params![profile, rule_id, start_ms, end_ms, message.0, value, message.1],
        )?;
        Ok(())
    }

    /// Episodes left open by a crash are closed at the agent's restart (their end unknown,
    /// taken as the restart, and said so).
    pub fn close_dangling_violations(&self, now_ms: i64) -> Result<usize> {
        Ok(self.0.execute(
            "UPDATE violation SET end_ms = ?1,
             message = message || ' (end not recorded: agent restarted)',
             message_zh = message_zh || '（未记录结束时间：代理程序重启）' WHERE end_ms IS NULL",
            [now_ms],
        )?)
    }
}

/// The violation episodes that overlapped [?1, ?2], newest first, at most ?3 (-1: all).
const OVERLAPPING: &str = "SELECT * FROM (
         SELECT * FROM violation
         WHERE start_ms <= ?2 AND end_ms >= ?1
           AND start_ms >= ?1 - (SELECT coalesce(max(end_ms - start_ms), 0) FROM violation)
         UNION ALL
         SELECT * FROM violation WHERE end_ms IS NULL AND start_ms <= ?2)
     ORDER BY start_ms DESC, id DESC LIMIT ?3";

impl Reader {
    /// The episodes that overlapped [from, to], oldest first: the newest `limit` of them
    /// (`None`: all). Closed episodes are looked for only among those that started at most the
    /// longest episode's length before `from` (the length index answers it at once), so a
    /// window costs a short range of the start index, never a scan of the whole history;
    /// open episodes (few: at most one per rule) are added.
    fn violations_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: Option<usize>,
    ) -> Result<Vec<Violation>> {
        let mut stmt = self.conn.prepare_cached(OVERLAPPING)?;
        let limit = limit.map_or(-1, |n| n as i64);
        let rows = stmt.query_map(params![from_ms, to_ms, limit], violation)?;
        let mut out: Vec<Violation> = rows.collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// How many episodes overlapped [from, to] (as [`Reader::violations_between`] finds them).
    fn count_violations_between(&self, from_ms: i64, to_ms: i64) -> Result<u64> {
        let n: i64 = self.conn.prepare_cached(
            "SELECT (SELECT count(*) FROM violation
                     WHERE start_ms <= ?2 AND end_ms >= ?1
                       AND start_ms >= ?1 - (SELECT coalesce(max(end_ms - start_ms), 0) FROM violation))
                  + (SELECT count(*) FROM violation WHERE end_ms IS NULL AND start_ms <= ?2)",
        )?
        .query_row([from_ms, to_ms], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The episodes that overlapped an operation, as the API and the export show them:
    /// `info` left out.
    pub fn violations_during(&self, op: &OperationRecord) -> Result<Vec<Violation>> {
        Ok(self
            .violations_between(op.start_ms, op.end_ms, None)?
            .into_iter()
            .filter(|v| v.severity != Severity::Info)
            .collect())
    }

    fn view(&self, id: i64, record: OperationRecord) -> Result<OperationView> {
        Ok(OperationView {
            id,
            duration_s: (record.end_ms - record.start_ms) as f64 / 1000.0,
            oil_ml_per_h: (record.cutting_s > 0.0)
                .then(|| record.oil_ml / record.cutting_s * 3600.0),
            compliant_share: (record.judged_s > 0.0).then(|| record.compliant_s / record.judged_s),
            violations: self.violations_during(&record)?,
            record,
        })
    }

    /// Operations that ended in [from, to], oldest first; the newest `limit` of them.
    pub fn operations(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<OperationView>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2
             ORDER BY end_ms DESC LIMIT ?3",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .rev()
            .map(|(id, text)| self.view(id, json("operation", id, &text)?))
            .collect()
    }

    /// Operations that ended in [from, to), oldest first, handed to `each` one by one (the
    /// operations export: memory does not grow with the history).
    pub fn each_operation(
        &self,
        from_ms: i64,
        to_ms: i64,
        mut each: impl FnMut(i64, &OperationRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms < ?2
             ORDER BY end_ms, id",
        )?;
        let mut rows = stmt.query(params![from_ms, to_ms])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get("id")?;
            let op = json("operation", id, &r.get::<_, String>("record")?)?;
            each(id, &op)?;
        }
        Ok(())
    }

    /// A tool's operations that ended in [from, to].
    pub fn operations_of_tool(
        &self,
        tool: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<OperationRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2
             AND json_extract(record, '$.tool_id') = ?3 ORDER BY end_ms, id",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, tool], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.iter()
            .map(|(id, text)| json("operation", *id, text))
            .collect()
    }

    /// The last operation of a tool that ended at or before `ts_ms`.
    pub fn last_operation_of_tool(
        &self,
        tool: &str,
        ts_ms: i64,
    ) -> Result<Option<OperationRecord>> {
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, record FROM operation
                 WHERE end_ms <= ?2 AND json_extract(record, '$.tool_id') = ?1
                 ORDER BY end_ms DESC LIMIT 1",
            )?
            .query_row(params![tool, ts_ms], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })
            .optional()?;
        row.map(|(id, text)| json("operation", id, &text))
            .transpose()
    }

    /// Operations with an id above `after`, oldest first, at most `limit` (fleet tailing).
    pub fn operations_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, OperationRecord)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM operation WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, text)| Ok((id, json("operation", id, &text)?)))
            .collect()
    }

    /// Parts that ended in [from, to], oldest first; the newest `limit` of them.
    pub fn parts(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<PartRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, record FROM part WHERE end_ms >= ?1 AND end_ms <= ?2
             ORDER BY end_ms DESC, id DESC LIMIT ?3",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![from_ms, to_ms, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.iter()
            .rev()
            .map(|(id, text)| json("part", *id, text))
            .collect()
    }

    /// A program's operations that ended in [from, to], the newest `limit` of them, with only
    /// what the pre-run check needs (filtered in SQL: no other program's rows are read out).
    pub fn operations_of_program(
        &self,
        program: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<ProgramOperation>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, json_extract(record, '$.tool_id') AS tool_id,
                    json_extract(record, '$.part_no') AS part_no,
                    coalesce(json_extract(record, '$.cutting_s'), 0.0) AS cutting_s
             FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2
               AND json_extract(record, '$.program') = ?3
             ORDER BY end_ms DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![from_ms, to_ms, program, limit as i64], |r| {
            Ok(ProgramOperation {
                id: r.get("id")?,
                tool_id: r.get("tool_id")?,
                part_no: r.get("part_no")?,
                cutting_s: r.get("cutting_s")?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Parts with an id above `after`, oldest first, at most `limit` (fleet tailing).
    pub fn parts_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, PartRecord)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, record FROM part WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok((r.get("id")?, r.get("record")?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, text)| Ok((id, json("part", id, &text)?)))
            .collect()
    }

    /// The newest operation's and part's ids now (0 when there are none).
    pub fn newest_operation_and_part(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM operation) AS op,
                    (SELECT coalesce(max(id), 0) FROM part) AS part",
            [],
            |r| Ok((r.get("op")?, r.get("part")?)),
        )?)
    }

    /// Operations and cutting seconds before `to_ms`, and parts (the machine's totals for the
    /// residual-life export).
    pub fn totals_before(&self, to_ms: i64) -> Result<(i64, f64, i64)> {
        Ok(self.conn.query_row(
            "SELECT (SELECT count(*) FROM operation WHERE end_ms < ?1) AS cuts,
                    (SELECT coalesce(sum(json_extract(record, '$.cutting_s')), 0.0)
                       FROM operation WHERE end_ms < ?1) AS cutting_s,
                    (SELECT count(*) FROM part WHERE end_ms < ?1) AS parts",
            [to_ms],
            |r| Ok((r.get("cuts")?, r.get("cutting_s")?, r.get("parts")?)),
        )?)
    }

    /// Totals and per-part figures over [from, to]: one aggregate query over the operations
    /// and parts (nothing is read out row by row), and the window's violation episodes.
    pub fn summary(&self, from_ms: i64, to_ms: i64, carbon: &Carbon) -> Result<Summary> {
        let mut s = Summary {
            from_ms,
            to_ms,
            carbon: carbon.clone(),
            ..Summary::default()
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT 'operation' AS kind,
                    coalesce(json_extract(record, '$.cooling_mode'), 'unknown') AS mode,
                    count(*) AS n,
                    total(json_extract(record, '$.cutting_s')) AS cutting_s,
                    total(json_extract(record, '$.judged_s')) AS judged_s,
                    total(json_extract(record, '$.compliant_s')) AS compliant_s,
                    total(json_extract(record, '$.energy_kwh')) AS energy_kwh,
                    total(json_extract(record, '$.oil_ml')) AS oil_ml,
                    total(coalesce(json_extract(record, '$.co2e_kg'),
                                   json_extract(record, '$.energy_kwh') * ?3
                                   + json_extract(record, '$.oil_ml') * ?4 / 1000.0)) AS co2e_kg,
                    total(json_extract(record, '$.oil_saved_ml')) AS oil_saved_ml
             FROM operation WHERE end_ms >= ?1 AND end_ms <= ?2 GROUP BY mode
             UNION ALL
             SELECT 'part', NULL, count(*), 0.0, 0.0, 0.0,
                    total(json_extract(record, '$.energy_kwh')),
                    total(json_extract(record, '$.oil_ml')),
                    total(coalesce(json_extract(record, '$.co2e_kg'),
                                   json_extract(record, '$.energy_kwh') * ?3
                                   + json_extract(record, '$.oil_ml') * ?4 / 1000.0)),
                    0.0
             FROM part WHERE end_ms >= ?1 AND end_ms <= ?2",
        )?;
        let mut rows = stmt.query(params![
            from_ms,
            to_ms,
            carbon.grid_kg_per_kwh,
            carbon.lubricant_kg_per_l.unwrap_or(0.0)
        ])?;
        let (mut part_e, mut part_o, mut part_c) = (0.0, 0.0, 0.0);
        let mut saved = 0.0;
        while let Some(r) = rows.next()? {
            let n: i64 = r.get("n")?;
            let (energy, oil): (f64, f64) = (r.get("energy_kwh")?, r.get("oil_ml")?);
            let co2e: f64 = r.get("co2e_kg")?;
            if r.get::<_, String>("kind")? == "part" {
                s.parts = n as u64;
                (part_e, part_o, part_c) = (energy, oil, co2e);
                continue;
            }
            s.co2e_kg += co2e;
            saved += r.get::<_, f64>("oil_saved_ml")?;
            let cutting: f64 = r.get("cutting_s")?;
            s.operations += n as u64;
            s.cutting_s += cutting;
            s.judged_s += r.get::<_, f64>("judged_s")?;
            s.compliant_s += r.get::<_, f64>("compliant_s")?;
            s.energy_kwh += energy;
            s.oil_ml += oil;
            *s.cutting_s_by_cooling.entry(r.get("mode")?).or_default() += cutting;
        }
        // Per part, the whole cycle counts (air moves and tool changes use energy too).
        let n = s.parts as f64;
        s.energy_kwh_per_part = (n > 0.0).then(|| part_e / n);
        s.oil_ml_per_part = (n > 0.0).then(|| part_o / n);
        s.co2e_kg_per_part = (n > 0.0).then(|| part_c / n);
        // Only with a baseline; operations recorded before it was set count nothing saved.
        s.oil_saved_ml = carbon.flood_oil_ml_per_h.map(|_| saved);
        s.not_judged_s = (s.cutting_s - s.judged_s).max(0.0);
        s.compliant_share = (s.judged_s > 0.0).then(|| s.compliant_s / s.judged_s);
        s.oil_ml_per_h = (s.cutting_s > 0.0).then(|| s.oil_ml / s.cutting_s * 3600.0);
        s.violations = self.violations_between(from_ms, to_ms, Some(SUMMARY_VIOLATIONS))?;
        s.violations_total = self.count_violations_between(from_ms, to_ms)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;
    use crate::store::Record;

    fn op(start_ms: i64, end_ms: i64, mode: &str, cutting_s: f64) -> OperationRecord {
        OperationRecord {
            start_ms,
            end_ms,
            cooling_mode: Some(mode.into()),
            program: Some("O1".into()),
            tool_id: Some("T1".into()),
            cutting_s,
            judged_s: cutting_s,
            compliant_s: cutting_s / 2.0,
            energy_kwh: 0.5,
            oil_ml: 2.0,
            ..OperationRecord::default()
        }
    }

    fn episode(start_ms: i64, end_ms: Option<i64>, severity: Severity) -> Violation {
        Violation {
            rule_id: format!("r{start_ms}"),
            profile: "p".into(),
            standard: "s".into(),
            severity,
            start_ms,
            end_ms,
            worst_value: None,
            limit: String::new(),
            unit: String::new(),
            source: String::new(),
            verified: false,
            message: String::new(),
            message_zh: None,
        }
    }

    #[test]
    fn an_episode_keeps_both_texts_through_updates_and_a_dangling_close() {
        let (store, _, _) = test_store("episode-zh");
        let mut v = episode(1_000, None, Severity::Warning);
        v.message = "mql.oil_flow at 1.2 ml/h".into();
        v.message_zh = Some("mql.oil_flow 仅 1.2 ml/h".into());
        let opened = v.clone();
        store.call(move |tx| tx.open_violation(&opened)).unwrap();
        let read = |store: &crate::store::Store| {
            store
                .read(|r| r.violations_between(0, i64::MAX, None))
                .unwrap()
                .remove(0)
        };
        assert_eq!(read(&store).message_zh, v.message_zh);
        store
            .call(|tx| {
                tx.update_violation(
                    "p",
                    "r1000",
                    1_000,
                    ("mql.oil_flow at 0.5 ml/h", "mql.oil_flow 仅 0.5 ml/h"),
                    Some(0.5),
                    None,
                )
            })
            .unwrap();
        assert_eq!(
            read(&store).message_zh.as_deref(),
            Some("mql.oil_flow 仅 0.5 ml/h")
        );
        store
            .call(|tx| tx.close_dangling_violations(9_000))
            .unwrap();
        let e = read(&store);
        assert!(e.message.ends_with("(end not recorded: agent restarted)"));
        assert_eq!(
            e.message_zh.as_deref(),
            Some("mql.oil_flow 仅 0.5 ml/h（未记录结束时间：代理程序重启）")
        );
    }

    #[test]
    fn overlapping_episodes_are_read_from_a_bounded_range_of_the_start_index() {
        let (store, _, _) = test_store("plan");
        let plan: Vec<String> = store
            .read(|r| {
                let mut st = r
                    .conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {OVERLAPPING}"))?;
                let rows = st.query_map([1, 2, 3], |r| r.get::<_, String>("detail"))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        let has = |s: &str| plan.iter().any(|p| p.contains(s));
        assert!(
            has("USING INDEX violation_start (start_ms>? AND start_ms<?)"),
            "{plan:#?}"
        );
        assert!(has("COVERING INDEX violation_length"), "{plan:#?}");
        assert!(has("USING INDEX violation_end (end_ms=?)"), "{plan:#?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:#?}");
    }

    #[test]
    fn a_summary_is_one_aggregate_and_episodes_overlap_by_their_length() {
        let (store, _, _) = test_store("summary");
        let h = 3_600_000;
        let ops = [
            op(10 * h, 11 * h, "mql", 600.0),
            op(12 * h, 13 * h, "mql", 1200.0),
            op(14 * h, 15 * h, "dry", 300.0),
            // Outside the window.
            op(40 * h, 41 * h, "mql", 9999.0),
        ];
        for o in &ops {
            store.record(Record::Operation(Box::new(o.clone())));
        }
        for (end, e) in [(11 * h, 1.0), (15 * h, 3.0), (41 * h, 100.0)] {
            store.record(Record::Part(PartRecord {
                end_ms: end,
                energy_kwh: e,
                oil_ml: 2.0 * e,
                ..PartRecord::default()
            }));
        }
        // A long episode that began well before the window and ended inside it, a short one
        // before the window, one still open, and an info one inside.
        for v in [
            episode(h, Some(10 * h + 1000), Severity::Warning),
            episode(2 * h, Some(2 * h + 1000), Severity::Critical),
            episode(14 * h + 1000, None, Severity::Critical),
            episode(12 * h + 1000, Some(12 * h + 2000), Severity::Info),
        ] {
            store.record(Record::ViolationOpened(Box::new(v)));
        }
        store.sync();
        let s = store
            .read(|r| r.summary(9 * h, 20 * h, &Carbon::default()))
            .unwrap();
        assert_eq!((s.operations, s.parts), (3, 2));
        assert_eq!(s.cutting_s, 2100.0);
        assert_eq!(s.compliant_share, Some(0.5));
        assert_eq!(s.energy_kwh, 1.5);
        assert_eq!(s.oil_ml, 6.0);
        assert_eq!(s.oil_ml_per_h, Some(6.0 / 2100.0 * 3600.0));
        assert_eq!(s.energy_kwh_per_part, Some(2.0));
        assert_eq!(s.oil_ml_per_part, Some(4.0));
        assert_eq!(s.cutting_s_by_cooling["mql"], 1800.0);
        assert_eq!(s.cutting_s_by_cooling["dry"], 300.0);
        let starts: Vec<i64> = s.violations.iter().map(|v| v.start_ms).collect();
        assert_eq!(starts, vec![h, 12 * h + 1000, 14 * h + 1000]);
        assert_eq!(s.violations_total, 3);
        // Per operation: the long episode overlaps the first; the open one the third; info is
        // left out of operations.
        let views = store.read(|r| r.operations(9 * h, 20 * h, 10)).unwrap();
        let n: Vec<usize> = views.iter().map(|v| v.violations.len()).collect();
        assert_eq!(n, vec![1, 0, 1]);
        // Parts: the newest `limit`, oldest first.
        let parts = store.read(|r| r.parts(0, 50 * h, 2)).unwrap();
        let ends: Vec<i64> = parts.iter().map(|p| p.end_ms).collect();
        assert_eq!(ends, vec![15 * h, 41 * h]);
        // The pre-run check's rows, for one program only.
        let p = store
            .read(|r| r.operations_of_program("O1", 0, 50 * h, 3))
            .unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].cutting_s, 9999.0, "newest first");
        assert!(store
            .read(|r| r.operations_of_program("O2", 0, 50 * h, 3))
            .unwrap()
            .is_empty());
        store.close();
    }
}
