//! A time-windowed mean in bounded memory: samples fall into buckets of at least one second, at
//! most ~600 buckets per window, so an 8-hour window costs a few kilobytes, not one entry per
//! tick.

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct WindowMean {
    window_ms: i64,
    bucket_ms: i64,
    buckets: VecDeque<(i64, f64, u32)>,
}

impl WindowMean {
    pub fn new(window_ms: i64) -> Self {
        let bucket_ms = (window_ms / 600).max(1000);
        WindowMean {
            window_ms,
            bucket_ms,
            buckets: VecDeque::new(),
        }
    }

    pub fn push(&mut self, now_ms: i64, value: f64) {
        let key = now_ms.div_euclid(self.bucket_ms);
        match self.buckets.back_mut() {
            Some((k, sum, n)) if *k == key => {
                *sum += value;
                *n += 1;
            }
            _ => self.buckets.push_back((key, value, 1)),
        }
        self.expire(now_ms);
    }

    pub fn expire(&mut self, now_ms: i64) {
        let oldest = (now_ms - self.window_ms).div_euclid(self.bucket_ms);
        while self.buckets.front().is_some_and(|(k, _, _)| *k < oldest) {
            self.buckets.pop_front();
        }
    }

    pub fn mean(&self) -> Option<f64> {
        let (sum, n) = self
            .buckets
            .iter()
            .fold((0.0, 0u32), |(s, c), (_, v, k)| (s + v, c + k));
        (n > 0).then(|| sum / f64::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_forgets_what_left_the_window() {
        let mut w = WindowMean::new(10_000);
        for t in 0..10 {
            w.push(t * 1000, 100.0);
        }
        assert_eq!(w.mean(), Some(100.0));
        for t in 10..25 {
            w.push(t * 1000, 0.0);
        }
        assert_eq!(w.mean(), Some(0.0));
        let mut long = WindowMean::new(8 * 3600 * 1000);
        for t in 0..100_000 {
            long.push(t * 100, 1.0);
        }
        assert!(long.buckets.len() <= 602);
    }
}
