//! The wear model the agent runs: physics prior and learned model blended, passed
//! through the monotone filter, with calibrated intervals for wear and remaining life.
//!
//! Fitting uses only the training tools. Every choice that could overfit (penalty of
//! the learned model, weight of the prior in the blend, filter noise, interval widths)
//! is made on an inner leave-one-group-out over those training tools: each training tool
//! in turn is predicted by models fitted on the others, exactly as a new tool would be.

use serde::{Deserialize, Serialize};

use crate::conformal::ConformalInterval;
use crate::data::{Sequence, WearDataset};
use crate::features::{CutRecord, FeatureError, FeatureOptions, FeatureSpec, FeatureState};
use crate::metrics::rmse;
use crate::rul::{extrapolate, true_rul, Quantiles, RulCalibration};

use super::learned::{LearnError, Learner, LinearModel};
use super::monotone::{FilterState, MonotoneFilter};
use super::taylor::{PriorRow, TaylorError, TaylorPrior};

/// Settings of one training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub learner: Learner,
    pub features: FeatureOptions,
    /// Nominal coverage of the wear and remaining-life intervals (0.8 → P10..P90).
    pub coverage: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            learner: Learner::ElasticNet,
            features: FeatureOptions::default(),
            coverage: 0.8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("training needs at least 2 tools with measured wear (got {0}): the inner leave-one-group-out calibrates on held-out tools")]
    TooFewGroups(usize),
    #[error(transparent)]
    Prior(#[from] TaylorError),
    #[error(transparent)]
    Learn(#[from] LearnError),
    #[error("feature transform: {0}")]
    Feature(#[from] FeatureError),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Feature(#[from] FeatureError),
}

/// What the inner leave-one-group-out chose, and how well each part did there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub hyper: f64,
    pub prior_weight: f64,
    pub inner_rmse_prior: f64,
    pub inner_rmse_learned: f64,
    pub inner_rmse_blend: f64,
    pub inner_rmse_filtered: f64,
    pub inner_rul_points: usize,
}

/// A fitted wear model for one kind of tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WearModel {
    pub usage_name: String,
    pub usage_unit: String,
    pub target_name: String,
    pub target_unit: String,
    /// Default wear limit for remaining life (target unit); a tool may override it.
    pub limit: f64,
    pub inputs: FeatureSpec,
    pub prior: TaylorPrior,
    pub learner: Learner,
    pub learned: LinearModel,
    /// Weight of the physics prior in the blend (learned model gets 1 − w).
    pub prior_weight: f64,
    pub filter: MonotoneFilter,
    pub vb_interval: ConformalInterval,
    pub rul: RulCalibration,
    pub selection: Selection,
}

/// Output for one cut.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WearPrediction {
    pub usage: f64,
    /// Flank wear after this cut (target unit): P50 is the filtered estimate.
    pub vb: Quantiles,
    /// Current wear rate (target unit per usage unit) from the filter.
    pub wear_rate: f64,
    /// Usage left until `limit` at the current rate (usage unit).
    pub rul: Quantiles,
    pub limit: f64,
}

/// Per-tool state carried from cut to cut (serialisable, so the agent can persist it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolState {
    pub class: String,
    pub limit: f64,
    pub cuts: usize,
    features: FeatureState,
    filter: FilterState,
}

/// One training tool, transformed once.
struct Prepared<'a> {
    seq: &'a Sequence,
    rows: Vec<Vec<f64>>,
    conditions: Vec<Vec<f64>>,
}

impl<'a> Prepared<'a> {
    fn labelled(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.seq
            .target
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
    }
}

fn prior_rows(prepared: &[&Prepared]) -> Vec<PriorRow> {
    prepared
        .iter()
        .flat_map(|p| {
            p.labelled().map(|(i, t)| {
                (
                    p.seq.class.clone(),
                    p.seq.usage[i],
                    p.conditions[i].clone(),
                    t,
                )
            })
        })
        .collect()
}

fn learned_rows(prepared: &[&Prepared]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for p in prepared {
        for (i, t) in p.labelled() {
            x.push(p.rows[i].clone());
            y.push(t);
        }
    }
    (x, y)
}

/// Prior level and rate at every row of a tool.
fn prior_path(prior: &TaylorPrior, spec: &FeatureSpec, p: &Prepared) -> (Vec<f64>, Vec<f64>) {
    let law = prior.law(&p.seq.class);
    p.seq
        .usage
        .iter()
        .zip(&p.conditions)
        .map(|(u, c)| {
            let pc = prior.select(&spec.conditions, c);
            (
                law.predict(&prior.conditions, &pc, *u),
                law.rate(&prior.conditions, &pc, *u),
            )
        })
        .unzip()
}

/// Inner-fold predictions of one held-out training tool.
struct InnerFold {
    prior: Vec<f64>,
    prior_rate: Vec<f64>,
    learned: Vec<Vec<f64>>, // per hyper-parameter
}

fn blend(w: f64, prior: &[f64], learned: &[f64]) -> Vec<f64> {
    prior
        .iter()
        .zip(learned)
        .map(|(p, l)| w * p + (1.0 - w) * l)
        .collect()
}

