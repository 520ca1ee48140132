//! Per-cut feature records and the causal feature transform.
//!
//! Two kinds of input column are told apart from the training data:
//! - *conditions* (depth of cut, feed, material...) stay constant along a tool's life;
//!   they enter as values and as usage × value (wear rate depends on them);
//! - *signals* (force, vibration, AE statistics) vary cut by cut. Sensor gain and
//!   mounting differ from tool to tool, so a signal is taken relative to the same tool's
//!   own first cuts (log ratio to the median of its first `baseline_cuts` cuts), smoothed
//!   with a causal running median, and also integrated over usage (wear accumulates the
//!   load the tool has seen).
//!
//! Everything here is causal: the value for cut k uses cuts 1..=k only, so the agent can
//! compute it online with a [`FeatureState`] per tool.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::data::Sequence;

/// One cut as the agent sees it: usage at the end of the cut and named feature values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CutRecord {
    /// Usage at the end of this cut (cut count, or cumulative cutting minutes), in the
    /// unit the model was trained with (`WearModel::usage_unit`).
    pub usage: f64,
    /// Feature values by name; every name in `WearModel::feature_names()` must be present.
    pub features: BTreeMap<String, f64>,
}

impl CutRecord {
    pub fn new(usage: f64) -> Self {
        CutRecord {
            usage,
            features: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.features.insert(name.to_string(), value);
        self
    }

    /// Build from a data-set row (`names` and `values` in the same order).
    pub fn from_row(usage: f64, names: &[String], values: &[f64]) -> Self {
        CutRecord {
            usage,
            features: names.iter().cloned().zip(values.iter().copied()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    #[error("cut record has no value for feature `{0}`")]
    Missing(String),
    #[error("feature `{name}` is not a finite number ({value})")]
    NotFinite { name: String, value: f64 },
    #[error("usage went backwards: {previous} then {current}")]
    UsageBackwards { previous: f64, current: f64 },
}

/// How a signal column is made relative to the tool's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Relative {
    /// ln(x / baseline): for columns of one sign (amplitudes, RMS, peak values).
    LogRatio,
    /// (x - baseline) / scale: for columns that cross zero (means, skewness).
    Difference { scale: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalSpec {
    pub name: String,
    pub relative: Relative,
}

/// The fitted layout of the engineered feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub conditions: Vec<String>,
    pub signals: Vec<SignalSpec>,
    /// Cuts whose median is the tool's signal baseline.
    pub baseline_cuts: usize,
    /// Length of the causal running median over relative signals.
    pub smoothing_cuts: usize,
}

/// Options for [`FeatureSpec::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureOptions {
    pub baseline_cuts: usize,
    pub smoothing_cuts: usize,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        // 30 cuts: long enough for a stable median, short against a 200-300 cut life.
        // 5 cuts of running median remove single-cut outliers without much lag.
        FeatureOptions {
            baseline_cuts: 30,
            smoothing_cuts: 5,
        }
    }
}

impl FeatureSpec {
    /// Decide the role of each input column from training sequences.
    pub fn fit(names: &[String], sequences: &[&Sequence], opts: FeatureOptions) -> FeatureSpec {
        let mut conditions = Vec::new();
        let mut signals = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let constant_in_every_tool = sequences.iter().all(|s| {
                let first = s.features.first().map(|r| r[j]).unwrap_or(0.0);
                s.features
                    .iter()
                    .all(|r| (r[j] - first).abs() <= 1e-12 * first.abs().max(1.0))
            });
            if constant_in_every_tool {
                conditions.push(name.clone());
                continue;
            }
            let values = sequences
                .iter()
                .flat_map(|s| s.features.iter().map(move |r| r[j]));
            let (mut all_pos, mut all_neg) = (true, true);
            let (mut n, mut sum, mut sum2) = (0.0, 0.0, 0.0);
            for v in values {
                all_pos &= v > 0.0;
                all_neg &= v < 0.0;
                n += 1.0;
                sum += v;
                sum2 += v * v;
            }
            let relative = if all_pos || all_neg {
                Relative::LogRatio
            } else {
                let var = (sum2 / n - (sum / n).powi(2)).max(0.0);
                Relative::Difference {
                    scale: var.sqrt().max(1e-12),
                }
            };
            signals.push(SignalSpec {
                name: name.clone(),
                relative,
            });
        }
        FeatureSpec {
            conditions,
            signals,
            baseline_cuts: opts.baseline_cuts.max(1),
            smoothing_cuts: opts.smoothing_cuts.max(1),
        }
    }

    /// Names of the input columns the model needs, conditions first.
    pub fn input_names(&self) -> Vec<String> {
        self.conditions
            .iter()
            .cloned()
            .chain(self.signals.iter().map(|s| s.name.clone()))
            .collect()
    }

    /// Names of the engineered columns, in the order of [`FeatureSpec::transform`].
    pub fn engineered_names(&self, usage_name: &str) -> Vec<String> {
        let mut out = vec![usage_name.to_string(), format!("ln(1+{usage_name})")];
        for c in &self.conditions {
            out.push(c.clone());
            out.push(format!("{usage_name}*{c}"));
        }
        for s in &self.signals {
            out.push(format!("rel({})", s.name));
            out.push(format!("int rel({}) d{usage_name}", s.name));
        }
        out
    }

    pub fn width(&self) -> usize {
        2 + 2 * self.conditions.len() + 2 * self.signals.len()
    }

    /// Condition values of a cut, in `conditions` order.
    pub fn condition_values(&self, cut: &CutRecord) -> Result<Vec<f64>, FeatureError> {
        self.conditions.iter().map(|c| value(cut, c)).collect()
    }

    /// Engineered feature vector of the next cut of a tool; updates the tool's state.
    pub fn transform(
        &self,
        state: &mut FeatureState,
        cut: &CutRecord,
    ) -> Result<Vec<f64>, FeatureError> {
        if !cut.usage.is_finite() {
            return Err(FeatureError::NotFinite {
                name: "usage".into(),
                value: cut.usage,
            });
        }
        if let Some(prev) = state.last_usage {
            if cut.usage < prev {
                return Err(FeatureError::UsageBackwards {
                    previous: prev,
                    current: cut.usage,
                });
            }
        }
        let conditions = self.condition_values(cut)?;
        let raw: Vec<f64> = self
            .signals
            .iter()
            .map(|s| value(cut, &s.name))
            .collect::<Result<_, _>>()?;

        if state.baseline.len() != self.signals.len() {
            state.baseline = vec![Vec::new(); self.signals.len()];
            state.integral = vec![0.0; self.signals.len()];
        }
        let du = cut.usage - state.last_usage.unwrap_or(0.0);
        state.last_usage = Some(cut.usage);

        let mut rel = Vec::with_capacity(raw.len());
        for (k, (spec, x)) in self.signals.iter().zip(&raw).enumerate() {
            let buf = &mut state.baseline[k];
            if buf.len() < self.baseline_cuts {
                buf.push(*x);
            }
            let base = median(buf);
            let r = match spec.relative {
                Relative::LogRatio => {
                    // A value of the other sign than in training has no log ratio; clamp
                    // it to a tiny ratio rather than produce NaN.
                    let ratio = if base != 0.0 { x / base } else { 1.0 };
                    ratio.max(1e-6).ln()
                }
                Relative::Difference { scale } => (x - base) / scale,
            };
            state.integral[k] += r * du;
            rel.push(r);
        }
        state.window.push_back(rel);
        while state.window.len() > self.smoothing_cuts {
            state.window.pop_front();
        }

        let u = cut.usage;
        let mut out = Vec::with_capacity(self.width());
        out.push(u);
        out.push(u.max(0.0).ln_1p());
        for c in conditions {
            out.push(c);
            out.push(u * c);
        }
        let mut column = Vec::with_capacity(state.window.len());
        for k in 0..self.signals.len() {
            column.clear();
            column.extend(state.window.iter().map(|r| r[k]));
            out.push(median(&column));
            // Scaled by 1/100 only to keep magnitudes readable; standardisation follows.
            out.push(state.integral[k] / 100.0);
        }
        Ok(out)
    }
}

fn value(cut: &CutRecord, name: &str) -> Result<f64, FeatureError> {
    let v = *cut
        .features
        .get(name)
        .ok_or_else(|| FeatureError::Missing(name.to_string()))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(FeatureError::NotFinite {
            name: name.to_string(),
            value: v,
        })
    }
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Per-tool memory of the causal transform.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureState {
    baseline: Vec<Vec<f64>>,
    window: VecDeque<Vec<f64>>,
    integral: Vec<f64>,
    last_usage: Option<f64>,
}

/// Column-wise standardisation with parameters from training rows only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Standardizer {
    pub fn fit(rows: &[Vec<f64>]) -> Standardizer {
        let width = rows.first().map_or(0, Vec::len);
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; width];
        for r in rows {
            for (m, x) in mean.iter_mut().zip(r) {
                *m += x / n;
            }
        }
        let mut var = vec![0.0; width];
        for r in rows {
            for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
                *v += (x - m).powi(2) / n;
            }
        }
        // A constant column gets scale 1: it standardises to 0 and carries no weight.
        let scale = var
            .into_iter()
            .map(|v| if v > 1e-24 { v.sqrt() } else { 1.0 })
            .collect();
        Standardizer { mean, scale }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(values: &[(f64, f64, f64)]) -> Sequence {
        Sequence {
            group: "g".into(),
            class: "all".into(),
            usage: (1..=values.len()).map(|u| u as f64).collect(),
            features: values.iter().map(|(a, b, c)| vec![*a, *b, *c]).collect(),
            target: vec![None; values.len()],
        }
    }

    #[test]
    fn roles_and_causal_transform() {
        let names = vec!["feed".to_string(), "force".into(), "mean".into()];
        let s = seq(&[(0.5, 2.0, -1.0), (0.5, 4.0, 1.0), (0.5, 8.0, 0.5)]);
        let spec = FeatureSpec::fit(
            &names,
            &[&s],
            FeatureOptions {
                baseline_cuts: 1,
                smoothing_cuts: 1,
            },
        );
        assert_eq!(spec.conditions, vec!["feed".to_string()]);
        assert_eq!(spec.signals[0].relative, Relative::LogRatio);
        assert!(matches!(
            spec.signals[1].relative,
            Relative::Difference { .. }
        ));

        let mut st = FeatureState::default();
        let rows: Vec<Vec<f64>> = (0..3)
            .map(|i| {
                let cut = CutRecord::from_row(s.usage[i], &names, &s.features[i]);
                spec.transform(&mut st, &cut).unwrap()
            })
            .collect();
        // force doubles each cut against a baseline of the first cut: ln 1, ln 2, ln 4.
        assert!((rows[0][4]).abs() < 1e-12);
        assert!((rows[1][4] - 2f64.ln()).abs() < 1e-12);
        assert!((rows[2][4] - 4f64.ln()).abs() < 1e-12);
        // usage × feed
        assert!((rows[2][3] - 1.5).abs() < 1e-12);
        // the integral grows by rel × Δusage
        assert!((rows[2][5] * 100.0 - (2f64.ln() + 4f64.ln())).abs() < 1e-12);

        let missing = CutRecord::new(4.0).with("feed", 0.5);
        assert_eq!(
            spec.transform(&mut st, &missing),
            Err(FeatureError::Missing("force".into()))
        );
    }
}
