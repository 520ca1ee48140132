//! One tool's life as the life evaluator keeps it: usage counted only while it cuts, and after
//! each finished operation the predicted flank wear and remaining life, from the configured
//! wear model (`models` crate) or, once its class has enough of them, from this machine's own
//! tool lifetimes (`lifetimes.rs`).

use std::collections::HashMap;

use models::adapt::Adaptation;
use models::lifetime::{ClassLife, LifetimeModel};
use models::rul::ReferenceCurve;
use models::wear_curves::WearCurves;
use models::{CutRecord, Quantiles, ToolState, WearModel, WearPrediction};
use serde::Serialize;

use crate::config::WearModelSettings;
use crate::records::operation::OperationRecord;
use crate::records::tool::{Counters, Prediction, Sources, WearCheck};

/// What this machine's recorded tool lives say, per tool class: the Weibull life (used without
/// a wear model, from `lifetimes::MIN_ENDED` worn-out lives) and the wear model's life factor
/// adapted to this machine (from the first life); and, over all classes, the wear curves of
/// its worn-out tools measured during their lives (from `models::wear_curves::MIN_CURVES`).
#[derive(Debug, Clone)]
pub struct Lives {
    pub weibull: LifetimeModel,
    pub adapted: HashMap<String, Adaptation>,
    pub curves: Option<WearCurves>,
}

/// A tool in service.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub counters: Counters,
    /// The wear model's state for this tool.
    pub state: Option<ToolState>,
    pub prediction: Option<Prediction>,
    /// Why the last cut has no prediction, if it has none.
    pub note: Option<String>,
    /// Changed since it was last stored.
    pub dirty: bool,
}

impl Entry {
    /// Counts `cut_s` seconds of cutting at `feed_mm_min` at `now_ms`.
    pub fn count(&mut self, cut_s: f64, feed_mm_min: f64, now_ms: i64) {
        if self.counters.since_ms == 0 {
            self.counters.since_ms = now_ms;
        }
        self.counters.cutting_min += cut_s / 60.0;
        self.counters.distance_mm += feed_mm_min * cut_s / 60.0;
        self.counters.last_cut_ms = Some(now_ms);
        self.dirty = true;
    }
}

/// One tool as `/api/life` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub tool_id: String,
    pub in_spindle: bool,
    pub counters: Counters,
    pub prediction: Option<Prediction>,
    pub note: Option<String>,
    /// Flank wear measurements taken into this tool's predictions since its last change
    /// (`POST /api/tools/{id}/wear`): its band is recalibrated by them.
    pub wear_measurements: usize,
    /// How many times the model's wear this tool's measured wear is (1 until measured).
    pub wear_scale: f64,
}

/// The wear model as `/api/life` names it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelView {
    pub file: String,
    pub dataset: String,
    pub method: String,
    pub target: String,
    pub target_unit: String,
    pub limit: f64,
    pub inputs: Vec<String>,
}

/// The configured wear model, as the tools predict with it.
pub struct Model {
    model: std::sync::Arc<WearModel>,
    file: String,
    dataset: String,
    depth_of_cut_mm: Option<f64>,
}

impl Model {
    pub fn new(m: &WearModelSettings, depth_of_cut_mm: Option<f64>) -> Model {
        Model {
            model: m.model.clone(),
            file: m.path.display().to_string(),
            dataset: m.dataset.clone(),
            depth_of_cut_mm,
        }
    }

    pub fn view(&self) -> ModelView {
        ModelView {
            file: self.file.clone(),
            dataset: self.dataset.clone(),
            method: self.method(),
            target: self.model.target_name.clone(),
            target_unit: self.model.target_unit.clone(),
            limit: self.model.limit,
            inputs: self.model.feature_names(),
        }
    }

