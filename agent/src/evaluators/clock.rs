//! The time step the evaluators integrate over (energy, oil, cutting and running time).
//!
//! By default it is the agent's own monotonic clock. Where the machine's running clock is mapped
//! (`machine.clock`, seconds: a CNC's power-on time counter, or the simulator's simulated time)
//! its advance is used instead: the values in a frame and the clock came from the same poll, so
//! a late evaluator thread or a machine that runs faster than real time (a simulator at a time
//! scale above 1) no longer shifts what is counted.

/// The longest step taken from the agent's clock: a long pause (suspend, a stalled thread) must
/// not be integrated as if the last values had held throughout.
const MAX_WALL_STEP_S: f64 = 2.0;

/// The longest step taken from the machine's clock. Larger than the wall limit because a
/// simulator may run many times faster than real time; a larger jump is a reset or a resync of
/// the counter, not time that passed.
const MAX_MACHINE_STEP_S: f64 = 120.0;

#[derive(Debug, Default)]
pub struct StepClock {
    /// The machine clock at the last frame that had it.
    last_machine_s: Option<f64>,
}

impl StepClock {
    /// Seconds to integrate over for `frame`, given `wall_dt_s` on the agent's clock since the
    /// last frame.
    pub fn step(&mut self, machine_s: Option<f64>, wall_dt_s: f64) -> f64 {
        let wall = wall_dt_s.clamp(0.0, MAX_WALL_STEP_S);
        let Some(now) = machine_s else {
            // Not mapped, or not good now: the agent's clock; resync when it comes back.
            self.last_machine_s = None;
            return wall;
        };
        match self.last_machine_s.replace(now) {
            // The first sight of the clock (or after a gap): nothing to difference against yet.
            None => wall,
            Some(last) => {
                let d = now - last;
                if (0.0..=MAX_MACHINE_STEP_S).contains(&d) {
                    d
                } else {
                    // Counter reset, or a jump: count nothing rather than something made up.
                    0.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_machine_clock_the_agent_clock_is_used_and_capped() {
        let mut c = StepClock::default();
        assert_eq!(c.step(None, 0.1), 0.1);
        assert_eq!(c.step(None, 30.0), MAX_WALL_STEP_S);
        assert_eq!(c.step(None, -1.0), 0.0);
    }

    #[test]
    fn the_machine_clock_advance_is_used_whatever_the_agent_clock_did() {
        let mut c = StepClock::default();
        assert_eq!(c.step(Some(100.0), 0.1), 0.1, "first sight: agent clock");
        // A simulator at 10x: 1 s of machine time per 0.1 s of agent time.
        assert_eq!(c.step(Some(101.0), 0.1), 1.0);
        // The clock polled less often than the evaluator ticks: nothing, then the whole step.
        assert_eq!(c.step(Some(101.0), 0.1), 0.0);
        assert_eq!(c.step(Some(103.5), 0.1), 2.5);
        // The agent's thread was late by 3 s while the machine advanced 0.2 s.
        assert!((c.step(Some(103.7), 3.0) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn a_reset_or_a_gap_counts_nothing_made_up() {
        let mut c = StepClock::default();
        c.step(Some(5000.0), 0.1);
        assert_eq!(c.step(Some(3.0), 0.1), 0.0, "counter reset");
        assert_eq!(c.step(Some(4.0), 0.1), 1.0, "counts again from the reset");
        assert_eq!(c.step(Some(4.0 + 3600.0), 0.1), 0.0, "a jump of an hour");
        assert_eq!(c.step(None, 0.1), 0.1, "clock lost: agent clock");
        assert_eq!(c.step(Some(10_000.0), 0.1), 0.1, "back: resync, no jump");
        assert_eq!(c.step(Some(10_001.0), 0.1), 1.0);
    }
}
