//! The one retry policy of the agent (device reconnections, the MQTT session, webhook
//! deliveries): exponential, capped, with jitter so that many agents (or many devices behind
//! one gateway) that lost a peer together do not all knock again at the same instant.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay: initial·2ⁿ capped at max, then scaled by a random factor in [0.8, 1]:
    /// never more than the cap, never much less than the nominal delay (a dead peer is not
    /// hammered, and a configured `retry_initial_ms` means about what it says).
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        nominal.mul_f64(rand::rng().random_range(0.8..=1.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        for (i, ms) in d.iter().enumerate() {
            let nominal = (100u128 << i).min(1000);
            assert!(
                *ms >= nominal * 8 / 10 && *ms <= nominal,
                "attempt {i}: {ms} vs {nominal}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