    fn method(&self) -> String {
        // A model file written before CV+ holds no inner models and falls back.
        let interval = if self.model.inner.is_empty() {
            "split-conformal"
        } else {
            "CV+ (jackknife+ over the training tools)"
        };
        format!(
            "wear model trained on the `{}` data set (models crate: Taylor prior per material, \
             ElasticNet on the inputs, monotone filter, {interval} P10/P90); usage = minutes \
             of cutting counted by this agent, inputs from each operation; not validated on this \
             machine: tool-change labels will tell",
            self.dataset
        )
    }
}

/// The wear model's class and material code for an ISO 513 workpiece group: the trained
/// models know steel (P) and cast iron (K) only.
fn material(group: Option<&str>) -> Option<(&'static str, f64)> {
    match group? {
        "P" => Some(("steel", 2.0)),
        "K" => Some(("cast_iron", 1.0)),
        _ => None,
    }
}

/// The wear model's class and the cut it predicts from for `op` at `usage` minutes; `Err`
/// says why the model cannot predict for it.
fn cut_record(
    m: &Model,
    op: &OperationRecord,
    usage: f64,
) -> Result<(&'static str, CutRecord), String> {
    let (class, code) = material(op.workpiece_group.as_deref()).ok_or_else(|| {
        format!(
            "no prediction: workpiece group {} is outside the model's training materials (P steel, K cast iron)",
            op.workpiece_group.as_deref().unwrap_or("unknown")
        )
    })?;
    let mut cut = CutRecord::new(usage).with("material", code);
    let feed_per_rev = match (op.feed_mean_mm_min, op.speed_mean_rpm) {
        (Some(f), Some(n)) if n > 0.0 => Some(f / n),
        _ => None,
    };
    let inputs = [
        ("feed", feed_per_rev),
        ("DOC", m.depth_of_cut_mm),
        ("vc_mean_m_min", op.vc_mean_m_min),
        ("fz_mean_mm", op.fz_mean_mm),
        ("speed_mean_rpm", op.speed_mean_rpm),
        ("spindle_load_mean_pct", op.spindle_load_mean_pct),
        ("spindle_load_max_pct", op.spindle_load_max_pct),
        ("spindle_power_mean_kw", op.spindle_power_mean_kw),
        ("spindle_power_max_kw", op.spindle_power_max_kw),
    ];
    for (name, v) in inputs {
        if let Some(v) = v {
            cut = cut.with(name, v);
        }
    }
    Ok((class, cut))
}

impl Model {
    /// The share of its life a tool had used at a measured flank wear of `vb_mm`, read off this
    /// machine's own wear curves where it has them (`own`), else the wear model's measured
    /// training curves (`None` for a model whose wear is not in mm or µm).
    pub fn life_used_at_wear_mm(&self, vb_mm: f64, own: Option<&WearCurves>) -> Option<f64> {
        let level = self.in_target_unit(vb_mm)?;
        match own {
            Some(c) => c.life_used_at(level),
            None => models::wear_curves::life_used_at(&self.model.references, level),
        }
    }

    /// The wear curve of a tool worn out after `life_min` minutes of cutting, its flank wear
    /// measured at `measured` (minutes, mm) during its life and `vb_at_change_mm` at the
    /// change: from new (no wear) through the measurements to where the wear crossed the limit
    /// between the last one and the change. `None` for a tool not measured at or past the limit
    /// at its change (a tool is seen worn out after it wore out, by an unknown margin: taking
    /// the change for the limit made readings on such curves late, +1.4 min at 75 % of life on
    /// the simulator against +0.6 with the change measured, `rul-report --measure-every-min
    /// 5 [--measure-at-change]`, and their band too narrow for it), one with no measurement
    /// inside its life below the limit (its curve would be a straight line assumed, not
    /// measured), or a model whose wear is not in mm or µm.
    pub fn own_curve(
        &self,
        measured: &[(f64, f64)],
        life_min: f64,
        vb_at_change_mm: Option<f64>,
    ) -> Option<ReferenceCurve> {
        let limit = self.model.limit;
        let end = Some(self.in_target_unit(vb_at_change_mm?)?).filter(|v| *v >= limit)?;
        let inside: Vec<(f64, f64)> = measured
            .iter()
            .filter_map(|&(u, vb)| Some((u, self.in_target_unit(vb)?)))
            .filter(|&(u, w)| u > 0.0 && u < life_min && w.is_finite() && w < limit)
            .collect();
        if inside.is_empty() || !(life_min.is_finite() && life_min > 0.0) {
            return None;
        }
        let points: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
            .chain(inside)
            .chain(std::iter::once((life_min, end)))
            .collect();
        let usage: Vec<f64> = points.iter().map(|p| p.0).collect();
        let wear: Vec<Option<f64>> = points.iter().map(|p| Some(p.1)).collect();
        ReferenceCurve::from_measurements(&usage, &wear, limit, None)
    }

