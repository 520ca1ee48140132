//! The grace period of the rules that tolerate a short lapse (oil absent for a moment while
//! cutting, aerosol still on just after the spindle stopped): since when the bad state has
//! held, and whether that is longer than the grace.

use std::time::Duration;

#[derive(Debug, Default)]
pub struct Grace {
    /// Since when the bad state has held (ms since the Unix epoch).
    since: Option<i64>,
}

impl Grace {
    /// The good state, or the rule does not apply: the lapse ends.
    pub fn clear(&mut self) {
        self.since = None;
    }

    /// The bad state holds at `now_ms`: how long it has held (seconds), and whether that is
    /// past `grace`.
    pub fn lapse(&mut self, now_ms: i64, grace: Duration) -> (f64, bool) {
        let since = *self.since.get_or_insert(now_ms);
        let held_s = (now_ms - since) as f64 / 1000.0;
        (held_s, held_s > grace.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lapse_counts_from_its_first_tick_and_a_clear_ends_it() {
        let mut g = Grace::default();
        let grace = Duration::from_secs(5);
        assert_eq!(g.lapse(1_000, grace), (0.0, false));
        assert_eq!(g.lapse(6_000, grace), (5.0, false), "at the grace: not yet");
        assert_eq!(g.lapse(6_100, grace), (5.1, true));
        g.clear();
        assert_eq!(g.lapse(7_000, grace), (0.0, false));
    }
}
