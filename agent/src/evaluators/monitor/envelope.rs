//! An operation's envelope: what the spindle load (or power) looked like along the operation's
//! path over its first good cycles, and what it should be at a position now.
//!
//! **Position is path, not time.** A cycle's position is the path travelled at a cutting feed
//! (∫ `channel.feedrate` dt over the ticks the feed is at a cutting rate), normalised by the
//! envelope's mean path length. A feed or spindle-speed override makes the same cut take
//! longer or shorter, so a time axis would slide every feature of the load (an entry, a corner,
//! a hole) out of its bin; the path does not change with an override, and it needs no signal
//! beyond the feed rate that the operations are cut with anyway (an override signal is not
//! needed, and a feed override that the CNC does not report would still be followed).
//!
//! **Level scaled with the feed now.** At a constant feed per tooth the cutting power is
//! proportional to the feed rate (vf = fz·z·n, Pc ∝ vf), and a feed override alone changes it
//! by vf^(1−mc), 0.74-0.8 for steels: so what the envelope expects at a position is scaled by
//! the feed now over the feed learned there. An override of ±20 % moves the expectation with
//! the load instead of leaving the load outside its band.

use crate::records::monitor::{Bin, CycleBin, Envelope, LearnedCycle, OperationKey};

/// Samples one cycle keeps at most: beyond, every other one is dropped and only every second
/// one taken (an operation of an hour at 10 Hz stays within a few hundred kB).
const MAX_SAMPLES: usize = 8192;

/// One cycle along its path.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// (path position mm, value, feed mm/min)
    samples: Vec<(f64, f64, f64)>,
    stride: usize,
    skipped: usize,
    /// Path travelled at a cutting feed, mm.
    pub path_mm: f64,
}