    /// A flank wear in mm in the model's target unit (`None` for a model whose wear is not in
    /// mm or µm).
    fn in_target_unit(&self, vb_mm: f64) -> Option<f64> {
        match self.model.target_unit.as_str() {
            "mm" => Some(vb_mm),
            "µm" | "um" => Some(vb_mm * 1000.0),
            _ => None,
        }
    }

    /// A flank wear of `vb_mm` measured on a tool with wear-model state `state`, taken into it
    /// (`models::WearModel::observe_wear`); `Err` says why the model cannot use it.
    pub fn observe_wear(&self, state: &mut ToolState, vb_mm: f64) -> Result<WearCheck, String> {
        let measured = self.in_target_unit(vb_mm).ok_or_else(|| {
            format!(
                "the wear model predicts {} in `{}`, not a flank wear in mm or µm",
                self.model.target_name, self.model.target_unit
            )
        })?;
        let o = self
            .model
            .observe_wear(state, measured)
            .map_err(|e| e.to_string())?;
        Ok(WearCheck {
            vb_unit: self.model.target_unit.clone(),
            measured,
            band: o.band,
            inside: o.inside,
            predicted_before: o.level_before,
            predicted_after: o.level_after,
            wear_scale: state.wear_scale,
            measurements: o.measurements,
        })
    }

    /// The wear model's median life of a new tool cut as `op` was (minutes): the prior of
    /// `models::adapt` at these cutting conditions. `None` where the model cannot predict.
    pub fn prior_life(&self, op: &OperationRecord) -> Option<f64> {
        let (class, cut) = cut_record(self, op, 0.0).ok()?;
        models::adapt::wear_model_life(&self.model, class, &cut)
            .ok()
            .filter(|l| l.is_finite() && *l > 0.0)
    }
}

/// Predicts after a finished operation; `Err` says why there is no prediction.
pub fn predict(
    m: &Model,
    e: &mut Entry,
    op: &OperationRecord,
    own: Option<&WearCurves>,
    now: i64,
) -> Result<Prediction, String> {
    let (material, cut) = cut_record(m, op, e.counters.cutting_min)?;
    let state = e.state.get_or_insert_with(|| m.model.new_tool(material));
    let p = m
        .model
        .predict_cut(state, &cut)
        .map_err(|err| format!("no prediction: {err}"))?;
    let class = super::lifetimes::class_of(op);
    Ok(shown(m, state, p, &class, &e.counters, own, now))
}

