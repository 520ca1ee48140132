//! Leave-one-group-out evaluation: each tool (cutter, test case) in turn is predicted,
//! cut by cut and as a new tool, by a model fitted on the other tools only.

// Without the `train` feature only prediction is compiled in; the fitting code's helpers
// stay in place (one file for one model) but are unused.
#![cfg_attr(not(feature = "train"), allow(dead_code, unused_imports))]

use std::fmt::Write as _;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::WearDataset;
use crate::metrics::{coverage, mae, phm08_score, rmse, Scores};
use crate::rul::true_rul;
use crate::wear::combined::Selection;
use crate::wear::{FitError, PredictError, TrainConfig, WearModel};

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("fold `{group}`: {source}")]
    Fit { group: String, source: FitError },
    #[error("fold `{group}`: {source}")]
    Predict { group: String, source: PredictError },
}

/// Remaining-life scores over the cuts before the limit is reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RulScores {
    pub n: usize,
    pub rmse: f64,
    pub mae: f64,
    pub coverage80: f64,
    /// PHM08 score summed over the scored cuts.
    pub phm08: f64,
    /// PHM08 score per scored cut (comparable between folds of different length).
    pub phm08_mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldReport {
    pub group: String,
    pub vb: Scores,
    pub rul: Option<RulScores>,
    pub fit_seconds: f64,
    pub selection: Selection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overall {
    /// Mean over folds of the per-fold RMSE.
    pub mean_rmse: f64,
    /// RMSE over all held-out cuts together.
    pub pooled_rmse: f64,
    pub mean_mae: f64,
    /// Share of all held-out truths inside the 80 % interval.
    pub coverage80: f64,
    /// Mean width of the 80 % interval over all held-out cuts.
    #[serde(default)]
    pub width80: f64,
    pub rul: Option<RulScores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub dataset: String,
    pub protocol: String,
    pub target: String,
    pub target_unit: String,
    pub usage_unit: String,
    pub limit: f64,
    pub config: TrainConfig,
    pub folds: Vec<FoldReport>,
    pub overall: Overall,
}

struct Collected {
    p10: Vec<f64>,
    p50: Vec<f64>,
    p90: Vec<f64>,
    truth: Vec<f64>,
}

impl Collected {
    fn new() -> Self {
        Collected {
            p10: vec![],
            p50: vec![],
            p90: vec![],
            truth: vec![],
        }
    }
    fn push(&mut self, q: crate::Quantiles, t: f64) {
        self.p10.push(q.p10);
        self.p50.push(q.p50);
        self.p90.push(q.p90);
        self.truth.push(t);
    }
    fn extend(&mut self, o: &Collected) {
        self.p10.extend(&o.p10);
        self.p50.extend(&o.p50);
        self.p90.extend(&o.p90);
        self.truth.extend(&o.truth);
    }
    fn rul_scores(&self) -> Option<RulScores> {
        if self.truth.is_empty() {
            return None;
        }
        let phm08 = phm08_score(&self.p50, &self.truth);
        Some(RulScores {
            n: self.truth.len(),
            rmse: rmse(&self.p50, &self.truth),
            mae: mae(&self.p50, &self.truth),
            coverage80: coverage(&self.p10, &self.p90, &self.truth),
            phm08,
            phm08_mean: phm08 / self.truth.len() as f64,
        })
    }
}

/// Run leave-one-group-out over every tool that has measured wear.
#[cfg(feature = "train")]
pub fn leave_one_group_out(
    data: &WearDataset,
    cfg: &TrainConfig,
) -> Result<EvaluationReport, EvaluateError> {
    let mut folds = Vec::new();
    let (mut all_vb, mut all_rul) = (Collected::new(), Collected::new());
    for test in data
        .sequences
        .iter()
        .filter(|s| s.target.iter().any(Option::is_some))
    {
        let group = test.group.clone();
        let (train, _) = data.split_out(&group);
        let start = Instant::now();
        let model = WearModel::fit(&train, cfg).map_err(|source| EvaluateError::Fit {
            group: group.clone(),
            source,
        })?;
        let fit_seconds = start.elapsed().as_secs_f64();
        let preds = model
            .predict_sequence(test, &data.feature_names)
            .map_err(|source| EvaluateError::Predict {
                group: group.clone(),
                source,
            })?;
        let (mut vb, mut rul) = (Collected::new(), Collected::new());
        let rul_truth = true_rul(&test.usage, &test.target, data.limit);
        for ((p, t), r) in preds.iter().zip(&test.target).zip(&rul_truth) {
            if let Some(t) = t {
                vb.push(p.vb, *t);
            }
            if let Some(r) = r {
                rul.push(p.rul, *r);
            }
        }
        all_vb.extend(&vb);
        all_rul.extend(&rul);
        folds.push(FoldReport {
            group,
            vb: Scores::of(&vb.p50, &vb.p10, &vb.p90, &vb.truth),
            rul: rul.rul_scores(),
            fit_seconds,
            selection: model.selection.clone(),
        });
    }
    let n = folds.len().max(1) as f64;
    let pooled = Scores::of(&all_vb.p50, &all_vb.p10, &all_vb.p90, &all_vb.truth);
    let overall = Overall {
        mean_rmse: folds.iter().map(|f| f.vb.rmse).sum::<f64>() / n,
        pooled_rmse: pooled.rmse,
        mean_mae: folds.iter().map(|f| f.vb.mae).sum::<f64>() / n,
        coverage80: pooled.coverage80,
        width80: pooled.width80,
        rul: all_rul.rul_scores(),
    };
    Ok(EvaluationReport {
        dataset: data.name.clone(),
        protocol: "leave-one-group-out".into(),
        target: data.target_name.clone(),
        target_unit: data.target_unit.clone(),
        usage_unit: data.usage_unit.clone(),
        limit: data.limit,
        config: *cfg,
        folds,
        overall,
    })
}

/// Human-readable table of a report.
pub fn render(report: &EvaluationReport) -> String {
    let mut s = String::new();
    // CSV data sets carry no units: print none rather than empty brackets.
    let u = if report.target_unit.is_empty() {
        String::new()
    } else {
        format!(" {}", report.target_unit)
    };
    let _ = writeln!(
        s,
        "{} — {} — target {}{u}, learner {:?}, RUL to {}{u} in {}",
        report.dataset,
        report.protocol,
        report.target,
        report.config.learner,
        report.limit,
        report.usage_unit
    );
    let _ = writeln!(
        s,
        "{:<10} {:>6} {:>9} {:>9} {:>7} | {:>5} {:>9} {:>9} {:>7} {:>11} | {:>5} {:>6}",
        "held out",
        "n",
        "RMSE",
        "MAE",
        "cov80",
        "nRUL",
        "RUL RMSE",
        "RUL MAE",
        "cov80",
        "PHM08/cut",
        "hyper",
        "fit s"
    );
    let rul_cols = |r: &Option<RulScores>| match r {
        Some(r) => format!(
            "{:>5} {:>9.3} {:>9.3} {:>6.1}% {:>11.3}",
            r.n,
            r.rmse,
            r.mae,
            100.0 * r.coverage80,
            r.phm08_mean
        ),
        None => format!("{:>5} {:>9} {:>9} {:>7} {:>11}", 0, "-", "-", "-", "-"),
    };
    for f in &report.folds {
        let _ = writeln!(
            s,
            "{:<10} {:>6} {:>9.4} {:>9.4} {:>6.1}% | {} | {:>5} {:>6.2}",
            f.group,
            f.vb.n,
            f.vb.rmse,
            f.vb.mae,
            100.0 * f.vb.coverage80,
            rul_cols(&f.rul),
            f.selection.hyper,
            f.fit_seconds
        );
    }
    let o = &report.overall;
    let _ = writeln!(
        s,
        "{:<10} {:>6} {:>9.4} {:>9.4} {:>6.1}% | {} |",
        "overall",
        report.folds.iter().map(|f| f.vb.n).sum::<usize>(),
        o.mean_rmse,
        o.mean_mae,
        100.0 * o.coverage80,
        rul_cols(&o.rul)
    );
    let _ = writeln!(
        s,
        "overall RMSE = mean of fold RMSEs; pooled RMSE over all held-out cuts = {:.4}{u}; coverage and RUL pooled over all folds",
        o.pooled_rmse
    );
    let widths: Vec<String> = report
        .folds
        .iter()
        .map(|f| format!("{:.4}", f.vb.width80))
        .collect();
    let _ = writeln!(
        s,
        "mean 80 % interval width{u}: per fold {}, pooled {:.4}",
        widths.join(" / "),
        o.width80
    );
    s
}

/// Scores of the bearing remaining-life estimate along one run to failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BearingReport {
    pub dataset: String,
    pub bearing: String,
    pub protocol: String,
    pub records: usize,
    pub run_hours: f64,
    pub onset_hours: Option<f64>,
    /// Records with an estimate (after onset, or all if a prior was given).
    pub rul: Option<RulScores>,
    /// Estimate at onset and in the final 24 h, for a feel of the trajectory.
    pub rul_at_onset: Option<crate::Quantiles>,
    pub config: crate::bearing::TrendConfig,
}

