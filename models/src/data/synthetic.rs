//! A synthetic wear table in the shape `models evaluate --csv` reads, for measuring the
//! generic CSV path at the size a plant's own data has (issue 17: 2,000 rows, 13 tools,
//! about 150 columns, empty cells). Written by `cargo run --release -p models --example
//! wear_csv` and timed by `cargo bench -p models --bench evaluate_speed`; generated data
//! is never committed.
//!
//! What is in it, so that a model has something to find and something to ignore:
//! - each tool wears along an S-shaped curve (break-in, steady, accelerating) to past
//!   VB = 0.3 at its own life, which depends on feed, depth of cut and material through a
//!   Taylor-like law and scatters log-normally from tool to tool;
//! - a fifth of the signal columns grow with wear (a per-tool sensor gain times
//!   1 + β·VB, plus noise); the rest are noise around a per-tool level;
//! - unless `clean`: one column is the same in every row, one is mostly empty, and a share
//!   of the signal cells is empty;
//! - a tenth of the VB cells are empty (wear not measured on that cut).
//!
//! Read it with `--group tool --order minutes --target VB --class material --limit 0.3`.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shape of the table.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticTable {
    pub rows: usize,
    pub groups: usize,
    /// Input columns besides tool, material, minutes and VB.
    pub columns: usize,
    /// Share of the signal cells left empty (ignored when `clean`).
    pub empty: f64,
    /// No empty feature cells, no constant column, no mostly-empty column: the shape the
    /// CSV path accepted before it imputed.
    pub clean: bool,
    pub seed: u64,
}

impl Default for SyntheticTable {
    fn default() -> Self {
        SyntheticTable {
            rows: 2000,
            groups: 13,
            columns: 150,
            empty: 0.02,
            clean: false,
            seed: 1,
        }
    }
}

/// Wear at a share `t` of the tool's life, 0.3 at t = 1: break-in, steady, accelerating.
fn wear(t: f64) -> f64 {
    0.3 * (0.25 * (1.0 - (-10.0 * t).exp()) + 0.45 * t + 0.3 * t.powi(3)) / 0.999_988_6
}

/// A standard normal draw (Box–Muller; keeps rand_distr out of the library).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl SyntheticTable {
    /// The table as CSV text.
    pub fn csv(&self) -> String {
        assert!(self.groups >= 2 && self.rows >= 10 * self.groups && self.columns >= 4);
        let mut rng = StdRng::seed_from_u64(self.seed);
        let junk = if self.clean { 0 } else { 2 };
        let signals = self.columns - 2 - junk;
        let informative = signals / 5;
        // β per informative signal: how strongly it follows wear.
        let beta: Vec<f64> = (0..signals)
            .map(|j| {
                if j < informative {
                    rng.random_range(0.5..3.0)
                } else {
                    0.0
                }
            })
            .collect();
        let mut out = String::from("tool,material,minutes,VB,feed,doc");
        if !self.clean {
            out.push_str(",spindle,coolant_temp");
        }
        for j in 0..signals {
            let _ = write!(out, ",s{j:03}");
        }
        out.push('\n');
        let feeds: [f64; 3] = [0.08, 0.1, 0.12];
        let docs: [f64; 3] = [1.0, 1.5, 2.0];
        for g in 0..self.groups {
            let n = self.rows / self.groups + usize::from(g < self.rows % self.groups);
            let material = if g % 2 == 0 { "steel" } else { "cast_iron" };
            let feed = feeds[g % 3];
            let doc = docs[(g / 3) % 3];
            // Taylor-like life in minutes, scattered log-normally from tool to tool.
            let base: f64 = if material == "steel" { 30.0 } else { 45.0 };
            let life = base
                * (0.1 / feed).powf(1.5)
                * (1.5 / doc).powf(0.8)
                * (0.25 * normal(&mut rng)).exp();
            // The tool runs to 115 % of its life, so every tool crosses 0.3.
            let step = 1.15 * life / n as f64;
            let gain: Vec<f64> = (0..signals)
                .map(|_| (0.3 * normal(&mut rng)).exp())
                .collect();
            for i in 0..n {
                let minutes = step * (i + 1) as f64;
                let vb = wear(minutes / life);
                let _ = write!(out, "T{:02},{material},{minutes:.4}", g + 1);
                if rng.random_bool(0.1) {
                    out.push(',');
                } else {
                    let _ = write!(out, ",{:.5}", vb + 0.005 * normal(&mut rng));
                }
                let _ = write!(out, ",{feed},{doc}");
                if !self.clean {
                    // A column with one value everywhere, and one that is mostly empty.
                    out.push_str(",1");
                    if rng.random_bool(0.7) {
                        out.push(',');
                    } else {
                        let _ = write!(out, ",{:.3}", 20.0 + normal(&mut rng));
                    }
                }
                for j in 0..signals {
                    if !self.clean && rng.random_bool(self.empty) {
                        out.push(',');
                        continue;
                    }
                    let noise = 0.05 * normal(&mut rng);
                    // Every seventh column crosses zero (an offset that moves with wear),
                    // to exercise both relative forms of the feature transform.
                    let x = if j % 7 == 6 {
                        gain[j] - 1.0 + beta[j] * (vb - 0.15) + noise
                    } else {
                        gain[j] * (1.0 + beta[j] * vb) * (1.0 + noise)
                    };
                    let _ = write!(out, ",{x:.5}");
                }
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_the_shape_asked_for() {
        let t = SyntheticTable {
            rows: 130,
            groups: 13,
            columns: 20,
            ..SyntheticTable::default()
        };
        let text = t.csv();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 131);
        // tool, material, minutes, VB + 20 inputs.
        assert!(lines.iter().all(|l| l.split(',').count() == 24));
        assert!(lines[1..].iter().any(|l| l.contains(",,")));
        let clean = SyntheticTable { clean: true, ..t }.csv();
        // Only VB may be empty in the clean table.
        for l in clean.lines().skip(1) {
            let cells: Vec<&str> = l.split(',').collect();
            assert!(
                cells
                    .iter()
                    .enumerate()
                    .all(|(i, c)| i == 3 || !c.is_empty()),
                "{l}"
            );
        }
        assert_eq!(t.csv(), text, "seeded: the same table every time");
    }
}