/// A wear model's prediction of a tool of `class` (`lifetimes::class_of`) with state `state`
/// as the agent shows it. A measured tool's remaining life is read on this machine's own wear
/// curves where it has them (`own`), else on the training curves (as the wear model read it).
fn shown(
    m: &Model,
    state: &ToolState,
    p: WearPrediction,
    class: &str,
    counters: &Counters,
    own: Option<&WearCurves>,
    now: i64,
) -> Prediction {
    let measurements = state.recalibration.map_or(0, |r| r.measurements);
    let on_own = own
        .zip(state.last_measured)
        .and_then(|(own, (used, level))| {
            own.remaining(used, level, p.usage, m.model.rul.cap)
                .map(|r| (r, own.len()))
        });
    let mut method = format!("{}; its material class `{}`", m.method(), state.class);
    if let Some((used, level)) = state.last_measured {
        let curves = curves_named(on_own.map(|(_, n)| n));
        method = format!(
            "{method}; this tool's flank wear measured {measurements} times, last {level:.3} {} \
             after {used:.1} min: its wear from then on scaled by {:.2}, its band recalibrated, \
             and its remaining life read from that measurement (the share of life {curves} had \
             used at that wear)",
            m.model.target_unit, state.wear_scale
        );
    }
    let rul = on_own.map_or(p.rul, |(r, _)| r);
    let sources = match on_own {
        // The measurement and the curves are this machine's: no prior in the figure.
        Some((_, n)) => Sources {
            prior_share: 0.0,
            machine_share: 1.0,
            prior_weight_lives: None,
            lives: n,
            lives_worn_out: n,
            lives_censored: 0,
            life_factor: None,
            prior_life_min: None,
            prior_remaining_min: Some(p.rul),
            tool_measurements: measurements,
        },
        // No lives of the class yet: the figure is the prior's alone.
        None => Sources {
            prior_share: 1.0,
            machine_share: 0.0,
            prior_weight_lives: Some(super::lifetimes::PRIOR.prior_weight_lives),
            lives: 0,
            lives_worn_out: 0,
            lives_censored: 0,
            life_factor: None,
            prior_life_min: None,
            prior_remaining_min: Some(p.rul),
            tool_measurements: measurements,
        },
    };
    Prediction {
        at_ms: now,
        after_cut: counters.cuts,
        cutting_min: counters.cutting_min,
        vb: Some(p.vb),
        vb_unit: m.model.target_unit.clone(),
        limit: Some(p.limit),
        remaining_min: rul,
        remaining_cuts: in_cuts(&rul, counters),
        class: class.to_string(),
        model_file: m.file.clone(),
        method,
        sources: Some(sources),
    }
}

/// The wear model's prediction with its remaining life adapted to this machine: the posterior
/// predictive life of the class (`adaptation`), given the prior's median life at this tool's
/// conditions and the minutes it has survived; flank wear stays the wear model's.
pub fn adapted(
    wear: Prediction,
    class: &str,
    adaptation: &Adaptation,
    prior_life_min: f64,
    c: &Counters,
    reading: Option<Reading>,
) -> Option<Prediction> {
    let remaining = match reading {
        Some(r) => adaptation.remaining_with_reading(prior_life_min, c.cutting_min, r.life)?,
        None => adaptation.remaining(prior_life_min, c.cutting_min)?,
    };
    let measured = reading.map_or(String::new(), |r| {
        format!(
            "; combined with this tool's own flank wear, measured {} times, which reads its life \
             as {:.1} min (P10-P90 {:.1}-{:.1}) on {}",
            r.measurements,
            r.life.p50,
            r.life.p10,
            r.life.p90,
            curves_named(r.own_curves)
        )
    });
    let method = format!(
        "remaining life: the wear model's life at these conditions ({prior_life_min:.1} min for a \
         new tool) as a prior worth {} tool lives, times this machine's life factor for `{class}` \
         (P50 {:.2}) from {} recorded tool lives ({} worn out, {} preventive or broken, \
         censored): {:.0} % of the figure from this machine; conditional on the {:.1} min this \
         tool has cut{measured}; flank wear: {}",
        adaptation.settings.prior_weight_lives,
        adaptation.life_factor.p50,
        adaptation.lives,
        adaptation.worn_out,
        adaptation.censored,
        adaptation.machine_share * 100.0,
        c.cutting_min,
        wear.method
    );
    Some(Prediction {
        remaining_cuts: in_cuts(&remaining, c),
        remaining_min: remaining,
        class: class.to_string(),
        method,
        sources: Some(Sources {
            prior_share: adaptation.prior_share(),
            machine_share: adaptation.machine_share,
            prior_weight_lives: Some(adaptation.settings.prior_weight_lives),
            lives: adaptation.lives,
            lives_worn_out: adaptation.worn_out,
            lives_censored: adaptation.censored,
            life_factor: Some(adaptation.life_factor),
            prior_life_min: Some(prior_life_min),
            prior_remaining_min: wear
                .sources
                .as_ref()
                .and_then(|s| s.prior_remaining_min)
                .or(Some(wear.remaining_min)),
            tool_measurements: reading.map_or(0, |r| r.measurements),
        }),
        ..wear
    })
}

