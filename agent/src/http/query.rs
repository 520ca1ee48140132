//! Query parameters as every endpoint reads them: integers (an empty value is the default),
//! time windows in ms since the Unix epoch, and row limits; a bad one is a [`BadField`]
//! naming it.
//!
//! Every list and summary endpoint reads within [`Bounds`]: the longest window and the most
//! rows one request may ask for, so that no request can make the agent read months of history
//! into memory on a Pi. Beyond them the answer is 400 naming the field; ask for several
//! windows instead (or use the export, which streams).

use std::collections::HashMap;

use crate::field::BadField;

pub type Query = HashMap<String, String>;

/// An integer field, `default` when absent or empty.
pub fn int(q: &Query, field: &'static str, default: i64) -> Result<i64, BadField> {
    match q.get(field).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse::<i64>().map_err(|_| {
            BadField::new(
                field,
                format!(
                    "`{field}` must be an integer (ms since the Unix epoch or a count), got `{v}`"
                ),
            )
        }),
    }
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// What one list or summary endpoint lets a request read.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The window when `from_ms` is not given (ending at `to_ms`, or now).
    pub default_span_ms: i64,
    /// The longest window (`to_ms - from_ms`) one request may ask for.
    pub max_span_ms: i64,
    /// Rows when `limit` is not given, and the most a request may ask for.
    pub default_limit: i64,
    pub max_limit: i64,
}

/// `GET /api/history`: samples of one signal.
pub const HISTORY: Bounds = Bounds {
    default_span_ms: HOUR,
    max_span_ms: 31 * DAY,
    default_limit: 10_000,
    max_limit: 100_000,
};

/// `GET /api/operations`.
pub const OPERATIONS: Bounds = Bounds {
    default_span_ms: 8 * HOUR,
    max_span_ms: 31 * DAY,
    default_limit: 1000,
    max_limit: 10_000,
};

/// `GET /api/parts`.
pub const PARTS: Bounds = Bounds {
    default_span_ms: DAY,
    max_span_ms: 31 * DAY,
    default_limit: 1000,
    max_limit: 10_000,
};

/// `GET /api/summary?from_ms=&to_ms=`: one aggregate query, which still reads every operation
/// of the window (a month of one every 40 s: about 1.5 s in a debug build on a PC); it lists at
/// most `store::SUMMARY_VIOLATIONS` episodes (no `limit`).
pub const SUMMARY: Bounds = Bounds {
    default_span_ms: 8 * HOUR,
    max_span_ms: 31 * DAY,
    default_limit: 0,
    max_limit: 0,
};

/// `GET /api/counter-events`.
pub const COUNTER_EVENTS: Bounds = Bounds {
    default_span_ms: 30 * DAY,
    max_span_ms: 92 * DAY,
    default_limit: 500,
    max_limit: 10_000,
};

/// `GET /api/access-events`.
pub const ACCESS_EVENTS: Bounds = Bounds {
    default_span_ms: 30 * DAY,
    max_span_ms: 92 * DAY,
    default_limit: 500,
    max_limit: 10_000,
};

/// `GET /api/alarms/history`.
pub const ALARM_HISTORY: Bounds = Bounds {
    default_span_ms: 7 * DAY,
    max_span_ms: 92 * DAY,
    default_limit: 500,
    max_limit: 10_000,
};

impl Bounds {
    /// `from_ms` and `to_ms`: the end defaults to `now_ms`, the start to the default span
    /// before the end; a window longer than the bound is refused, naming `from_ms`.
    pub fn window(&self, q: &Query, now_ms: i64) -> Result<(i64, i64), BadField> {
        let to = int(q, "to_ms", now_ms)?;
        let from = int(q, "from_ms", to.saturating_sub(self.default_span_ms))?;
        if from > to {
            return Err(BadField::new(
                "from_ms",
                format!("`from_ms` ({from}) is after `to_ms` ({to})"),
            ));
        }
        let span = to.saturating_sub(from);
        if span > self.max_span_ms {
            return Err(BadField::new(
                "from_ms",
                format!(
                    "the window `from_ms`..`to_ms` spans {:.1} days; one request reads at most {} \
                     days (ask for several windows, or use /api/export)",
                    span as f64 / DAY as f64,
                    self.max_span_ms / DAY
                ),
            ));
        }
        Ok((from, to))
    }

    /// `limit`: 1..=`max_limit` rows, `default_limit` when absent.
    pub fn limit(&self, q: &Query) -> Result<usize, BadField> {
        let n = int(q, "limit", self.default_limit)?;
        if !(1..=self.max_limit).contains(&n) {
            return Err(BadField::new(
                "limit",
                format!("`limit` must be 1..={}, got {n}", self.max_limit),
            ));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn windows_and_limits_beyond_the_bounds_name_their_field() {
        let now = 100 * DAY;
        assert_eq!(
            OPERATIONS.window(&q(&[]), now).unwrap(),
            (now - 8 * HOUR, now)
        );
        let ok = (now - 31 * DAY).to_string();
        assert_eq!(
            OPERATIONS.window(&q(&[("from_ms", &ok)]), now).unwrap(),
            (now - 31 * DAY, now)
        );
        let e = OPERATIONS.window(&q(&[("from_ms", "0")]), now).unwrap_err();
        assert_eq!(e.field, "from_ms");
        assert!(e.message.contains("at most 31 days"), "{}", e.message);
        let e = OPERATIONS
            .window(&q(&[("from_ms", "5"), ("to_ms", "4")]), now)
            .unwrap_err();
        assert_eq!(e.field, "from_ms");
        assert_eq!(OPERATIONS.limit(&q(&[])).unwrap(), 1000);
        assert_eq!(OPERATIONS.limit(&q(&[("limit", "10000")])).unwrap(), 10_000);
        let e = OPERATIONS.limit(&q(&[("limit", "10001")])).unwrap_err();
        assert_eq!(e.field, "limit");
        let e = HISTORY.window(&q(&[("to_ms", "x")]), now).unwrap_err();
        assert_eq!(e.field, "to_ms");
        // Extreme values neither overflow nor pass.
        let e = SUMMARY
            .window(&q(&[("from_ms", &i64::MIN.to_string())]), now)
            .unwrap_err();
        assert_eq!(e.field, "from_ms");
    }
}