/// Run the bearing monitor over a recorded run; truth is the time to the last valid
/// record (the failure).
#[cfg(feature = "train")]
pub fn bearing_run(
    run: &crate::data::ims::BearingRun,
    cfg: crate::bearing::TrendConfig,
    prior: Option<crate::bearing::Iso281Prior>,
) -> BearingReport {
    let mut monitor = crate::bearing::BearingMonitor::new(cfg, prior, 0.0);
    let end = run.hours.last().copied().unwrap_or(0.0);
    let mut scored = Collected::new();
    let mut onset = None;
    let mut at_onset = None;
    for (h, v) in run.hours.iter().zip(&run.vibration) {
        let s = monitor.push(*h, *v);
        if onset.is_none() && s.onset_hours.is_some() {
            onset = s.onset_hours;
            at_onset = s.rul_hours;
        }
        if let Some(q) = s.rul_hours {
            scored.push(q, end - h);
        }
    }
    BearingReport {
        dataset: "ims-bearing".into(),
        bearing: run.bearing.clone(),
        protocol: "one run to failure, estimate at every record from the history so far".into(),
        records: run.hours.len(),
        run_hours: end,
        onset_hours: onset,
        rul: scored.rul_scores(),
        rul_at_onset: at_onset,
        config: cfg,
    }
}

pub fn render_bearing(r: &BearingReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} — {} — {} records over {:.1} h",
        r.dataset, r.bearing, r.protocol, r.records, r.run_hours
    );
    match r.onset_hours {
        Some(o) => {
            let _ = writeln!(
                s,
                "onset detected at {o:.1} h ({:.1} h before failure)",
                r.run_hours - o
            );
        }
        None => {
            let _ = writeln!(s, "no onset detected");
        }
    }
    if let Some(q) = r.rul_at_onset {
        let _ = writeln!(
            s,
            "RUL at onset: P10 {:.1} h, P50 {:.1} h, P90 {:.1} h",
            q.p10, q.p50, q.p90
        );
    }
    match &r.rul {
        Some(x) => {
            let _ = writeln!(
                s,
                "RUL over {} records: RMSE {:.2} h, MAE {:.2} h, 80 % coverage {:.1} %, PHM08 {:.1} (per record {:.3}; d in hours)",
                x.n, x.rmse, x.mae, 100.0 * x.coverage80, x.phm08, x.phm08_mean
            );
        }
        None => {
            let _ = writeln!(s, "no remaining-life estimate was made");
        }
    }
    s
}