/// What a measured tool's own wear says of its life (`models::wear_curves::life`).
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// P10/P50/P90 of the tool's life from new (minutes).
    pub life: Quantiles,
    /// The tool's measurements behind it.
    pub measurements: usize,
    /// This machine's own wear curves it was read on, how many; `None`: the training curves.
    pub own_curves: Option<usize>,
}

/// The reading of a measured tool's last measurement: on this machine's own wear curves
/// where it has them (`own`), else on the wear model's training curves. `None` for a tool not
/// measured, or a reading with too few curves.
pub fn reading(m: &Model, state: &ToolState, own: Option<&WearCurves>) -> Option<Reading> {
    let (used, level) = state.last_measured?;
    let life = match own {
        Some(c) => c.life(used, level)?,
        None => models::wear_curves::life(&m.model.references, &[], used, level)?,
    };
    Some(Reading {
        life,
        measurements: state.recalibration.map_or(0, |r| r.measurements),
        own_curves: own.map(WearCurves::len),
    })
}

/// The wear curves a measurement was read on, for `method`.
fn curves_named(own_curves: Option<usize>) -> String {
    match own_curves {
        Some(n) => format!("this machine's {n} worn-out tools measured during their lives"),
        None => "the training curves".into(),
    }
}

/// Remaining minutes as remaining cuts, at this tool's mean minutes per cut so far.
fn in_cuts(minutes: &Quantiles, c: &Counters) -> Quantiles {
    let per_cut = c.cutting_min / c.cuts.max(1) as f64;
    let cuts = |q: f64| if per_cut > 0.0 { q / per_cut } else { 0.0 };
    Quantiles {
        p10: cuts(minutes.p10),
        p50: cuts(minutes.p50),
        p90: cuts(minutes.p90),
    }
}

/// Remaining life from the tool lifetimes of this machine's class, conditional on the
/// minutes this tool has survived; flank wear from the wear model where it predicted.
/// Lifetimes of the very tools, on this machine, beat a model trained on another data set.
pub fn from_lifetimes(
    life: &ClassLife,
    wear: Option<Prediction>,
    c: &Counters,
    now: i64,
) -> Prediction {
    let remaining = life.remaining(c.cutting_min);
    let method = format!(
        "remaining life: Weibull life of this machine's `{}` tools from {} tool changes in the \
         store ({} worn out; {} preventive or broken, censored), conditional on the {:.1} min \
         this tool has cut; 80 % band from a bias-corrected parametric bootstrap{}",
        life.class,
        life.lifetimes,
        life.ended,
        life.censored,
        c.cutting_min,
        wear.as_ref()
            .map(|w| format!("; flank wear: {}", w.method))
            .unwrap_or_default()
    );
    Prediction {
        at_ms: now,
        after_cut: c.cuts,
        cutting_min: c.cutting_min,
        vb: wear.as_ref().and_then(|w| w.vb),
        vb_unit: wear.as_ref().map(|w| w.vb_unit.clone()).unwrap_or_default(),
        limit: None,
        remaining_cuts: in_cuts(&remaining, c),
        remaining_min: remaining,
        class: life.class.clone(),
        model_file: "store".into(),
        method,
        // No prior: the lives alone.
        sources: Some(Sources {
            prior_share: 0.0,
            machine_share: 1.0,
            prior_weight_lives: None,
            lives: life.lifetimes,
            lives_worn_out: life.ended,
            lives_censored: life.censored,
            life_factor: None,
            prior_life_min: None,
            prior_remaining_min: wear.as_ref().map(|w| w.remaining_min),
            tool_measurements: 0,
        }),
    }
}

