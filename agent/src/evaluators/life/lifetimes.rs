//! Tool lifetimes from the store: every tool change reported from the shop floor is one
//! lifetime (minutes of cutting until the change), worn out or censored, with the tool class
//! read off the operations the tool cut. The life evaluator refits its lifetime model from
//! these at start and after every change; `agent train` shows the same fit with a
//! leave-one-out check and can save it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use std::collections::HashMap;

use models::adapt::{Adaptation, Evidence, PriorSettings};
use models::lifetime::{leave_one_out, Lifetime, LifetimeModel};
use models::wear_curves::{WearCurves, MIN_CURVES};

use crate::config::USAGE_UNIT;
use crate::records::operation::OperationRecord;
use crate::records::tool::ChangeReason;
use crate::store::Lifetime as StoredLifetime;
use crate::store::Reader;

use super::tools::{Lives, Model};

/// The shipped wear model as a prior for this machine's tool lives: worth a fifth of one tool
/// life (one worn-out life of the class carries 83 % of the figure, two 91 %), tool lives of a
/// class scattering by about 30 % (`models::adapt`'s defaults, and why).
pub const PRIOR: PriorSettings = PriorSettings {
    prior_weight_lives: 0.2,
    scatter: 0.3,
    scatter_uncertainty: 0.5,
};

/// Worn-out ends a class needs before its life is predicted from them. From five on, the
/// band covers the next tool's life about as often as it says (`models::lifetime`'s tests:
/// 73 % with three, 74 % with four, 81-82 % with five to ten; on the simulator, starting at
/// three gave 49 %).
pub const MIN_ENDED: usize = 5;

/// The class a tool belongs to: tools of one specification on one workpiece material are
/// taken to wear out alike. Built from what the CNC reports for the tool and the workpiece.
pub fn class_of(op: &OperationRecord) -> String {
    // A class the shop gives the tool (tool table) says it best.
    if let Some(c) = op.tool_class.as_deref().filter(|c| !c.is_empty()) {
        return format!("{c} on {}", op.workpiece_material.as_deref().unwrap_or("?"));
    }
    let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "?".into());
    let num = |x: Option<f64>| x.map_or_else(|| "?".into(), |v| format!("{v}"));
    format!(
        "{} {} Ø{} mm z{} on {}",
        text(&op.tool_material),
        text(&op.tool_coating),
        num(op.tool_diameter_mm),
        num(op.tool_edges),
        text(&op.workpiece_material)
    )
}

/// Every lifetime in the store whose class is known (the tool cut at least one recorded
/// operation before its change). A preventive change leaves the end unseen; a breakage ends
/// the tool but not by wear (a competing risk): for the wear-out life both are censored.
pub fn read(r: &Reader) -> Result<Vec<Lifetime>> {
    Ok(classified(&r.lifetimes()?))
}

/// The store's tool changes as lifetimes of their class (see [`read`]).
fn classified(changes: &[StoredLifetime]) -> Vec<Lifetime> {
    changes
        .iter()
        .filter_map(|l| {
            Some(Lifetime {
                class: class_of(l.last_operation.as_ref()?),
                used: l.change.counters.cutting_min,
                ended: l.change.reason.ends_wear_life(),
            })
        })
        .collect()
}

/// A censored change with measured flank wear at least this share of the way through the
/// wear curves counts as an observed life, read off the curves (below it, the rest of the life
/// would be extrapolated too far: it stays censored). One measured at or past the wear limit
/// reads as its whole life used: it wore out by the change, an observed end there, as a
/// worn-out change is.
pub const MEASURED_LIFE_FROM: f64 = 0.6;

/// The wear model's life factor per tool class adapted to this machine: every recorded life
/// (worn out; preventive and broken censored) against the wear model's median life at the
/// conditions of the last operation that tool cut. A preventive change with its flank wear
/// measured is a life too: a tool changed at 15 min with VB 0.25 mm of a 0.3 mm limit had used
/// the share of its life the wear curves (this machine's own, `own`, where it has them, else
/// the wear model's training curves) took to reach 0.25 mm, so its life was 15 min over that
/// share. Lives whose conditions the model cannot predict for are left out.
pub fn adapt(
    changes: &[StoredLifetime],
    model: &Model,
    own: Option<&WearCurves>,
) -> HashMap<String, Adaptation> {
    let mut by_class: HashMap<String, Vec<Evidence>> = HashMap::new();
    for l in changes {
        let Some(op) = l.last_operation.as_ref() else {
            continue;
        };
        let Some(prior_median) = model.prior_life(op) else {
            continue;
        };
        let used = l.change.counters.cutting_min;
        let ended = l.change.reason.ends_wear_life();
        let measured = l
            .change
            .measured_vb_mm
            .filter(|_| !ended && l.change.reason == ChangeReason::Preventive)
            .and_then(|vb| model.life_used_at_wear_mm(vb, own))
            .filter(|f| *f >= MEASURED_LIFE_FROM);
        by_class
            .entry(class_of(op))
            .or_default()
            .push(match measured {
                Some(share) => Evidence {
                    used: used / share,
                    ended: true,
                    prior_median,
                },
                None => Evidence {
                    used,
                    ended,
                    prior_median,
                },
            });
    }
    by_class
        .into_iter()
        .map(|(class, ev)| (class, Adaptation::update(PRIOR, &ev)))
        .collect()
}

/// The newest worn-out lives whose wear curves are kept: enough for the shape of this
/// machine's wear, few enough that reading each on the others stays a few milliseconds.
pub const OWN_CURVES_KEPT: usize = 30;

