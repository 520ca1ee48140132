//! Leave-one-group-out evaluation: each tool (cutter, test case) in turn is predicted,
//! cut by cut and as a new tool, by a model fitted on the other tools only.

// Without the `train` feature only prediction is compiled in; the fitting code's helpers
// stay in place (one file for one model) but are unused.
#![cfg_attr(not(feature = "train"), allow(dead_code, unused_imports))]

use std::fmt::Write as _;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::baseline::BaselineScores;
use crate::data::{Cleaning, WearDataset};
use crate::metrics::{coverage, mae, phm08_score, rmse, Scores};
use crate::rul::true_rul;
use crate::wear::combined::Selection;
use crate::wear::{FitError, PredictError, TrainConfig, WearModel};

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("fold `{group}`: {source}")]
    Fit { group: String, source: FitError },
    #[error("fold `{group}`: reference models: {source}")]
    Baseline {
        group: String,
        source: crate::wear::learned::LearnError,
    },
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
    /// Reference models on the same fold (`baseline`); absent in reports written before.
    #[serde(default)]
    pub baseline: Option<BaselineScores>,
    /// The wear band recalibrated on this tool as its measured wear arrives (`recalibrate`):
    /// same P50, so only coverage and width differ from `vb`.
    #[serde(default)]
    pub vb_online: Option<Scores>,
}

/// Per-tool online recalibration over all folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnlineOverall {
    /// Every how many measurements of a tool one was used.
    pub every: usize,
    pub coverage80: f64,
    pub width80: f64,
    pub worst_coverage80: f64,
    pub worst_group: String,
    pub groups_within_70_90: usize,
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
    /// The lowest per-tool 80 % coverage and its tool: a planner acts on one tool, and a
    /// pooled 80 % can hide tools far below it.
    #[serde(default)]
    pub worst_coverage80: f64,
    #[serde(default)]
    pub worst_group: String,
    /// Tools whose own 80 % coverage lies within 70–90 %.
    #[serde(default)]
    pub groups_within_70_90: usize,
    /// Means over folds of the reference models' figures.
    #[serde(default)]
    pub baseline: Option<BaselineScores>,
    /// The same intervals recalibrated per tool as its measured wear arrives.
    #[serde(default)]
    pub online: Option<OnlineOverall>,
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
    /// Empty cells imputed and columns left out by the loader.
    #[serde(default)]
    pub cleaning: Cleaning,
}

/// How to run the evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluateOptions {
    /// Folds fitted at once; 0: one per available core.
    pub threads: usize,
    /// Also score the reference models (`baseline`) on every fold.
    pub baselines: bool,
    /// Also score the band recalibrated per tool as its measured wear arrives, using every
    /// this many measurements (1: each); 0: not.
    pub online_every: usize,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        EvaluateOptions {
            threads: 0,
            baselines: true,
            online_every: 1,
        }
    }
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
    leave_one_group_out_with(data, cfg, EvaluateOptions::default(), &|_| {})
}

/// Everything one fold produces.
struct FoldResult {
    report: FoldReport,
    vb: Collected,
    rul: Collected,
    online: Collected,
}