impl Entry {
    /// Whether this tool's own measured wear enters its prediction (alone, or with its class's
    /// lives where it has some: `adapted`): once measured, where the machine has its own wear
    /// curves (`Lives::curves`), or else until the tool's class has a life that ended worn out
    /// on this machine. Read on the training data's curves, a measurement says less about
    /// this machine than its own worn-out lives do (rul-report: early in life, 5+ lives, +7.0
    /// min from the measurement against +0.7 from the lives); read on its own curves, more
    /// (README, "A tool's own measured wear").
    fn predicted_from_measurement(&self, lives: &Lives, class: &str) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.last_measured.is_some())
            && (lives.curves.is_some() || lives.adapted.get(class).is_none_or(|a| a.worn_out == 0))
    }

    /// After a flank wear measurement taken into this tool's state: its prediction as it
    /// stands now, where the measurement enters it (else it moves at the next cut). With the
    /// class's lives behind the last prediction, combined with them at that prediction's
    /// prior life.
    pub fn after_measurement(&mut self, model: &Model, lives: &Lives, now: i64) {
        let Some(last) = self.prediction.as_ref() else {
            return;
        };
        let (class, prior) = (
            last.class.clone(),
            last.sources.as_ref().and_then(|s| s.prior_life_min),
        );
        if !self.predicted_from_measurement(lives, &class) {
            return;
        }
        let Some(state) = self.state.as_ref() else {
            return;
        };
        let Some(p) = model.model.measured_now(state) else {
            return;
        };
        let own = lives.curves.as_ref();
        let alone = shown(model, state, p, &class, &self.counters, own, now);
        let with_lives = lives
            .adapted
            .get(&class)
            .filter(|a| a.lives > 0)
            .zip(prior)
            .and_then(|(a, prior)| {
                let reading = reading(model, state, own);
                adapted(alone.clone(), &class, a, prior, &self.counters, reading)
            });
        self.prediction = Some(with_lives.unwrap_or(alone));
        self.note = None;
    }

    /// After a finished operation of this tool: one more cut, and its prediction. With a wear
    /// model and at least one recorded life of the tool's class, the wear model's life adapted
    /// to this machine (`adapted`), combined with this tool's measured wear where it enters
    /// (`predicted_from_measurement`); with no life of the class, the wear model's prediction,
    /// from that measurement where it enters; without a wear model, this machine's tool lifetimes where
    /// its class has enough of them (flank wear still from the wear model where it predicts);
    /// else the wear model alone; without either, a note why not.
    pub fn after_cut(
        &mut self,
        op: &OperationRecord,
        model: Option<&Model>,
        lives: &Lives,
        now: i64,
    ) {
        if self.counters.since_ms == 0 {
            self.counters.since_ms = op.start_ms;
        }
        self.counters.cuts += 1;
        self.dirty = true;
        let wear = model.map(|m| predict(m, self, op, lives.curves.as_ref(), now));
        let class = super::lifetimes::class_of(op);
        let measured = self.predicted_from_measurement(lives, &class);
        if let (Some(Ok(w)), Some(m), Some(a)) = (
            wear.as_ref(),
            model,
            lives.adapted.get(&class).filter(|a| a.lives > 0),
        ) {
            let reading = self
                .state
                .as_ref()
                .filter(|_| measured)
                .and_then(|s| reading(m, s, lives.curves.as_ref()));
            if let Some(p) = m
                .prior_life(op)
                .and_then(|prior| adapted(w.clone(), &class, a, prior, &self.counters, reading))
            {
                self.prediction = Some(p);
                self.note = None;
                return;
            }
        }
        let wear = match wear {
            Some(Ok(p)) if measured => {
                self.prediction = Some(p);
                self.note = None;
                return;
            }
            other => other,
        };
        match (wear, lives.weibull.class(&class)) {
            (wear, Some(life)) => {
                let wear = wear.and_then(Result::ok);
                self.prediction = Some(from_lifetimes(life, wear, &self.counters, now));
                self.note = None;
            }
            (Some(Ok(p)), None) => {
                self.prediction = Some(p);
                self.note = None;
            }
            (Some(Err(why)), None) => self.note = Some(why),
            (None, None) => {}
        }
    }
}