/// This machine's own wear curves (`Model::own_curve`): its worn-out tools whose flank wear
/// was measured during their lives, over all classes (the share of life at a wear is the
/// shape of wear, which the machine's tools and materials share far more than they share
/// the training data's), the newest [`OWN_CURVES_KEPT`]. `None` until there are
/// `models::wear_curves::MIN_CURVES`.
pub fn own_curves(
    r: &Reader,
    changes: &[StoredLifetime],
    model: &Model,
) -> Result<Option<WearCurves>> {
    let mut curves = Vec::new();
    for l in changes.iter().rev() {
        if curves.len() == OWN_CURVES_KEPT {
            break;
        }
        let c = &l.change;
        // A preventive change measured at or past the wear limit wore out too.
        let worn = c.reason.ends_wear_life()
            || (c.reason == ChangeReason::Preventive && c.measured_vb_mm.is_some());
        if !worn {
            continue;
        }
        let measured: Vec<(f64, f64)> = r
            .wear_measurements(&c.tool_id, Some(c.id))?
            .iter()
            .map(|m| (m.counters.cutting_min, m.measured_vb_mm))
            .collect();
        if let Some(curve) = model.own_curve(&measured, c.counters.cutting_min, c.measured_vb_mm) {
            curves.push(curve);
        }
    }
    Ok((curves.len() >= MIN_CURVES).then(|| WearCurves::own(curves)))
}

/// What a store's tool lives say: the Weibull lives and, with a wear model, its adaptation
/// and this machine's own wear curves.
pub fn lives(r: &Reader, model: Option<&Model>) -> Result<Lives> {
    let changes = r.lifetimes()?;
    let curves = match model {
        Some(m) => own_curves(r, &changes, m)?,
        None => None,
    };
    Ok(Lives {
        weibull: LifetimeModel::fit(&classified(&changes), USAGE_UNIT, MIN_ENDED),
        adapted: match model {
            Some(m) => adapt(&changes, m, curves.as_ref()),
            None => HashMap::new(),
        },
        curves,
    })
}

/// No lives yet.
pub fn none() -> Lives {
    Lives {
        weibull: LifetimeModel::fit(&[], USAGE_UNIT, MIN_ENDED),
        adapted: HashMap::new(),
        curves: None,
    }
}

/// The lifetime model of a store.
pub fn fit(r: &Reader) -> Result<LifetimeModel> {
    Ok(LifetimeModel::fit(&read(r)?, USAGE_UNIT, MIN_ENDED))
}

/// `agent train`: fits tool life from the store's tool changes, prints it per class with a
/// leave-one-out check, and saves it as JSON when asked.
pub fn train_cli(store: &Path, out: Option<&Path>) -> ExitCode {
    match train(store, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(store: &Path, out: Option<&Path>) -> Result<()> {
    let reader = crate::store::open_reader(store)
        .with_context(|| format!("opening the store {}", store.display()))?;
    let lives = read(&reader)?;
    let model = LifetimeModel::fit(&lives, USAGE_UNIT, MIN_ENDED);
    let loo = leave_one_out(&lives, MIN_ENDED);
    println!(
        "{} tool lifetimes in {} ({} worn out, {} censored: preventive changes and breakages)",
        lives.len(),
        store.display(),
        lives.iter().filter(|l| l.ended).count(),
        lives.iter().filter(|l| !l.ended).count()
    );
    let mut classes: Vec<&str> = lives.iter().map(|l| l.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        println!("\n{class}");
        match model.class(class) {
            Some(c) => {
                let q = c.remaining(0.0);
                println!(
                    "  {} lifetimes, {} worn out, {} censored; Weibull shape {:.2}, scale {:.1} {USAGE_UNIT}",
                    c.lifetimes, c.ended, c.censored, c.fit.shape, c.fit.scale
                );
                println!(
                    "  life of a new tool: P10 {:.1}  P50 {:.1}  P90 {:.1} {USAGE_UNIT} of cutting",
                    q.p10, q.p50, q.p90
                );
                match loo.iter().find(|l| l.class == class) {
                    Some(l) => println!(
                        "  leave-one-out over {} worn-out tools: P10..P90 covered {:.0} %, P50 RMSE {:.1} {USAGE_UNIT}, bias {:+.1} {USAGE_UNIT}",
                        l.n,
                        l.coverage_80 * 100.0,
                        l.rmse,
                        l.bias
                    ),
                    None => println!(
                        "  leave-one-out: needs {} worn-out tools besides the held-out one",
                        MIN_ENDED
                    ),
                }
            }
            None => {
                let n = lives.iter().filter(|l| l.class == class).count();
                let ended = lives.iter().filter(|l| l.class == class && l.ended).count();
                println!(
                    "  {n} lifetimes, {ended} worn out: not fitted (needs {MIN_ENDED} worn out); \
                     the wear model, if configured, predicts for this class"
                );
            }
        }
    }
    if let Some(out) = out {
        let doc = serde_json::json!({
            "kind": "tool-lifetime-model",
            "agent_version": env!("CARGO_PKG_VERSION"),
            "store": store.display().to_string(),
            "trained_ms": crate::value::now_ms(),
            "method": "Weibull per tool class by maximum likelihood with right-censoring \
                       (preventive changes and breakages); 80 % band from a bias-corrected \
                       parametric bootstrap",
            "model": model,
            "leave_one_out": loo,
        });
        std::fs::write(out, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("\nsaved to {}", out.display());
    }
    Ok(())
}