fn labelled_pairs(p: &Prepared, pred: &[f64], out_p: &mut Vec<f64>, out_t: &mut Vec<f64>) {
    for (i, t) in p.labelled() {
        out_p.push(pred[i]);
        out_t.push(t);
    }
}

impl WearModel {
    /// Fit on every tool of `data`.
    pub fn fit(data: &WearDataset, cfg: &TrainConfig) -> Result<WearModel, FitError> {
        let seqs: Vec<&Sequence> = data
            .sequences
            .iter()
            .filter(|s| s.target.iter().any(Option::is_some))
            .collect();
        if seqs.len() < 2 {
            return Err(FitError::TooFewGroups(seqs.len()));
        }
        let spec = FeatureSpec::fit(&data.feature_names, &seqs, cfg.features);
        let prepared: Vec<Prepared> = seqs
            .iter()
            .map(|s| prepare(&spec, &data.feature_names, s))
            .collect::<Result<_, _>>()?;
        let grid = cfg.learner.grid(spec.width());

        // Inner leave-one-group-out: predictions of each training tool by the others.
        let mut folds = Vec::with_capacity(prepared.len());
        for k in 0..prepared.len() {
            let others: Vec<&Prepared> = prepared
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, p)| p)
                .collect();
            let prior = TaylorPrior::fit(&spec.conditions, &prior_rows(&others))?;
            let (prior_pred, prior_rate) = prior_path(&prior, &spec, &prepared[k]);
            let (x, y) = learned_rows(&others);
            let learned = grid
                .iter()
                .map(|h| {
                    let m = LinearModel::fit(cfg.learner, *h, &x, &y)?;
                    Ok(prepared[k].rows.iter().map(|r| m.predict(r)).collect())
                })
                .collect::<Result<Vec<Vec<f64>>, FitError>>()?;
            folds.push(InnerFold {
                prior: prior_pred,
                prior_rate,
                learned,
            });
        }

        // Pooled inner RMSE of a per-tool prediction function.
        let pooled = |pred: &dyn Fn(usize) -> Vec<f64>| {
            let (mut p, mut t) = (Vec::new(), Vec::new());
            for (k, prep) in prepared.iter().enumerate() {
                labelled_pairs(prep, &pred(k), &mut p, &mut t);
            }
            (rmse(&p, &t), p, t)
        };

        let (h_idx, inner_rmse_learned) = (0..grid.len())
            .map(|h| (h, pooled(&|k| folds[k].learned[h].clone()).0))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("grid is never empty");
        let inner_rmse_prior = pooled(&|k| folds[k].prior.clone()).0;
        let (prior_weight, inner_rmse_blend) = (0..=10)
            .map(|i| {
                let w = i as f64 / 10.0;
                let e = pooled(&|k| blend(w, &folds[k].prior, &folds[k].learned[h_idx])).0;
                (w, e)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("non-empty");
        let blended: Vec<Vec<f64>> = folds
            .iter()
            .map(|f| blend(prior_weight, &f.prior, &f.learned[h_idx]))
            .collect();

        // Filter: the measurement variance is the cut-to-cut scatter of the blended
        // predictions (half the mean squared first difference), not their error against
        // the truth: a tool-level bias is not noise and filtering cannot remove it. The
        // rate noise is searched on the inner folds.
        let measurement_var = scatter_variance(&blended).max(1e-24);
        let step = typical_step(&seqs);
        let run_filter = |filter: &MonotoneFilter, k: usize| -> (Vec<f64>, Vec<f64>) {
            let mut st = FilterState::default();
            let p = &prepared[k];
            p.seq
                .usage
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let level = filter.step(&mut st, *u, blended[k][i], folds[k].prior_rate[i]);
                    (level, st.rate)
                })
                .unzip()
        };
        let (filter, inner_rmse_filtered) = (-9..=0)
            .map(|e| {
                let f = MonotoneFilter {
                    measurement_var,
                    rate_noise: measurement_var * 10f64.powi(e) / step.powi(3),
                };
                let err = pooled(&|k| run_filter(&f, k).0).0;
                (f, err)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("non-empty");

        // Calibration of wear intervals and remaining life on the same inner predictions.
        let cap = 3.0
            * seqs
                .iter()
                .map(|s| s.usage.last().unwrap_or(&0.0) - s.usage.first().unwrap_or(&0.0))
                .fold(step, f64::max);
        let (mut residuals, mut rul_est, mut rul_true) = (Vec::new(), Vec::new(), Vec::new());
        for (k, p) in prepared.iter().enumerate() {
            let (level, rate) = run_filter(&filter, k);
            for (i, t) in p.labelled() {
                residuals.push(t - level[i]);
            }
            let truth = true_rul(&p.seq.usage, &p.seq.target, data.limit);
            for (i, t) in truth.iter().enumerate() {
                if let Some(t) = t {
                    rul_est.push(extrapolate(level[i], rate[i], data.limit, cap));
                    rul_true.push(*t);
                }
            }
        }
        let vb_interval = ConformalInterval::calibrate(&residuals, cfg.coverage);
        let rul = RulCalibration::calibrate(&rul_est, &rul_true, step, cap, cfg.coverage);

        // Final fits on all training tools.
        let all: Vec<&Prepared> = prepared.iter().collect();
        let prior = TaylorPrior::fit(&spec.conditions, &prior_rows(&all))?;
        let (x, y) = learned_rows(&all);
        let learned = LinearModel::fit(cfg.learner, grid[h_idx], &x, &y)?;

        Ok(WearModel {
            usage_name: data.usage_name.clone(),
            usage_unit: data.usage_unit.clone(),
            target_name: data.target_name.clone(),
            target_unit: data.target_unit.clone(),
            limit: data.limit,
            inputs: spec,
            prior,
            learner: cfg.learner,
            learned,
            prior_weight,
            filter,
            vb_interval,
            rul,
            selection: Selection {
                hyper: grid[h_idx],
                prior_weight,
                inner_rmse_prior,
                inner_rmse_learned,
                inner_rmse_blend,
                inner_rmse_filtered,
                inner_rul_points: rul_true.len(),
            },
        })
    }

    /// Input columns a [`CutRecord`] must carry.
    pub fn feature_names(&self) -> Vec<String> {
        self.inputs.input_names()
    }

    /// State for a new (fresh) tool of the given class, with the model's wear limit.
    pub fn new_tool(&self, class: &str) -> ToolState {
        self.new_tool_with_limit(class, self.limit)
    }

    /// State for a new tool with its own wear limit (target unit).
    pub fn new_tool_with_limit(&self, class: &str, limit: f64) -> ToolState {
        ToolState {
            class: class.to_string(),
            limit,
            cuts: 0,
            features: FeatureState::default(),
            filter: FilterState::default(),
        }
    }

    /// Predict wear and remaining life after the next cut of a tool, updating its state.
    /// On error the state is left as it was.
    pub fn predict_cut(
        &self,
        state: &mut ToolState,
        cut: &CutRecord,
    ) -> Result<WearPrediction, PredictError> {
        let mut features = state.features.clone();
        let row = self.inputs.transform(&mut features, cut)?;
        let conditions = self.inputs.condition_values(cut)?;
        state.features = features;

        let pc = self.prior.select(&self.inputs.conditions, &conditions);
        let law = self.prior.law(&state.class);
        let prior = law.predict(&self.prior.conditions, &pc, cut.usage);
        let prior_rate = law.rate(&self.prior.conditions, &pc, cut.usage);
        let learned = self.learned.predict(&row);
        let z = self.prior_weight * prior + (1.0 - self.prior_weight) * learned;
        let level = self.filter.step(&mut state.filter, cut.usage, z, prior_rate);
        state.cuts += 1;

        let (lo, hi) = self.vb_interval.around(level);
        let estimate = extrapolate(level, state.filter.rate, state.limit, self.rul.cap);
        Ok(WearPrediction {
            usage: cut.usage,
            vb: Quantiles {
                p10: lo.max(0.0),
                p50: level,
                p90: hi.max(level),
            },
            wear_rate: state.filter.rate,
            rul: self.rul.quantiles(estimate),
            limit: state.limit,
        })
    }

    /// Predictions for every row of a sequence, as a new tool.
    pub fn predict_sequence(&self, seq: &Sequence, names: &[String]) -> Result<Vec<WearPrediction>, PredictError> {
        let mut st = self.new_tool(&seq.class);
        seq.usage
            .iter()
            .zip(&seq.features)
            .map(|(u, f)| self.predict_cut(&mut st, &CutRecord::from_row(*u, names, f)))
            .collect()
    }
}

