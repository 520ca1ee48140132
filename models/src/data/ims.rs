//! IMS (University of Cincinnati) bearing test 2: mean absolute vibration of four
//! bearings every 10 minutes; bearing 1 fails (outer race) at the end of the run.

use std::path::{Path, PathBuf};

use super::table::Table;
use super::DataError;

pub const FOLDER: &str = "ims_bearing_test2";
pub const FILE: &str = "Averaged_BearingTest_Dataset.csv";

/// One bearing's health-indicator history.
#[derive(Debug, Clone)]
pub struct BearingRun {
    pub source: PathBuf,
    pub bearing: String,
    /// Hours since the first record.
    pub hours: Vec<f64>,
    /// Mean absolute vibration (g) per record.
    pub vibration: Vec<f64>,
}

/// Load one bearing column. The last records after the rig stopped are near zero
/// (artefacts, not measurements); they are dropped: every trailing record below 10 % of
/// the median of the run is removed.
pub fn load(dir: &Path, bearing: &str) -> Result<BearingRun, DataError> {
    let path = dir.join(FOLDER).join(FILE);
    let table = Table::read(&path)?;
    let names = table.column_names();
    let stamp_col = names.first().cloned().ok_or_else(|| DataError::Invalid {
        path: path.clone(),
        message: "no columns".into(),
    })?;
    let stamps = table.string_column(&stamp_col)?;
    let mut vibration = table.f64_column(bearing)?;
    let mut hours = stamps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse_hours(s).ok_or_else(|| DataError::Invalid {
                path: path.clone(),
                message: format!(
                    "column `{stamp_col}` line {}: `{s}` is not a time stamp YYYY-MM-DD HH:MM:SS",
                    i + 2
                ),
            })
        })
        .collect::<Result<Vec<f64>, _>>()?;
    let t0 = hours.first().copied().unwrap_or(0.0);
    hours.iter_mut().for_each(|h| *h -= t0);

    let mut sorted = vibration.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    while vibration.last().is_some_and(|v| *v < 0.1 * median) {
        vibration.pop();
        hours.pop();
    }
    Ok(BearingRun {
        source: path,
        bearing: bearing.to_string(),
        hours,
        vibration,
    })
}

/// Hours since 1970-01-01 of `YYYY-MM-DD HH:MM:SS` (proleptic Gregorian, no time zone).
fn parse_hours(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|x| x.parse::<f64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // Days from civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 24.0 + hh + mm / 60.0 + ss / 3600.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_time_stamps_ten_minutes_apart() {
        let a = super::parse_hours("2004-02-12 10:52:39").unwrap();
        let b = super::parse_hours("2004-02-12 11:02:39").unwrap();
        assert!((b - a - 10.0 / 60.0).abs() < 1e-9);
        let c = super::parse_hours("2004-03-01 10:52:39").unwrap();
        // 2004 is a leap year: 12 Feb -> 1 Mar is 18 days.
        assert!((c - a - 18.0 * 24.0).abs() < 1e-9);
    }
}
