//! Settings of the green-cutting evaluators: how operations are cut out of the signal stream,
//! the lubricant's data sheet, and shift times for summaries.

use std::time::Duration;

/// How the signal stream is cut into operations.
#[derive(Debug, Clone)]
pub struct OperationSettings {
    /// How often evaluators look at the state.
    pub tick: Duration,
    /// Spindle load at or above which the spindle is taken to be cutting (below: air cutting).
    pub min_load_pct: f64,
    /// Feed rates above this are rapid moves, not cutting.
    pub max_cutting_feed_mm_min: f64,
    /// Cutting must hold this long before an operation starts ...
    pub start_delay: Duration,
    /// ... and stop this long before it ends (a flickering value does not split operations).
    pub end_delay: Duration,
}

/// The lubricant in use, from its data sheet (`[lubricant]`); `property` rules check it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lubricant {
    pub name: String,
    pub flash_point_c: Option<f64>,
    pub evaporation_loss_pct: Option<f64>,
    pub viscosity_40c_mm2_s: Option<f64>,
    pub benzo_a_pyrene_ppm: Option<f64>,
    pub biocides: Option<bool>,
    pub base_oil: Option<String>,
}

impl Lubricant {
    pub fn number(&self, property: &str) -> Option<f64> {
        match property {
            "flash_point_c" => self.flash_point_c,
            "evaporation_loss_pct" => self.evaporation_loss_pct,
            "viscosity_40c_mm2_s" => self.viscosity_40c_mm2_s,
            "benzo_a_pyrene_ppm" => self.benzo_a_pyrene_ppm,
            _ => None,
        }
    }

    pub fn property(&self, property: &str) -> Option<crate::config::profile::PropertyValue> {
        use crate::config::profile::PropertyValue;
        match property {
            "biocides" => self.biocides.map(PropertyValue::Bool),
            "base_oil" => self.base_oil.clone().map(PropertyValue::Text),
            _ => None,
        }
    }
}

/// Shift start times in local time, for shift and day summaries.
#[derive(Debug, Clone)]
pub struct Shifts {
    /// Local time minus UTC, in minutes.
    pub utc_offset_min: i64,
    /// Minutes after local midnight at which each shift starts, ascending.
    pub starts_min: Vec<i64>,
}

impl Default for Shifts {
    fn default() -> Self {
        Shifts {
            utc_offset_min: 0,
            starts_min: vec![6 * 60, 14 * 60, 22 * 60],
        }
    }
}

impl Shifts {
    /// The shift (or local day) containing `now_ms`, as [from, to) in ms since the Unix epoch.
    pub fn window(&self, day: bool, now_ms: i64) -> (i64, i64) {
        const DAY: i64 = 86_400_000;
        let offset = self.utc_offset_min * 60_000;
        let local = now_ms + offset;
        let midnight = local.div_euclid(DAY) * DAY;
        if day {
            return (midnight - offset, midnight + DAY - offset);
        }
        let minute = (local - midnight) / 60_000;
        // The last start at or before now; before the first start, the previous day's last shift.
        let (start, next) = match self.starts_min.iter().rposition(|s| *s <= minute) {
            Some(i) => (
                midnight + self.starts_min[i] * 60_000,
                self.starts_min
                    .get(i + 1)
                    .map_or(midnight + DAY + self.starts_min[0] * 60_000, |s| {
                        midnight + s * 60_000
                    }),
            ),
            None => (
                midnight - DAY + self.starts_min[self.starts_min.len() - 1] * 60_000,
                midnight + self.starts_min[0] * 60_000,
            ),
        };
        (start - offset, next - offset)
    }
}

#[cfg(test)]
mod shift_tests {
    use super::Shifts;

    #[test]
    fn shift_windows_follow_local_time() {
        // UTC+8, shifts at 06:00, 14:00, 22:00 local.
        let s = Shifts {
            utc_offset_min: 480,
            starts_min: vec![360, 840, 1320],
        };
        let h = 3_600_000;
        // 2026-01-01T10:00 local = 02:00 UTC
        let t = 1_767_225_600_000 + 2 * h;
        let (from, to) = s.window(false, t);
        assert_eq!((from, to), (t - 4 * h, t + 4 * h));
        // 03:00 local belongs to the night shift that started 22:00 the day before.
        let night = 1_767_225_600_000 - 5 * h;
        let (from, to) = s.window(false, night);
        assert_eq!((from, to), (night - 5 * h, night + 3 * h));
        let (from, to) = s.window(true, t);
        assert_eq!(to - from, 24 * h);
        assert_eq!(from, t - 10 * h);
    }
}
