//! The wear model the agent runs: physics prior and learned model combined, passed
//! through the monotone filter, with calibrated intervals for wear and remaining life.
//!
//! Fitting uses only the training tools. Every choice that could overfit (penalty of
//! the learned model, interval widths)
//! is made on an inner leave-one-group-out over those training tools: each training tool
//! in turn is predicted by models fitted on the others, exactly as a new tool would be.

// Without the `train` feature only prediction is compiled in; the fitting code's helpers
// stay in place (one file for one model) but are unused.
#![cfg_attr(not(feature = "train"), allow(dead_code, unused_imports))]

use serde::{Deserialize, Serialize};

use crate::conformal::ConformalInterval;
use crate::data::{Sequence, WearDataset};
use crate::features::{CutRecord, FeatureError, FeatureOptions, FeatureSpec, FeatureState};
use crate::metrics::rmse;
use crate::rul::{estimate, true_rul, Quantiles, ReferenceCurve, RulCalibration};

use super::learned::{LearnError, Learner, LinearModel};
use super::monotone::{FilterState, MonotoneFilter};
use super::taylor::{PriorRow, TaylorError, TaylorPrior, CLASS_WEIGHTS};
use crate::recalibrate::{self, OnlineBand};

/// Settings of one training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub learner: Learner,
    pub features: FeatureOptions,
    /// Nominal coverage of the wear and remaining-life intervals (0.8 → P10..P90).
    pub coverage: f64,
    /// Feature screen before the elastic net: keep at most this many engineered columns
    /// (largest absolute correlation with wear on the training rows); 0 keeps all. Files
    /// written before the screen existed read as 0, which is how they were fitted.
    #[serde(default)]
    pub screen: usize,
    /// Scale the CV+ residuals by the wear level they were made at (normalised scores):
    /// the band then widens as a tool wears instead of being one width over its life.
    /// Files written before read as false, which is how they were fitted.
    #[serde(default)]
    pub scaled_intervals: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            learner: Learner::ElasticNet,
            features: FeatureOptions::default(),
            coverage: 0.8,
            screen: DEFAULT_SCREEN,
            scaled_intervals: DEFAULT_SCALED_INTERVALS,
        }
    }
}

/// Default of [`TrainConfig::screen`]. See models/README.md (feature screen) for why.
pub const DEFAULT_SCREEN: usize = 100;

/// Default of [`TrainConfig::scaled_intervals`]. See models/README.md (intervals).
pub const DEFAULT_SCALED_INTERVALS: bool = false;

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
    #[error("no cut of this tool has been predicted yet: a measured wear is scored against the band of its last cut")]
    NoCutYet,
    #[error("measured wear {0} is not a number of the target unit at or above 0")]
    BadMeasurement(f64),
}

/// Range of a tool's wear scale (`ToolState::wear_scale`): a measurement more than ten times
/// off the model's level is a typo or another tool, and moves it no further.
const WEAR_SCALE_RANGE: (f64, f64) = (0.1, 10.0);

/// A measured wear taken into a tool's state ([`WearModel::observe_wear`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WearObservation {
    /// The band of the tool's last cut the measurement was scored against (recalibrated by
    /// the measurements before it).
    pub band: Quantiles,
    /// Whether the measurement fell inside it.
    pub inside: bool,
    /// The filter's wear level before and after the measurement (target unit).
    pub level_before: f64,
    pub level_after: f64,
    /// Measurements of this tool so far, this one included.
    pub measurements: usize,
}

/// What the inner leave-one-group-out chose, and how well each part did there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub hyper: f64,
    pub inner_rmse_prior: f64,
    pub inner_rmse_combined: f64,
    pub inner_rmse_filtered: f64,
    pub inner_rul_points: usize,
    /// Weight of the class's own Taylor law against the pooled law.
    #[serde(default = "super::taylor::one")]
    pub class_weight: f64,
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
    /// Linear model on the engineered features plus the prior's prediction (last input).
    pub learned: LinearModel,
    pub filter: MonotoneFilter,
    pub vb_interval: ConformalInterval,
    /// Measured wear curves of the training tools that reached the limit.
    pub references: Vec<ReferenceCurve>,
    pub rul: RulCalibration,
    pub selection: Selection,
    /// The inner leave-one-group-out models (one per training tool, fitted without it)
    /// with that tool's residuals: the intervals are CV+ (jackknife+ over groups).
    #[serde(default)]
    pub inner: Vec<InnerModel>,
    /// With normalised CV+ scores: the floor f of the scale f + level (target unit), so
    /// that the first cuts of a fresh tool (level near 0) keep a band. `None`: plain CV+.
    #[serde(default)]
    pub interval_scale_floor: Option<f64>,
}

