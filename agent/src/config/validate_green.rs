//! Checks of the `[operations]`, `[compliance]`, `[lubricant]` and `[shifts]` sections. The
//! standards profiles named in `[compliance]` are loaded and checked here too: a broken limit is
//! a broken configuration.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::Diagnostics;
use super::green::{Lubricant, OperationSettings, Shifts};
use super::raw::RawConfig;
use crate::config::profile::{self, Profile};

pub fn check(
    d: &mut Diagnostics,
    raw: &RawConfig,
    file: &Path,
    read: super::ReadFile,
) -> (OperationSettings, Vec<Profile>, Option<Lubricant>, Shifts) {
    let o = &raw.operations;
    let ms = |v: &Option<Spanned<u64>>, default: u64| {
        Duration::from_millis(v.as_ref().map_or(default, |v| *v.get_ref()))
    };
    if let Some(t) = o.tick_ms.as_ref().filter(|t| *t.get_ref() == 0) {
        d.at(t.span(), "tick_ms must be greater than 0");
    }
    let operations = OperationSettings {
        tick: ms(&o.tick_ms, 100).max(Duration::from_millis(1)),
        min_load_pct: non_negative(d, o.min_load_pct.as_ref(), "min_load_pct", 2.0),
        max_cutting_feed_mm_min: non_negative(
            d,
            o.max_cutting_feed_mm_min.as_ref(),
            "max_cutting_feed_mm_min",
            10_000.0,
        ),
        start_delay: ms(&o.start_delay_ms, 300),
        end_delay: ms(&o.end_delay_ms, 1500),
    };

    let base = file.parent().unwrap_or(Path::new("."));
    let mut profiles: Vec<Profile> = Vec::new();
    for p in &raw.compliance.profiles {
        let path = base.join(p.get_ref());
        let loaded = read(&path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|text| profile::parse(&path, &text).map_err(|e| e.to_string()));
        match loaded {
            Ok(prof) => {
                if let Some(other) = profiles
                    .iter()
                    .find(|o| o.cooling.iter().any(|c| prof.cooling.contains(c)))
                {
                    d.at(
                        p.span(),
                        format!(
                            "profile `{}` covers a cooling mode that `{}` covers already",
                            prof.id, other.id
                        ),
                    );
                }
                profiles.push(prof);
            }
            Err(e) => d.at(p.span(), format!("in profile {}:\n{e}", path.display())),
        }
    }

    let lubricant = raw.lubricant.clone();

    let shifts = match &raw.shifts {
        None => Shifts::default(),
        Some(s) => {
            let offset = parse_offset(s.utc_offset.get_ref());
            if offset.is_none() {
                d.at(
                    s.utc_offset.span(),
                    format!("utc_offset `{}` is not ±HH:MM", s.utc_offset.get_ref()),
                );
            }
            let mut starts: Vec<i64> = Vec::new();
            for t in s.starts.get_ref() {
                match parse_hhmm(t) {
                    Some(m) => starts.push(m),
                    None => d.at(s.starts.span(), format!("shift start `{t}` is not HH:MM")),
                }
            }
            starts.sort_unstable();
            if starts.is_empty() {
                d.at(s.starts.span(), "at least one shift start is needed");
                starts.push(0);
            }
            Shifts {
                utc_offset_min: offset.unwrap_or(0),
                starts_min: starts,
            }
        }
    };
    (operations, profiles, lubricant, shifts)
}

fn parse_hhmm(t: &str) -> Option<i64> {
    let (h, m) = t.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

fn parse_offset(t: &str) -> Option<i64> {
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => return None,
    };
    Some(sign * parse_hhmm(rest).filter(|m| *m <= 14 * 60)?)
}

fn non_negative(d: &mut Diagnostics, v: Option<&Spanned<f64>>, what: &str, default: f64) -> f64 {
    match v {
        None => default,
        Some(s) if !(s.get_ref().is_finite() && *s.get_ref() >= 0.0) => {
            d.at(s.span(), format!("{what} must be a number ≥ 0"));
            default
        }
        Some(s) => *s.get_ref(),
    }
}