/// Fit on every tool but `group`, predict `group` cut by cut as a new tool.
#[cfg(feature = "train")]
fn run_fold(
    data: &WearDataset,
    cfg: &TrainConfig,
    group: &str,
    baselines: bool,
    online_every: usize,
) -> Result<FoldResult, EvaluateError> {
    let (mut train, mut test) = data.split_out(group);
    // Cells the loader could not carry forward get the training tools' median: the
    // held-out tool's own values must not decide what is imputed into it.
    if data.has_holes() {
        let medians = train.feature_medians();
        for s in &mut train.sequences {
            s.fill_holes(&medians);
        }
        test.fill_holes(&medians);
    }
    let start = Instant::now();
    let model = WearModel::fit(&train, cfg).map_err(|source| EvaluateError::Fit {
        group: group.to_string(),
        source,
    })?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let preds = model
        .predict_sequence(&test, &data.feature_names)
        .map_err(|source| EvaluateError::Predict {
            group: group.to_string(),
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
    let mut online = Collected::new();
    if online_every > 0 {
        let bands: Vec<crate::Quantiles> = preds.iter().map(|p| p.vb).collect();
        let re = crate::recalibrate::recalibrate(
            &bands,
            &test.target,
            cfg.coverage,
            crate::recalibrate::DEFAULT_STEP,
            online_every,
        );
        for (q, t) in re.iter().zip(&test.target) {
            if let Some(t) = t {
                online.push(*q, *t);
            }
        }
    }
    let baseline = if baselines {
        Some(
            crate::baseline::score(&train, &test).map_err(|source| EvaluateError::Baseline {
                group: group.to_string(),
                source,
            })?,
        )
    } else {
        None
    };
    Ok(FoldResult {
        report: FoldReport {
            group: group.to_string(),
            vb: Scores::of(&vb.p50, &vb.p10, &vb.p90, &vb.truth),
            rul: rul.rul_scores(),
            fit_seconds,
            selection: model.selection.clone(),
            baseline,
            vb_online: (online_every > 0)
                .then(|| Scores::of(&online.p50, &online.p10, &online.p90, &online.truth)),
        },
        vb,
        rul,
        online,
    })
}

/// Leave-one-group-out with the folds fitted on several threads; `progress` is called
/// with each fold's report as it completes (in completion order, from any thread). The
/// report lists the folds in data order whatever the completion order, so it does not
/// depend on the number of threads.
#[cfg(feature = "train")]
pub fn leave_one_group_out_with(
    data: &WearDataset,
    cfg: &TrainConfig,
    opts: EvaluateOptions,
    progress: &(dyn Fn(&FoldReport) + Sync),
) -> Result<EvaluationReport, EvaluateError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    let groups: Vec<String> = data
        .sequences
        .iter()
        .filter(|s| s.target.iter().any(Option::is_some))
        .map(|s| s.group.clone())
        .collect();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .clamp(1, groups.len().max(1));
    // Folds are independent; each thread takes the next fold not yet taken. Plain scoped
    // threads suffice (a fold is seconds of work, nothing finer is shared).
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FoldResult, EvaluateError>>>> =
        Mutex::new((0..groups.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(group) = groups.get(k) else {
                    break;
                };
                let r = run_fold(data, cfg, group, opts.baselines, opts.online_every);
                if let Ok(f) = &r {
                    progress(&f.report);
                }
                let failed = r.is_err();
                results.lock().expect("no thread panics holding it")[k] = Some(r);
                if failed {
                    // Stop taking folds: the evaluation fails with the first error.
                    next.store(groups.len(), Ordering::Relaxed);
                }
            });
        }
    });
    let mut folds = Vec::with_capacity(groups.len());
    let (mut all_vb, mut all_rul, mut all_online) =
        (Collected::new(), Collected::new(), Collected::new());
    for r in results
        .into_inner()
        .expect("threads have ended")
        .into_iter()
        .flatten()
    {
        let f = r?;
        all_vb.extend(&f.vb);
        all_rul.extend(&f.rul);
        all_online.extend(&f.online);
        folds.push(f.report);
    }
    let n = folds.len().max(1) as f64;
    let pooled = Scores::of(&all_vb.p50, &all_vb.p10, &all_vb.p90, &all_vb.truth);
    let worst = folds
        .iter()
        .min_by(|a, b| a.vb.coverage80.total_cmp(&b.vb.coverage80));
    let baselines: Vec<&BaselineScores> =
        folds.iter().filter_map(|f| f.baseline.as_ref()).collect();
    let overall = Overall {
        mean_rmse: folds.iter().map(|f| f.vb.rmse).sum::<f64>() / n,
        pooled_rmse: pooled.rmse,
        mean_mae: folds.iter().map(|f| f.vb.mae).sum::<f64>() / n,
        coverage80: pooled.coverage80,
        width80: pooled.width80,
        rul: all_rul.rul_scores(),
        worst_coverage80: worst.map_or(f64::NAN, |f| f.vb.coverage80),
        worst_group: worst.map(|f| f.group.clone()).unwrap_or_default(),
        groups_within_70_90: folds
            .iter()
            .filter(|f| (0.7..=0.9).contains(&f.vb.coverage80))
            .count(),
        baseline: (!baselines.is_empty() && baselines.len() == folds.len())
            .then(|| BaselineScores::mean(&baselines)),
        online: (opts.online_every > 0).then(|| {
            let pooled = Scores::of(
                &all_online.p50,
                &all_online.p10,
                &all_online.p90,
                &all_online.truth,
            );
            let cov = |f: &FoldReport| f.vb_online.as_ref().map_or(f64::NAN, |v| v.coverage80);
            let worst = folds.iter().min_by(|a, b| cov(a).total_cmp(&cov(b)));
            OnlineOverall {
                every: opts.online_every,
                coverage80: pooled.coverage80,
                width80: pooled.width80,
                worst_coverage80: worst.map_or(f64::NAN, cov),
                worst_group: worst.map(|f| f.group.clone()).unwrap_or_default(),
                groups_within_70_90: folds
                    .iter()
                    .filter(|f| (0.7..=0.9).contains(&cov(f)))
                    .count(),
            }
        }),
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
        cleaning: data.cleaning.clone(),
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
    if !o.worst_group.is_empty() {
        let _ = writeln!(
            s,
            "80 % coverage per tool: worst {:.1} % ({}), {} of {} tools within 70–90 %",
            100.0 * o.worst_coverage80,
            o.worst_group,
            o.groups_within_70_90,
            report.folds.len()
        );
    }
    if let Some(on) = &o.online {
        let per: Vec<String> = report
            .folds
            .iter()
            .filter_map(|f| f.vb_online.as_ref())
            .map(|v| format!("{:.1}", 100.0 * v.coverage80))
            .collect();
        let _ = writeln!(
            s,
            "recalibrated per tool as its wear is measured (every {} measurement{}): 80 % coverage per tool {} %, pooled {:.1} %, worst {:.1} % ({}), {} of {} tools within 70–90 %; mean width{u} {:.4}",
            on.every,
            if on.every == 1 { "" } else { "s" },
            per.join(" / "),
            100.0 * on.coverage80,
            100.0 * on.worst_coverage80,
            on.worst_group,
            on.groups_within_70_90,
            report.folds.len(),
            on.width80
        );
    }
    if let Some(b) = &o.baseline {
        let _ = writeln!(
            s,
            "same folds, RMSE{u} — {:<10} {:>9} {:>11} {:>12}",
            "held out", "model", "time only", "plain linear"
        );
        for f in &report.folds {
            if let Some(fb) = &f.baseline {
                let _ = writeln!(
                    s,
                    "{:<26}{:<10} {:>9.4} {:>11.4} {:>12.4}",
                    "", f.group, f.vb.rmse, fb.time_only_rmse, fb.linear_rmse
                );
            }
        }
        let _ = writeln!(
            s,
            "{:<26}{:<10} {:>9.4} {:>11.4} {:>12.4}   (MAE {:.4} / {:.4} / {:.4})",
            "",
            "mean",
            o.mean_rmse,
            b.time_only_rmse,
            b.linear_rmse,
            o.mean_mae,
            b.time_only_mae,
            b.linear_mae
        );
        let _ = writeln!(
            s,
            "time only: least squares on usage u and ln(1+u); plain linear: elastic net on u and the raw input columns, penalty by inner leave-one-group-out"
        );
    }
    let c = &report.cleaning;
    if c.carried_forward + c.median_filled > 0 || !c.dropped.is_empty() {
        let _ = writeln!(
            s,
            "empty cells: {} carried forward from the same tool's previous cut, {} (before a tool's first value) set to the training tools' median",
            c.carried_forward, c.median_filled
        );
        for d in &c.dropped {
            let _ = writeln!(s, "column `{}` left out: {}", d.column, d.reason);
        }
    }
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