/// A model fitted without one training tool, and that tool's residuals under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InnerModel {
    pub group: String,
    pub prior: TaylorPrior,
    pub learned: LinearModel,
    /// Truth − filtered estimate over the held-out tool's labelled rows.
    pub residuals: Vec<f64>,
    /// This model's filtered estimate at each of those rows (normalised scores only).
    #[serde(default)]
    pub levels: Vec<f64>,
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
    /// One filter per inner model (CV+ intervals).
    #[serde(default)]
    inner: Vec<FilterState>,
    /// The model's own wear band at the last cut, before this tool's recalibration: what a
    /// wear measured now is scored against.
    #[serde(default)]
    last_band: Option<Quantiles>,
    /// This tool's band recalibrated by its own measured wear; `None` until the first.
    #[serde(default)]
    pub recalibration: Option<OnlineBand>,
    /// How many times the model's wear this tool's measured wear is (1 until measured): the
    /// tool wears unlike the training tools its signals resemble, and keeps doing so.
    #[serde(default = "super::taylor::one")]
    pub wear_scale: f64,
    /// Usage at the last cut.
    #[serde(default)]
    last_usage: Option<f64>,
    /// The last measured wear: (usage, level).
    #[serde(default)]
    pub last_measured: Option<(f64, f64)>,
}