impl Trace {
    pub fn push(&mut self, pos_mm: f64, value: f64, feed: f64) {
        self.stride = self.stride.max(1);
        self.skipped += 1;
        if self.skipped < self.stride {
            return;
        }
        self.skipped = 0;
        if self.samples.len() >= MAX_SAMPLES {
            let kept: Vec<_> = self.samples.iter().copied().step_by(2).collect();
            self.samples = kept;
            self.stride *= 2;
        }
        self.samples.push((pos_mm, value, feed));
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The cycle binned over `n` stretches of its own path (`None`: no samples, or no path).
    pub fn summary(&self, n: usize) -> Option<LearnedCycle> {
        if self.path_mm <= 0.0 || self.samples.is_empty() || n == 0 {
            return None;
        }
        let mut acc = vec![(0.0, f64::INFINITY, f64::NEG_INFINITY, 0.0, 0u32); n];
        for &(p, v, f) in &self.samples {
            let a = &mut acc[bin_of(p / self.path_mm, n)];
            a.0 += v;
            a.1 = a.1.min(v);
            a.2 = a.2.max(v);
            a.3 += f;
            a.4 += 1;
        }
        let bins = acc
            .into_iter()
            .map(|(s, lo, hi, f, k)| {
                (k > 0).then(|| CycleBin {
                    mean: s / f64::from(k),
                    min: lo,
                    max: hi,
                    feed_mm_min: f / f64::from(k),
                })
            })
            .collect();
        Some(LearnedCycle {
            path_mm: self.path_mm,
            bins,
        })
    }
}

fn bin_of(x: f64, n: usize) -> usize {
    ((x.max(0.0) * n as f64) as usize).min(n - 1)
}

/// The envelope learned from `cycles` (of one tool, each ended without an alarm, binned over
/// `n` stretches). Bins no sample fell in (a slow poll on a short operation) take their nearest
/// neighbours' values, widened to both: a band is never narrower than what was seen around it.
pub fn learn(
    key: &OperationKey,
    tool_id: Option<&str>,
    signal: &str,
    cycles: &[LearnedCycle],
    n: usize,
    now_ms: i64,
) -> Option<Envelope> {
    if cycles.is_empty() || cycles.iter().any(|c| c.path_mm <= 0.0 || c.bins.len() != n) {
        return None;
    }
    let mut bins: Vec<Option<Bin>> = (0..n)
        .map(|b| {
            let cycles: Vec<_> = cycles.iter().filter_map(|c| c.bins[b]).collect();
            if cycles.is_empty() {
                return None;
            }
            let k = cycles.len() as f64;
            let mean = cycles.iter().map(|c| c.mean).sum::<f64>() / k;
            let var = cycles.iter().map(|c| (c.mean - mean).powi(2)).sum::<f64>() / k;
            Some(Bin {
                mean,
                min: cycles.iter().map(|c| c.min).fold(f64::INFINITY, f64::min),
                max: cycles
                    .iter()
                    .map(|c| c.max)
                    .fold(f64::NEG_INFINITY, f64::max),
                scatter: var.sqrt(),
                feed_mm_min: cycles.iter().map(|c| c.feed_mm_min).sum::<f64>() / k,
            })
        })
        .collect();
    let known: Vec<usize> = (0..n).filter(|&b| bins[b].is_some()).collect();
    if known.is_empty() {
        return None;
    }
    for b in 0..n {
        if bins[b].is_some() {
            continue;
        }
        let before = known.iter().rev().find(|&&k| k < b).and_then(|&k| bins[k]);
        let after = known.iter().find(|&&k| k > b).and_then(|&k| bins[k]);
        bins[b] = match (before, after) {
            (Some(a), Some(c)) => Some(Bin {
                mean: (a.mean + c.mean) / 2.0,
                min: a.min.min(c.min),
                max: a.max.max(c.max),
                scatter: a.scatter.max(c.scatter),
                feed_mm_min: (a.feed_mm_min + c.feed_mm_min) / 2.0,
            }),
            (a, c) => a.or(c),
        };
    }
    let bins: Vec<Bin> = bins.into_iter().map(|b| b.expect("filled")).collect();
    let mean = bins.iter().map(|b| b.mean).sum::<f64>() / n as f64;
    Some(Envelope {
        key: key.clone(),
        tool_id: tool_id.map(str::to_string),
        signal: signal.to_string(),
        cycles: cycles.len() as u32,
        path_mm: cycles.iter().map(|c| c.path_mm).sum::<f64>() / cycles.len() as f64,
        mean,
        bins,
        learned_ms: now_ms,
    })
}

/// What the envelope expects at a position, scaled with the feed now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expect {
    /// Position 0..1 along the learned path.
    pub position: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    /// The envelope expects a cut here: its lower band is above zero.
    pub cutting: bool,
    /// The feed the envelope learned here, mm/min: how far the feed now is from it tells
    /// whether the scaling above was needed.
    pub learned_feed: f64,
}

/// How wide the band is: beyond the learned extremes by `band_pct` of the bin's mean and
/// `scatter_k` σ of the part-to-part scatter.
#[derive(Debug, Clone, Copy)]
pub struct Band {
    pub band_pct: f64,
    pub scatter_k: f64,
    /// Positions beyond 1 + this fraction are past the learned path: not judged.
    pub path_tolerance: f64,
}