fn prepare<'a>(
    spec: &FeatureSpec,
    names: &[String],
    seq: &'a Sequence,
) -> Result<Prepared<'a>, FeatureError> {
    let mut st = FeatureState::default();
    let mut rows = Vec::with_capacity(seq.len());
    let mut conditions = Vec::with_capacity(seq.len());
    for (u, f) in seq.usage.iter().zip(&seq.features) {
        let cut = CutRecord::from_row(*u, names, f);
        rows.push(spec.transform(&mut st, &cut)?);
        conditions.push(spec.condition_values(&cut)?);
    }
    Ok(Prepared {
        seq,
        rows,
        conditions,
    })
}

/// Median usage step between consecutive cuts of the training tools.
fn typical_step(seqs: &[&Sequence]) -> f64 {
    let mut d: Vec<f64> = seqs
        .iter()
        .flat_map(|s| s.usage.windows(2).map(|w| w[1] - w[0]))
        .filter(|d| *d > 0.0)
        .collect();
    if d.is_empty() {
        return 1.0;
    }
    d.sort_by(f64::total_cmp);
    d[d.len() / 2]
}

/// Half the mean squared difference of consecutive predictions: the variance of
/// independent noise on a slowly varying level.
fn scatter_variance(paths: &[Vec<f64>]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for p in paths {
        for w in p.windows(2) {
            sum += (w[1] - w[0]).powi(2);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / (2.0 * n as f64)
    }
}