/// The band a tool's prediction shows: the model's, recalibrated by the tool's own measured
/// wear once it has some.
fn shown_band(state: &ToolState, band: Quantiles) -> Quantiles {
    match &state.recalibration {
        Some(r) => {
            let b = r.apply(band);
            Quantiles {
                p10: b.p10.max(0.0),
                ..b
            }
        }
        None => band,
    }
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

/// Engineered rows of the tools with the prior's prediction appended as the last column.
fn stacked_rows(
    prior: &TaylorPrior,
    spec: &FeatureSpec,
    tools: &[&Prepared],
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for p in tools {
        let (level, _) = prior_path(prior, spec, p);
        for (i, t) in p.labelled() {
            let mut r = p.rows[i].clone();
            r.push(level[i]);
            x.push(r);
            y.push(t);
        }
    }
    (x, y)
}

/// Inner-fold predictions of one held-out training tool.
struct InnerFold {
    /// Wear curves of the other tools, for remaining life.
    references: Vec<ReferenceCurve>,
    /// Taylor life at this tool's conditions under the prior fitted without it.
    taylor_life: Vec<Option<f64>>,
    prior: Vec<f64>,
    prior_rate: Vec<f64>,
    /// Combined-model predictions, one path per hyper-parameter.
    combined: Vec<Vec<f64>>,
    prior_model: TaylorPrior,
    /// Learned models, one per hyper-parameter.
    learned: Vec<LinearModel>,
}

impl WearModel {
    /// Fit on every tool of `data`.
    ///
    /// The combination of physics and data is a stacked model: the learned linear model
    /// gets the prior's prediction as one more input, so the same regularised fit that
    /// weighs the signals decides how far to trust the prior (strong shrinkage falls
    /// back to it when the signals do not help).
    #[cfg(feature = "train")]
    pub fn fit(data: &WearDataset, cfg: &TrainConfig) -> Result<WearModel, FitError> {
        // Empty cells a CSV left after carrying values forward take this training set's
        // medians (the evaluation fills them per fold before it gets here).
        let filled;
        let data = if data.has_holes() {
            let mut d = data.clone();
            d.fill_holes_with_own_medians();
            filled = d;
            &filled
        } else {
            data
        };
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
        let grid = cfg.learner.grid(spec.width() + 1);
        let screen = (cfg.screen > 0).then_some(cfg.screen);

        // Inner leave-one-group-out: predictions of each training tool by the others.
        let others_of = |k: usize| -> Vec<&Prepared> {
            prepared
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, p)| p)
                .collect()
        };
        let mut inner_priors = (0..prepared.len())
            .map(|k| TaylorPrior::fit(&spec.conditions, &prior_rows(&others_of(k))))
            .collect::<Result<Vec<_>, _>>()?;
        // Class weight of the prior, first of all (the learned model is stacked on the
        // prior's prediction): the weight whose prior alone predicts the held-out training
        // tools best. Ties (one class: both laws are the same fit) keep the class law.
        let class_weight = CLASS_WEIGHTS
            .iter()
            .map(|w| {
                let paths: Vec<Vec<f64>> = inner_priors
                    .iter_mut()
                    .zip(&prepared)
                    .map(|(prior, p)| {
                        prior.class_weight = *w;
                        prior_path(prior, &spec, p).0
                    })
                    .collect();
                (*w, mean_tool_rmse(&prepared, &paths))
            })
            .fold(
                (1.0, f64::INFINITY),
                |best, c| if c.1 < best.1 { c } else { best },
            )
            .0;
        for prior in &mut inner_priors {
            prior.class_weight = class_weight;
        }

        let mut folds = Vec::with_capacity(prepared.len());
        for (k, prior) in inner_priors.into_iter().enumerate() {
            let others = others_of(k);
            let (prior_pred, prior_rate) = prior_path(&prior, &spec, &prepared[k]);
            let (x, y) = stacked_rows(&prior, &spec, &others);
            let learned = LinearModel::fit_path(cfg.learner, &grid, &x, &y, screen)?;
            let combined = learned
                .iter()
                .map(|m| {
                    prepared[k]
                        .rows
                        .iter()
                        .zip(&prior_pred)
                        .map(|(r, p)| m.predict_with(r, *p))
                        .collect()
                })
                .collect();
            folds.push(InnerFold {
                references: reference_curves(&prior, &spec, &others, data.limit),
                taylor_life: taylor_lives(&prior, &spec, &prepared[k], data.limit),
                prior: prior_pred,
                prior_rate,
                combined,
                prior_model: prior,
                learned,
            });
        }

        // Pooled inner RMSE over the labelled rows of every training tool.
        let pooled = |path: &dyn Fn(usize) -> Vec<f64>| {
            let (mut p, mut t) = (Vec::new(), Vec::new());
            for (k, prep) in prepared.iter().enumerate() {
                let pred = path(k);
                for (i, truth) in prep.labelled() {
                    p.push(pred[i]);
                    t.push(truth);
                }
            }
            rmse(&p, &t)
        };
        let (h_idx, inner_rmse_combined) = (0..grid.len())
            .map(|h| (h, pooled(&|k| folds[k].combined[h].clone())))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("grid is never empty");
        let inner_rmse_prior = pooled(&|k| folds[k].prior.clone());
        let combined: Vec<&Vec<f64>> = folds.iter().map(|f| &f.combined[h_idx]).collect();

        // Filter noise. Rate noise: the wear rate may change by its own typical size over
        // one typical tool life (typical rate and life from the training tools).
        // Measurement variance: the cut-to-cut scatter of the combined predictions (half
        // the mean squared first difference). Their error against the truth is mostly a
        // per-tool bias, which no filter can remove, so it is not used.
        let step = typical_step(&seqs);
        let (rate, life) = typical_rate_and_life(&seqs);
        // The ratio of the two sets how many cuts the filter averages over, roughly
        // (measurement_var / rate_noise)^(1/3); it is kept at no less than a tenth of a
        // tool life so that the wear rate is not read from a handful of cuts. (Choosing
        // that share by the inner leave-one-group-out from 0–0.2 was tried: it kept a
        // tenth on NASA and took 0.2 on PHM 2010, where it cost 0.3 µm of RMSE.)
        let rate_noise = (rate * rate / life.max(step)).max(1e-300);
        let window = (life / 10.0).max(step);
        let filter = MonotoneFilter {
            measurement_var: scatter_variance(&combined).max(rate_noise * window.powi(3)),
            rate_noise,
        };
        let run_filter = |filter: &MonotoneFilter, k: usize| -> (Vec<f64>, Vec<f64>) {
            let mut st = FilterState::default();
            prepared[k]
                .seq
                .usage
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let level = filter.step(&mut st, *u, combined[k][i], folds[k].prior_rate[i]);
                    (level, st.rate)
                })
                .unzip()
        };
        let filtered: Vec<(Vec<f64>, Vec<f64>)> = (0..prepared.len())
            .map(|k| run_filter(&filter, k))
            .collect();

        let inner_rmse_filtered = pooled(&|k| filtered[k].0.clone());

        // Calibration of wear intervals and remaining life on the same inner predictions.
        let cap = 3.0
            * seqs
                .iter()
                .map(|s| s.usage.last().unwrap_or(&0.0) - s.usage.first().unwrap_or(&0.0))
                .fold(step, f64::max);
        let (mut residuals, mut rul_est, mut rul_true) = (Vec::new(), Vec::new(), Vec::new());
        let mut inner = Vec::with_capacity(prepared.len());
        for (k, p) in prepared.iter().enumerate() {
            let (level, _) = &filtered[k];
            let r: Vec<f64> = p.labelled().map(|(i, t)| t - level[i]).collect();
            residuals.extend(&r);
            inner.push(InnerModel {
                group: p.seq.group.clone(),
                prior: folds[k].prior_model.clone(),
                learned: folds[k].learned[h_idx].clone(),
                residuals: r,
                levels: if cfg.scaled_intervals {
                    p.labelled().map(|(i, _)| level[i]).collect()
                } else {
                    Vec::new()
                },
            });
            let truth = true_rul(&p.seq.usage, &p.seq.target, data.limit);
            for (i, t) in truth.iter().enumerate() {
                if let Some(t) = t {
                    let f = &folds[k];
                    rul_est.push(estimate(
                        &f.references,
                        level[i],
                        data.limit,
                        f.taylor_life[i],
                        cap,
                    ));
                    rul_true.push(*t);
                }
            }
        }
        let vb_interval = ConformalInterval::calibrate(&residuals, cfg.coverage);
        let rul = RulCalibration::calibrate(&rul_est, &rul_true, step, cap, cfg.coverage);

        // Final fits on all training tools.
        let all: Vec<&Prepared> = prepared.iter().collect();
        let mut prior = TaylorPrior::fit(&spec.conditions, &prior_rows(&all))?;
        prior.class_weight = class_weight;
        let (x, y) = stacked_rows(&prior, &spec, &all);
        let learned = LinearModel::fit_path(cfg.learner, &grid[h_idx..=h_idx], &x, &y, screen)?
            .pop()
            .expect("one model per hyper-parameter");
        let references = reference_curves(&prior, &spec, &all, data.limit);

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
            filter,
            vb_interval,
            references,
            rul,
            selection: Selection {
                hyper: grid[h_idx],
                inner_rmse_prior,
                inner_rmse_combined,
                inner_rmse_filtered,
                inner_rul_points: rul_true.len(),
                class_weight,
            },
            inner,
            // A tenth of the wear limit: below that the band stops narrowing with the
            // level (fresh tools' wear is mostly measurement scatter, not growth).
            interval_scale_floor: cfg.scaled_intervals.then_some(0.1 * data.limit),
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
            inner: vec![FilterState::default(); self.inner.len()],
            last_band: None,
            recalibration: None,
            wear_scale: 1.0,
            last_usage: None,
            last_measured: None,
        }
    }

    /// A wear `measured` (target unit) of a tool after its last cut. The measurement is the
    /// tool's wear, where the model's is an estimate from signals that may resemble a
    /// training tool this one does not wear like: the filters' levels and rates are scaled to
    /// it, and so is every later cut's model wear (`wear_scale`), so the next predictions go
    /// on from the measured level at the measured pace; and it is scored against the band of
    /// the last cut to recalibrate this tool's own band (`recalibrate::OnlineBand`), so a
    /// tool wearing unlike the training tools gets a band that covers it. On error the state
    /// is left as it was.
    pub fn observe_wear(
        &self,
        state: &mut ToolState,
        measured: f64,
    ) -> Result<WearObservation, PredictError> {
        if !(measured.is_finite() && measured >= 0.0) {
            return Err(PredictError::BadMeasurement(measured));
        }
        let raw = state.last_band.ok_or(PredictError::NoCutYet)?;
        let level_before = state.filter.level;
        let mut factor = 1.0;
        if level_before > 0.0 {
            let (lo, hi) = WEAR_SCALE_RANGE;
            let scale = (state.wear_scale * measured / level_before).clamp(lo, hi);
            factor = scale / state.wear_scale;
            state.wear_scale = scale;
            state.filter.rescale(factor);
            for f in &mut state.inner {
                f.rescale(factor);
            }
        }
        state.last_measured = state.last_usage.map(|u| (u, measured));
        let band = state.recalibration.get_or_insert_with(|| {
            OnlineBand::new(self.vb_interval.coverage, recalibrate::DEFAULT_STEP)
        });
        let scored = band.apply(raw);
        band.update(raw, measured);
        // The last cut's band as the next cut's would be built: scaled with the tool's wear.
        state.last_band = Some(Quantiles {
            p10: raw.p10 * factor,
            p50: raw.p50 * factor,
            p90: raw.p90 * factor,
        });
        Ok(WearObservation {
            inside: scored.p10 <= measured && measured <= scored.p90,
            band: scored,
            level_before,
            level_after: state.filter.level,
            measurements: band.measurements,
        })
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

        let level = self.step_level(
            &self.prior,
            &self.learned,
            &mut state.filter,
            &state.class,
            &conditions,
            &row,
            cut.usage,
            state.wear_scale,
        );
        // A state saved before the model had inner models (or for another model) cannot
        // run them from mid-life: it falls back to the split-conformal interval.
        let cv_plus = !self.inner.is_empty() && state.inner.len() == self.inner.len();
        let mut inner_levels = Vec::with_capacity(self.inner.len());
        if cv_plus {
            for (m, st) in self.inner.iter().zip(state.inner.iter_mut()) {
                inner_levels.push(self.step_level(
                    &m.prior,
                    &m.learned,
                    st,
                    &state.class,
                    &conditions,
                    &row,
                    cut.usage,
                    state.wear_scale,
                ));
            }
        }
        state.cuts += 1;

        let (lo, hi) = if cv_plus {
            cv_plus_interval(
                &self.inner,
                &inner_levels,
                self.vb_interval.coverage,
                self.interval_scale_floor,
            )
        } else {
            self.vb_interval.around(level)
        };
        let pc = self.prior.select(&self.inputs.conditions, &conditions);
        let life_now = self
            .prior
            .law(&state.class)
            .life(&self.prior.conditions, &pc, state.limit);
        let rul_raw = estimate(&self.references, level, state.limit, life_now, self.rul.cap);
        // A tool measured to wear `wear_scale` times the model's has its levels scaled; so is
        // the band's width, calibrated on the model's wear.
        let (lo, hi) = (
            level - state.wear_scale * (level - lo),
            level + state.wear_scale * (hi - level),
        );
        let band = Quantiles {
            // CV+ bounds come from the inner models, so they need not bracket the final
            // model's level; keep the three quantiles ordered.
            p10: lo.max(0.0).min(level),
            p50: level,
            p90: hi.max(level),
        };
        state.last_band = Some(band);
        state.last_usage = Some(cut.usage);
        // A measured wear says how much of its life the tool had used, whatever the model's
        // speed: remaining life from it, once measured.
        let rul = state
            .last_measured
            .and_then(|(used, level)| self.rul_from_measured(used, level, cut.usage))
            .unwrap_or_else(|| self.rul.quantiles(rul_raw));
        Ok(WearPrediction {
            usage: cut.usage,
            vb: shown_band(state, band),
            wear_rate: state.filter.rate,
            rul,
            limit: state.limit,
        })
    }

    /// The prediction of a measured tool as it stands after its last measurement, before its
    /// next cut: the last cut's band scaled to the measurement and recalibrated, remaining life
    /// from the measurement. `None` for a tool not measured since its last cut was predicted.
    pub fn measured_now(&self, state: &ToolState) -> Option<WearPrediction> {
        let (used, level) = state.last_measured?;
        let band = state.last_band?;
        Some(WearPrediction {
            usage: used,
            vb: shown_band(state, band),
            wear_rate: state.filter.rate,
            rul: self.rul_from_measured(used, level, used)?,
            limit: state.limit,
        })
    }

    /// Remaining life at `used_now` of a tool whose wear was measured at `level` when it had
    /// cut `used_then`, read on the measured training curves (`wear_curves::remaining`): the
    /// share of life holds whatever this machine's speed against the training data's, which
    /// the model's own estimate (usage the training tools took from this wear to the limit)
    /// does not. `None` without three curves that reached this wear after their start.
    fn rul_from_measured(&self, used_then: f64, level: f64, used_now: f64) -> Option<Quantiles> {
        crate::wear_curves::remaining(
            &self.references,
            &[],
            used_then,
            level,
            used_now,
            self.rul.cap,
        )
    }

    /// One cut through one model (the final one or an inner one): the prior's wear and
    /// rate at the cut's conditions, the learned model stacked on the prior, and the
    /// monotone filter; returns the filtered level.
    #[allow(clippy::too_many_arguments)]
    fn step_level(
        &self,
        prior: &TaylorPrior,
        learned: &LinearModel,
        filter: &mut FilterState,
        class: &str,
        conditions: &[f64],
        row: &[f64],
        usage: f64,
        scale: f64,
    ) -> f64 {
        let pc = prior.select(&self.inputs.conditions, conditions);
        let law = prior.law(class);
        let wear = law.predict(&prior.conditions, &pc, usage);
        let rate = law.rate(&prior.conditions, &pc, usage);
        let z = learned.predict_with(row, wear) * scale;
        self.filter.step(filter, usage, z, rate * scale)
    }

    /// Predictions for every row of a sequence, as a new tool.
    pub fn predict_sequence(
        &self,
        seq: &Sequence,
        names: &[String],
    ) -> Result<Vec<WearPrediction>, PredictError> {
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
fn scatter_variance(paths: &[&Vec<f64>]) -> f64 {
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

/// Typical wear rate (wear gained over the tool's measured span / span) and span of the
/// training tools, as medians.
fn typical_rate_and_life(seqs: &[&Sequence]) -> (f64, f64) {
    let mut rates = Vec::new();
    let mut lives = Vec::new();
    for s in seqs {
        let labelled: Vec<(f64, f64)> = s
            .usage
            .iter()
            .zip(&s.target)
            .filter_map(|(u, t)| t.map(|t| (*u, t)))
            .collect();
        if let (Some(first), Some(last)) = (labelled.first(), labelled.last()) {
            let span = last.0 - first.0;
            if span > 0.0 {
                rates.push(((last.1 - first.1) / span).max(0.0));
                lives.push(span);
            }
        }
    }
    let med = |mut v: Vec<f64>| {
        if v.is_empty() {
            return 1.0;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (med(rates), med(lives))
}

/// Taylor life (usage to the limit) at each row's conditions.
fn taylor_lives(
    prior: &TaylorPrior,
    spec: &FeatureSpec,
    p: &Prepared,
    limit: f64,
) -> Vec<Option<f64>> {
    let law = prior.law(&p.seq.class);
    p.conditions
        .iter()
        .map(|c| law.life(&prior.conditions, &prior.select(&spec.conditions, c), limit))
        .collect()
}

/// Reference wear curves of the tools that reached the limit, each with the Taylor life
/// at its own conditions (first row; conditions are constant along a tool).
fn reference_curves(
    prior: &TaylorPrior,
    spec: &FeatureSpec,
    tools: &[&Prepared],
    limit: f64,
) -> Vec<ReferenceCurve> {
    tools
        .iter()
        .filter_map(|p| {
            let life = taylor_lives(prior, spec, p, limit)
                .first()
                .copied()
                .flatten();
            ReferenceCurve::from_measurements(&p.seq.usage, &p.seq.target, limit, life)
        })
        .collect()
}

/// CV+ interval (jackknife+ with groups for folds, Barber et al. 2021): quantiles of
/// {level of inner model k on this tool + residual of tool k under inner model k} over
/// all inner models and their held-out residuals.
///
/// Why not the residuals around the final model's level (split-conformal): the inner
/// models saw one tool fewer than the final model. With two training cutters (PHM 2010)
/// they are fitted on one and err 2–5 times more than the final model, so residuals
/// pooled around the final level gave far too wide intervals. Here each residual is
/// added to the prediction of the very model that produced it, so the interval measures
/// that model's error; a model biased on its held-out tool is, as a rule, biased the same
/// way on the new tool, and the two cancel.
///
/// With `scale_floor` = Some(f) the scores are normalised (locally weighted conformal):
/// residual r made at level L counts as r·(f + l)/(f + L) around a level l, so a residual
/// made late in a held-out tool's life is not applied at full size to a fresh tool, and a
/// band grows with the wear it brackets.
pub fn cv_plus_interval(
    inner: &[InnerModel],
    levels: &[f64],
    coverage: f64,
    scale_floor: Option<f64>,
) -> (f64, f64) {
    let scale = |level: f64, f: f64| f + level.max(0.0);
    let v: Vec<f64> = inner
        .iter()
        .zip(levels)
        .flat_map(|(m, l)| {
            let scaled = scale_floor.filter(|_| m.levels.len() == m.residuals.len());
            m.residuals
                .iter()
                .enumerate()
                .map(move |(i, r)| match scaled {
                    Some(f) => l + r * scale(*l, f) / scale(m.levels[i], f),
                    None => l + r,
                })
        })
        .collect();
    let ci = ConformalInterval::calibrate(&v, coverage);
    (ci.lower, ci.upper)
}

/// Mean over tools of each tool's RMSE over its labelled rows (tools, not cuts, are the
/// exchangeable unit; this is also how the evaluation averages folds).
fn mean_tool_rmse(prepared: &[Prepared], paths: &[Vec<f64>]) -> f64 {
    let per_tool: Vec<f64> = prepared
        .iter()
        .zip(paths)
        .map(|(p, path)| {
            let (pred, truth): (Vec<f64>, Vec<f64>) =
                p.labelled().map(|(i, t)| (path[i], t)).unzip();
            rmse(&pred, &truth)
        })
        .collect();
    per_tool.iter().sum::<f64>() / per_tool.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Standardizer;

    fn inner(residuals: Vec<f64>) -> InnerModel {
        let law = super::super::taylor::TaylorLaw {
            ln_k: 0.0,
            m: 1.0,
            exponents: Default::default(),
        };
        InnerModel {
            group: "g".into(),
            prior: TaylorPrior {
                conditions: vec![],
                per_class: Default::default(),
                pooled: law,
                class_weight: 1.0,
            },
            learned: LinearModel {
                standardizer: Standardizer {
                    mean: vec![],
                    scale: vec![],
                },
                intercept: 0.0,
                weights: vec![],
            },
            residuals,
            levels: vec![],
        }
    }

    /// Each residual is added to the level of the model that produced it: an inner model
    /// that over-predicted its held-out tool by 30 and now predicts 30 too high again is
    /// corrected, where residuals around one common level would only widen the interval.
    #[test]
    fn cv_plus_adds_each_residual_to_its_own_model() {
        let spread: Vec<f64> = (-5..=5).map(f64::from).collect();
        let a = inner(spread.iter().map(|r| r - 30.0).collect());
        let b = inner(spread.clone());
        // True wear 100: model a says 130, model b says 100.
        let (lo, hi) = cv_plus_interval(&[a, b], &[130.0, 100.0], 0.8, None);
        assert!(
            (95.0..=97.0).contains(&lo) && (103.0..=105.0).contains(&hi),
            "{lo} {hi}"
        );
        // Split-conformal around a level of 115 with the same residuals is much wider.
        let all: Vec<f64> = spread.iter().flat_map(|r| [r - 30.0, *r]).collect();
        let ci = ConformalInterval::calibrate(&all, 0.8);
        assert!(ci.upper - ci.lower > 3.0 * (hi - lo));
    }

    /// Normalised scores: residuals made at wear 100 are shrunk for a fresh tool (level 0)
    /// in proportion (floor + level), and applied at full size at the same level.
    #[test]
    fn scaled_cv_plus_follows_the_wear_level() {
        let mut m = inner((-10..=10).map(|r| f64::from(r) * 1.1).collect());
        m.levels = vec![100.0; m.residuals.len()];
        let (lo0, hi0) = cv_plus_interval(std::slice::from_ref(&m), &[0.0], 0.8, Some(10.0));
        let (lo1, hi1) = cv_plus_interval(std::slice::from_ref(&m), &[100.0], 0.8, Some(10.0));
        let (plo, phi) = cv_plus_interval(std::slice::from_ref(&m), &[0.0], 0.8, None);
        assert!(
            (hi1 - lo1) > 10.0 * (hi0 - lo0) * 0.99,
            "{lo0} {hi0} {lo1} {hi1}"
        );
        assert!(((hi1 - lo1) - (phi - plo)).abs() < 1e-9);
        assert!(lo0 < 0.0 && hi0 > 0.0 && hi0 < 1.5);
    }
}