/// What `env` expects at `pos_mm` along the path with the feed at `feed` mm/min; `None` past
/// the learned path (the program was changed, or the cut runs longer than any learned one).
pub fn expect(env: &Envelope, band: Band, pos_mm: f64, feed: f64) -> Option<Expect> {
    let n = env.bins.len();
    if n == 0 || env.path_mm <= 0.0 {
        return None;
    }
    let x = pos_mm / env.path_mm;
    if !x.is_finite() || x > 1.0 + band.path_tolerance {
        return None;
    }
    let b = bin_of(x, n);
    // The bins either side too: a sample at a bin's edge may belong to its neighbour in a
    // cycle with a slightly different path.
    let around = &env.bins[b.saturating_sub(1)..(b + 2).min(n)];
    let lo = around.iter().map(|b| b.min).fold(f64::INFINITY, f64::min);
    let hi = around
        .iter()
        .map(|b| b.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let scatter = around.iter().map(|b| b.scatter).fold(0.0, f64::max);
    let here = env.bins[b];
    let scale = if here.feed_mm_min > 0.0 && feed > 0.0 {
        (feed / here.feed_mm_min).clamp(0.5, 2.0)
    } else {
        1.0
    };
    let margin = band.band_pct / 100.0 * here.mean + band.scatter_k * scatter;
    let lower = ((lo - margin).max(0.0)) * scale;
    Some(Expect {
        position: x,
        expected: here.mean * scale,
        lower,
        upper: (hi + margin) * scale,
        cutting: lower > 0.0,
        learned_feed: here.feed_mm_min,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn key() -> OperationKey {
        OperationKey {
            program: "O1".into(),
            operation: "OP10".into(),
        }
    }

    /// A cycle of `path` mm at `feed` mm/min sampled every `step` mm: 5 at the entry (first
    /// tenth), `level` in the cut, times `gain`; binned over 50.
    pub fn cycle(path: f64, step: f64, level: f64, gain: f64) -> LearnedCycle {
        trace(path, step, level, gain).summary(50).unwrap()
    }

    pub fn trace(path: f64, step: f64, level: f64, gain: f64) -> Trace {
        let mut t = Trace::default();
        let mut p = 0.0;
        while p < path {
            let v = if p < path / 10.0 { 5.0 } else { level };
            t.push(p, v * gain, 1000.0);
            p += step;
        }
        t.path_mm = path;
        t
    }

    const BAND: Band = Band {
        band_pct: 10.0,
        scatter_k: 3.0,
        path_tolerance: 0.1,
    };

    #[test]
    fn learned_bands_hold_the_cycles_and_scale_with_the_feed() {
        let cycles = [
            cycle(600.0, 3.0, 20.0, 1.0),
            cycle(610.0, 3.0, 20.0, 1.03),
            cycle(590.0, 3.0, 20.0, 0.98),
        ];
        let env = learn(&key(), Some("T1"), "spindle.load", &cycles, 50, 7).unwrap();
        assert_eq!(env.cycles, 3);
        assert!((env.path_mm - 600.0).abs() < 1e-9);
        let mid = expect(&env, BAND, 300.0, 1000.0).unwrap();
        assert!(mid.cutting);
        assert!((mid.expected - 20.0).abs() < 0.5, "{mid:?}");
        assert!(mid.lower < 19.6 && mid.lower > 15.0, "{mid:?}");
        assert!(mid.upper > 20.6 && mid.upper < 25.0, "{mid:?}");
        // +20 % feed: the expectation follows.
        let fast = expect(&env, BAND, 300.0, 1200.0).unwrap();
        assert!((fast.expected / mid.expected - 1.2).abs() < 1e-9);
        assert!((fast.lower / mid.lower - 1.2).abs() < 1e-9);
        // Past the learned path: not judged.
        assert!(expect(&env, BAND, 700.0, 1000.0).is_none());
    }

    #[test]
    fn bins_without_samples_take_their_neighbours() {
        // 12 samples over 50 bins.
        let env = learn(
            &key(),
            None,
            "spindle.load",
            &[cycle(600.0, 50.0, 20.0, 1.0)],
            50,
            0,
        )
        .unwrap();
        assert_eq!(env.bins.len(), 50);
        assert!(env
            .bins
            .iter()
            .all(|b| b.mean.is_finite() && b.max >= b.min));
    }

    #[test]
    fn a_long_cycle_is_decimated_not_grown() {
        let t = trace(100_000.0, 1.0, 20.0, 1.0);
        assert!(t.len() <= MAX_SAMPLES, "{}", t.len());
        assert!(t.len() > MAX_SAMPLES / 4);
    }
}
