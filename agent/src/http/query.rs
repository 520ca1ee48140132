//! Query parameters as every endpoint reads them: integers (an empty value is the default),
//! time windows in ms since the Unix epoch, and row limits; a bad one is a [`BadField`]
//! naming it.

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

/// `from_ms` and `to_ms`: the end defaults to `now_ms`, the start to `span_ms` before the end.
pub fn window(q: &Query, now_ms: i64, span_ms: i64) -> Result<(i64, i64), BadField> {
    let to = int(q, "to_ms", now_ms)?;
    let from = int(q, "from_ms", to - span_ms)?;
    if from > to {
        return Err(BadField::new(
            "from_ms",
            format!("`from_ms` ({from}) is after `to_ms` ({to})"),
        ));
    }
    Ok((from, to))
}

/// `limit`: 1..=`max` rows, `default` when absent.
pub fn limit(q: &Query, default: i64, max: i64) -> Result<usize, BadField> {
    let n = int(q, "limit", default)?;
    if !(1..=max).contains(&n) {
        return Err(BadField::new(
            "limit",
            format!("`limit` must be 1..={max}, got {n}"),
        ));
    }
    Ok(n as usize)
}
