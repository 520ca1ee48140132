//! Remaining life of machine components from what the agent reads, each with the method named:
//!
//! - the spindle bearing: ISO 281 basic rating life (`models::bearing`) over the spindle's own
//!   speed × load spectrum from the service history (`service.rs`), life used by
//!   Palmgren–Miner, remaining hours at the recent duty with the Weibull dispersion of bearing
//!   life; and the vibration trend (`models::bearing::BearingMonitor`), which takes over once
//!   it has detected a degradation onset;
//! - the ball screws of X, Y and Z: ISO 3408-5 style rating life (`models::rated_life`) from
//!   the axis load histogram and the travel;
//! - the MQL pump: its stroke counter against its rated strokes (`models::rated_life::MqlPump`).
//!
//! Driven by the life evaluator (`life/mod.rs`) on the evaluator tick; the bearing's trend
//! history and the service history are kept in the store so a restart forgets neither.

use models::bearing::{
    equivalent_load, l10_mrev, miner_damage, weibull_remaining, BearingKind, BearingMonitor,
    BearingStatus, RulSource, TrendConfig, WEIBULL_SLOPE,
};
use models::rated_life::{mean_axial_load_by_revolutions, BallScrew, MqlPump};
use models::Quantiles;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::service::{
    AxisService, PumpService, ServiceHistory, SpindleService, RECENT_TAU_H, ROW, SAVE_EVERY_MS,
};
use crate::condition::Condition;
use crate::config::{AssetIds, BallScrewSettings, ComponentSettings, SpindleBearingSettings};
use crate::evaluators::frame::Frame;
use crate::store::{Reader, Record};
/// The spindle bearing's row among the stored component states.
const BEARING: &str = "spindle-bearing";

/// The bearing's persisted state: spindle running hours, the record being averaged, the
/// monitor with its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BearingTrack {
    pub running_h: f64,
    acc_sum: f64,
    acc_h: f64,
    pub monitor: BearingMonitor,
    pub last: Option<BearingStatus>,
}

impl Default for BearingTrack {
    fn default() -> Self {
        BearingTrack {
            running_h: 0.0,
            acc_sum: 0.0,
            acc_h: 0.0,
            monitor: BearingMonitor::new(TrendConfig::default(), None, 0.0),
            last: None,
        }
    }
}

/// A component's service history as `/api/life` shows it (`kind` names the variant).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ComponentService {
    Spindle(Box<SpindleService>),
    BallScrew(Box<AxisService>),
    MqlPump(PumpService),
}

/// One component as `/api/life` shows it under `components`: one flat row per component,
/// every field the same meaning for every component (`null` where it does not apply), so an
/// export can map fields to columns one to one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentView {
    /// `mql-pump`, `spindle-bearing`, `ball-screw-x`, `ball-screw-y`, `ball-screw-z`.
    pub name: String,
    /// `mql-pump`, `spindle-bearing` or `ball-screw`.
    pub kind: String,
    /// From `[life.components.<component>]`, as configured.
    pub asset_id: Option<String>,
    pub serial_number: Option<String>,
    pub position: Option<String>,
    /// How the figures are obtained: the standard or model, its inputs, its assumptions.
    pub method: String,
    /// Which method produced `remaining_h` (and `life_used_fraction`): `iso281_miner`,
    /// `vibration_trend`, `iso3408_5_miner`, `rated_strokes`; `null` with no figure.
    pub remaining_method: Option<String>,
    /// The signal `used` is read or counted from.
    pub signal: String,
    /// Unit of `used`, `rated` and `remaining`.
    pub unit: String,
    /// Usage in `unit`: pump strokes (its counter), bearing spindle running hours, screw
    /// revolutions.
    pub used: Option<f64>,
    /// Rated life in `unit` where it is one number: pump rated strokes, screw rating life in
    /// revolutions at the mean axial load so far.
    pub rated: Option<f64>,
    /// Remaining in `unit`: pump strokes (rated − used, P10 = P50 = P90); bearing: the
    /// vibration trend's running hours after onset (`null` before); screws: `null` (see
    /// `remaining_h`).
    pub remaining: Option<Quantiles>,
    /// Life used as a fraction of the rating life (1 = L10 reached: 10 % of such parts have
    /// failed): Palmgren–Miner Σ nᵢ / L10(Pᵢ) for bearing and screws, strokes / rated strokes
    /// for the pump.
    pub life_used_fraction: Option<f64>,
    /// Predicted remaining life in hours of `remaining_h_basis`, P10/P50/P90, at the recent
    /// duty; for the bearing after a vibration onset, the trend's figure.
    pub remaining_h: Option<Quantiles>,
    /// The clock of `remaining_h`: `spindle_running_h` (bearing) or `powered_h` (screws: hours
    /// the CNC is on).
    pub remaining_h_basis: Option<String>,
    /// The method's inputs and intermediate figures (ratings, factors, equivalent loads,
    /// rating lives), names with units.
    pub parameters: Option<serde_json::Value>,
    /// The component's service history (`service.rs`).
    pub service: Option<ComponentService>,
    /// Why a figure is missing, or what to know about it.
    pub note: Option<String>,
    /// `note` in Chinese, built from the same figures.
    pub note_zh: Option<String>,
}

impl ComponentView {
    fn new(name: &str, kind: &str, ids: &AssetIds) -> Self {
        ComponentView {
            name: name.into(),
            kind: kind.into(),
            asset_id: ids.asset_id.clone(),
            serial_number: ids.serial_number.clone(),
            position: ids.position.clone(),
            method: String::new(),
            remaining_method: None,
            signal: String::new(),
            unit: String::new(),
            used: None,
            rated: None,
            remaining: None,
            life_used_fraction: None,
            remaining_h: None,
            remaining_h_basis: None,
            parameters: None,
            service: None,
            note: None,
            note_zh: None,
        }
    }
}

fn scale(q: Quantiles, f: f64) -> Quantiles {
    Quantiles {
        p10: q.p10 * f,
        p50: q.p50 * f,
        p90: q.p90 * f,
    }
}

/// Rated life of the spindle bearing from the service history (ISO 281, Palmgren–Miner).
struct BearingLife {
    used: f64,
    /// Rating life L10 in spindle running hours at the recent duty.
    l10_h_recent: Option<f64>,
    params: serde_json::Value,
}

fn bearing_life(b: &SpindleBearingSettings, sp: &SpindleService) -> BearingLife {
    let kind = if b.roller {
        BearingKind::Roller
    } else {
        BearingKind::Ball
    };
    // Bearing load of a spectrum cell: a configured linear map of the cell's mean spindle
    // load (the agent measures no bearing force).
    let loads = |cells: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        cells
            .into_iter()
            .map(|(pct, n)| (b.preload_kn + b.load_kn_per_pct * pct, n))
            .collect()
    };
    let all = loads(sp.spectrum.load_revolutions());
    let recent = loads(sp.recent.load_revolutions());
    let used = miner_damage(b.c_kn, &all, kind);
    let recent_h = sp.recent.total_h();
    let rate = if recent_h > 0.0 {
        miner_damage(b.c_kn, &recent, kind) / recent_h
    } else {
        0.0
    };
    let l10_h_recent = (rate > 0.0).then(|| 1.0 / rate);
    let p_all = equivalent_load(&all, kind);
    let p_recent = equivalent_load(&recent, kind);
    let spectrum_revs: f64 = all.iter().map(|(_, n)| n).sum();
    let params = json!({
        "c_kn": b.c_kn,
        "bearing_kind": if b.roller { "roller" } else { "ball" },
        "life_exponent": kind.exponent(),
        "preload_kn": b.preload_kn,
        "load_kn_per_pct": b.load_kn_per_pct,
        "equivalent_load_kn": p_all,
        "l10_mrev_at_equivalent_load": (p_all > 0.0).then(|| l10_mrev(b.c_kn, p_all, kind)),
        "recent_equivalent_load_kn": p_recent,
        "l10_h_at_recent_duty": l10_h_recent,
        "recent_duty_tau_h": RECENT_TAU_H,
        "weibull_slope": WEIBULL_SLOPE,
        "spectrum_revolutions": spectrum_revs,
        "revolutions_outside_spectrum": (sp.revolutions - spectrum_revs).max(0.0),
    });
    BearingLife {
        used,
        l10_h_recent,
        params,
    }
}

pub struct Components {
    pump: Option<MqlPump>,
    pump_strokes: Option<f64>,
    /// Hours of spindle running per bearing health record.
    record_h: f64,
    pub bearing: BearingTrack,
    /// A record was added since the bearing was last stored.
    pub dirty: bool,
    ratings: ComponentSettings,
    /// The service history (`service.rs`), stored at most once a minute.
    pub service: ServiceHistory,
    service_saved_ms: i64,
}

impl Components {
    /// The pump and the bearing trend only; add ratings and a service history with
    /// [`Components::with_ratings`], or restore everything with [`Components::restore`].
    pub fn new(pump_rated_strokes: Option<f64>, record_min: f64, bearing: BearingTrack) -> Self {
        Components {
            pump: pump_rated_strokes.map(|rated_strokes| MqlPump { rated_strokes }),
            pump_strokes: None,
            record_h: record_min / 60.0,
            bearing,
            dirty: false,
            ratings: ComponentSettings::default(),
            service: ServiceHistory::new(0),
            service_saved_ms: 0,
        }
    }

    /// With the `[life.components]` ratings and a service history (restored or new).
    pub fn with_ratings(mut self, ratings: ComponentSettings, service: ServiceHistory) -> Self {
        self.ratings = ratings;
        self.service_saved_ms = service.updated_ms;
        self.service = service;
        self
    }

    /// As the agent restores them at start: the bearing trend and the service history from
    /// the store (fresh ones where there is none, or where a stored one cannot be read:
    /// logged), with the configured ratings.
    /// From the store's reader, or afresh without one (the store is unavailable).
    pub fn restore(settings: &crate::config::LifeSettings, r: Option<&Reader>) -> Self {
        let stored = |name: &str| {
            r.and_then(|r| {
                r.component_state(name).unwrap_or_else(|e| {
                    tracing::error!(
                        "life: reading the stored {name} failed, starting afresh: {e:#}"
                    );
                    None
                })
            })
        };
        let bearing: BearingTrack = stored(BEARING)
            .and_then(|s| {
                serde_json::from_str(&s)
                    .inspect_err(|e| {
                        tracing::error!(
                            "life: the stored spindle-bearing trend is unreadable, starting \
                             afresh: {e}"
                        )
                    })
                    .ok()
            })
            .unwrap_or_default();
        let service = stored(ROW)
            .and_then(|s| {
                ServiceHistory::from_json(&s)
                    .inspect_err(|e| {
                        tracing::error!(
                            "life: the stored service history is unreadable, starting afresh: {e:#}"
                        )
                    })
                    .ok()
            })
            .unwrap_or_else(|| ServiceHistory::new(crate::value::now_ms()));
        Components::new(
            settings.mql_pump_rated_strokes,
            settings.bearing_record_min,
            bearing,
        )
        .with_ratings(settings.components.clone(), service)
    }

    pub fn step(&mut self, f: &Frame, dt_s: f64) {
        if let Some(s) = f.num("mql.pump_strokes") {
            self.pump_strokes = Some(s);
        }
        let rotating = f
            .flag("spindle.rotating")
            .or_else(|| f.num("spindle.speed").map(|n| n > 1.0))
            .unwrap_or(false);
        // Bearing wear goes with running time, not the wall clock: the time axis is spindle
        // running hours, and a record is the mean vibration over `record_h` of running.
        let (Some(v), true) = (f.num("spindle.vibration_rms"), rotating) else {
            return;
        };
        let b = &mut self.bearing;
        let h = dt_s / 3600.0;
        b.running_h += h;
        b.acc_h += h;
        b.acc_sum += v * h;
        if b.acc_h >= self.record_h {
            let mean = b.acc_sum / b.acc_h;
            b.last = Some(b.monitor.push(b.running_h, mean));
            b.acc_h = 0.0;
            b.acc_sum = 0.0;
            // Stored once per record, not per tick: the history grows, the SD card wears by
            // writes. A power cut loses at most one record's running time.
            self.dirty = true;
        }
    }

    /// Advances the service history (`cutting_s`: the segmentation's cutting seconds); returns
    /// the steps its plausibility guards refused (signal, event).
    pub fn step_service(
        &mut self,
        f: &Frame,
        dt_s: f64,
        cutting_s: Option<f64>,
    ) -> Vec<(&'static str, crate::evaluators::plausibility::Event)> {
        self.service.step(f, dt_s, cutting_s)
    }

    /// What is due to be stored: the bearing's trend after a new record, the service history
    /// a minute after it was last stored (both whatever their age with `all`, at a clean stop).
    pub fn records(&mut self, now_ms: i64, all: bool) -> Vec<Record> {
        let mut out = Vec::new();
        let mut put = |name: &str, json: serde_json::Result<String>| match json {
            Ok(json) => out.push(Record::ComponentState {
                name: name.into(),
                json,
                now_ms,
            }),
            Err(e) => tracing::error!("life: serialising the {name} failed: {e}"),
        };
        if self.dirty || all {
            self.dirty = false;
            put(BEARING, serde_json::to_string(&self.bearing));
        }
        if all || now_ms - self.service_saved_ms >= SAVE_EVERY_MS {
            self.service_saved_ms = now_ms;
            put(ROW, serde_json::to_string(&self.service));
        }
        out
    }

    pub fn view(&self) -> Vec<ComponentView> {
        let mut out = vec![self.pump_view(), self.bearing_view()];
        for (i, axis) in ["x", "y", "z"].into_iter().enumerate() {
            out.push(self.screw_view(axis, self.ratings.ball_screws[i].as_ref(), i));
        }
        out
    }

    /// `component:<name>:remaining-warning` / `:remaining-limit` from the predicted remaining
    /// life (P10 of `remaining_h`) against `[life.components] remaining_warning_h` and
    /// `remaining_limit_h`.
    pub fn conditions(&self) -> Vec<Condition> {
        super::levels::predicted_component_conditions(
            &self.view(),
            self.ratings.remaining_warning_h,
            self.ratings.remaining_limit_h,
        )
    }

    fn pump_view(&self) -> ComponentView {
        let mut v = ComponentView::new("mql-pump", "mql-pump", &self.ratings.mql_pump);
        let c = self
            .pump
            .zip(self.pump_strokes)
            .map(|(p, s)| p.consumption(s));
        v.method = match self.pump {
            Some(p) => format!(
                "rated life: stroke counter against the maker's rated {} strokes (models::rated_life::MqlPump)",
                p.rated_strokes
            ),
            None => "rated life: not configured ([life] mql_pump_rated_strokes)".into(),
        };
        v.remaining_method = c.map(|_| "rated_strokes".into());
        v.signal = "mql.pump_strokes".into();
        v.unit = "strokes".into();
        v.used = self.pump_strokes;
        v.rated = self.pump.map(|p| p.rated_strokes);
        v.life_used_fraction = c.map(|c| c.consumed_fraction);
        v.remaining = c.map(|c| Quantiles {
            p10: c.remaining,
            p50: c.remaining,
            p90: c.remaining,
        });
        v.parameters = self
            .pump
            .map(|p| json!({ "rated_strokes": p.rated_strokes }));
        v.service = Some(ComponentService::MqlPump(self.service.mql_pump.clone()));
        let (en, zh) = match (self.pump, self.pump_strokes) {
            (None, _) => ("no rated stroke count configured", "未配置额定冲程次数"),
            (_, None) => (
                "no good value of mql.pump_strokes",
                "mql.pump_strokes 没有有效数值",
            ),
            // A rated life is one number: no spread is claimed.
            _ => (
                "rated life, not a prediction: P10 = P50 = P90",
                "额定寿命，不是预测：P10 = P50 = P90",
            ),
        };
        (v.note, v.note_zh) = (Some(en.into()), Some(zh.into()));
        v
    }

    fn bearing_view(&self) -> ComponentView {
        let b = &self.bearing;
        let cfg = b.monitor.config;
        let rating = self.ratings.spindle_bearing.as_ref();
        let ids = rating.map(|r| r.ids.clone()).unwrap_or_default();
        let mut v = ComponentView::new("spindle-bearing", "spindle-bearing", &ids);
        let trend = format!(
            "vibration trend (models::bearing::BearingMonitor): mean spindle.vibration_rms per \
             {:.0} min of spindle running; healthy baseline over the first {} running hours, \
             onset at baseline + {} spreads held for {} records, exponential fit to {} x \
             baseline for P50; P10/P90 over fits since onset and over the last {}, {} h, a failure level of {} \
             to {} x baseline (assumed thresholds, see models/README.md)",
            self.record_h * 60.0,
            cfg.baseline_hours,
            cfg.onset_sigmas,
            cfg.onset_persistence,
            cfg.failure_factor,
            cfg.fit_window_hours,
            cfg.band_windows_hours.map(|h| h.to_string()).join(", "),
            cfg.failure_factor_range[0],
            cfg.failure_factor_range[1],
        );
        v.method = match rating {
            Some(r) => format!(
                "ISO 281 basic rating life L10 = (C/P)^{} (models::bearing; no a_ISO life \
                 modification for lubrication or contamination), C = {} kN from \
                 [life.components.spindle-bearing]; bearing load P = {} kN + {} kN per % of \
                 spindle.load (configured); life used by Palmgren-Miner over the spindle's \
                 speed x load spectrum; remaining at the recent duty (last ~{} running hours) \
                 with the Lundberg-Palmgren Weibull dispersion (slope {}). After a degradation \
                 onset the {} gives the remaining life",
                if r.roller { "10/3" } else { "3" },
                r.c_kn,
                r.preload_kn,
                r.load_kn_per_pct,
                RECENT_TAU_H,
                WEIBULL_SLOPE,
                trend
            ),
            None => {
                format!("{trend}; no ISO 281 rating configured ([life.components.spindle-bearing])")
            }
        };
        v.signal = "spindle.vibration_rms".into();
        v.unit = "h".into();
        v.used = Some(b.running_h);
        v.remaining = b.last.and_then(|s| s.rul_hours);
        v.remaining_h_basis = Some("spindle_running_h".into());
        v.service = Some(ComponentService::Spindle(Box::new(
            self.service.spindle.clone(),
        )));
        let iso = rating.map(|r| bearing_life(r, &self.service.spindle));
        if let Some(iso) = &iso {
            v.life_used_fraction = Some(iso.used);
            v.parameters = Some(iso.params.clone());
        }
        let trend_rul = b
            .last
            .filter(|s| s.onset_hours.is_some() && s.source == RulSource::Trend)
            .and_then(|s| s.rul_hours);
        let iso_rul = iso
            .as_ref()
            .and_then(|i| Some(scale(weibull_remaining(i.used), i.l10_h_recent?)));
        (v.remaining_h, v.remaining_method) = match (trend_rul, iso_rul) {
            // After onset the bearing's own vibration says more than its rating.
            (Some(q), _) => (Some(q), Some("vibration_trend".into())),
            (None, Some(q)) => (Some(q), Some("iso281_miner".into())),
            (None, None) => (None, None),
        };
        // Each note in English and Chinese from the same figures.
        let (trend_en, trend_zh) = match &b.last {
            None => (
                format!(
                    "{:.2} spindle running hours so far; first vibration record after {:.0} min \
                     of running",
                    b.running_h,
                    self.record_h * 60.0
                ),
                format!(
                    "主轴已运转 {:.2} 小时；运转 {:.0} 分钟后记录第一条振动数据",
                    b.running_h,
                    self.record_h * 60.0
                ),
            ),
            Some(s) if s.baseline.is_none() => (
                format!(
                    "vibration trend learning the healthy baseline: {:.2} of {} spindle running \
                     hours",
                    s.hours, cfg.baseline_hours
                ),
                format!(
                    "振动趋势正在学习健康基线：主轴运转 {:.2} / {} 小时",
                    s.hours, cfg.baseline_hours
                ),
            ),
            Some(s) if s.onset_hours.is_none() => (
                "no degradation onset in the vibration trend".into(),
                "振动趋势中未出现劣化起点".into(),
            ),
            Some(s) => (
                format!(
                    "degradation onset at {:.1} spindle running hours",
                    s.onset_hours.unwrap_or_default()
                ),
                format!(
                    "劣化起点：主轴运转 {:.1} 小时",
                    s.onset_hours.unwrap_or_default()
                ),
            ),
        };
        let (en, zh) = match (rating, &iso_rul, trend_rul) {
            (None, _, _) => (
                "without an ISO 281 rating there is no remaining life before an onset",
                "未配置 ISO 281 额定参数，劣化起点前没有剩余寿命",
            ),
            (Some(_), None, None) => (
                "ISO 281: no loaded spindle running in the recent duty yet",
                "ISO 281：近期工况中尚无带载的主轴运转",
            ),
            (Some(_), _, None) => ("remaining life from ISO 281", "剩余寿命按 ISO 281 计算"),
            (Some(_), _, Some(_)) => (
                "remaining life from the vibration trend, not ISO 281",
                "剩余寿命按振动趋势计算，而非 ISO 281",
            ),
        };
        v.note = Some(format!("{trend_en}; {en}"));
        v.note_zh = Some(format!("{trend_zh}；{zh}"));
        v
    }

    fn screw_view(
        &self,
        axis: &str,
        rating: Option<&BallScrewSettings>,
        i: usize,
    ) -> ComponentView {
        let ids = rating.map(|r| r.ids.clone()).unwrap_or_default();
        let mut v = ComponentView::new(&format!("ball-screw-{axis}"), "ball-screw", &ids);
        let mut hist = self.service.axes[i].clone();
        hist.with_lead(rating.map(|r| r.lead_mm));
        v.signal = format!("axis.{axis}.position");
        v.unit = "rev".into();
        v.used = hist.revolutions;
        v.remaining_h_basis = Some("powered_h".into());
        let Some(r) = rating else {
            v.method = format!(
                "ISO 3408-5 rating life: not configured ([life.components.ball-screw-{axis}] ca_kn, lead_mm, load_n_per_pct)"
            );
            v.note = Some("no ball screw rating configured: service history only".into());
            v.note_zh = Some("未配置滚珠丝杠额定参数：仅有使用记录".into());
            v.service = Some(ComponentService::BallScrew(Box::new(hist)));
            return v;
        };
        v.method = format!(
            "ISO 3408-5 basic rating life L = (Ca / (fw Fm))^3 x 10^6 rev (models::rated_life::BallScrew), \
             Ca = {} kN, fw = {}, lead {} mm from [life.components.ball-screw-{axis}]; axial load = {} N \
             per % of axis.{axis}.load (configured); revolutions = travel / lead per load bin, life \
             used by Palmgren-Miner; remaining at the recent duty (last ~{} powered hours) assuming \
             the Weibull dispersion of rolling bearings (slope {}, Lundberg-Palmgren; not verified \
             against ISO 3408-5's reliability factors)",
            r.ca_kn, r.fw, r.lead_mm, r.load_n_per_pct, RECENT_TAU_H, WEIBULL_SLOPE
        );
        let screw = BallScrew {
            ca_n: r.ca_kn * 1000.0,
            lead_mm: r.lead_mm,
            fw: r.fw,
        };
        let bins = |recent: bool| -> Vec<(f64, f64)> {
            hist.load_travel(recent)
                .into_iter()
                .map(|(pct, mm)| (r.load_n_per_pct * pct, mm / r.lead_mm))
                .collect()
        };
        let (all, recent) = (bins(false), bins(true));
        let used = screw.damage(&all);
        let fm = mean_axial_load_by_revolutions(&all);
        let fm_recent = mean_axial_load_by_revolutions(&recent);
        let rate = if hist.recent_powered_h > 0.0 {
            screw.damage(&recent) / hist.recent_powered_h
        } else {
            0.0
        };
        let life_h_recent = (rate > 0.0).then(|| 1.0 / rate);
        let rated = (fm > 0.0).then(|| screw.rating_life_rev(fm));
        v.rated = rated;
        v.life_used_fraction = Some(used);
        v.remaining_h = life_h_recent.map(|l| scale(weibull_remaining(used), l));
        v.remaining_method = v.remaining_h.map(|_| "iso3408_5_miner".into());
        v.parameters = Some(json!({
            "ca_kn": r.ca_kn,
            "lead_mm": r.lead_mm,
            "fw": r.fw,
            "load_n_per_pct": r.load_n_per_pct,
            "mean_axial_load_n": fm,
            "rating_life_rev_at_mean_load": rated,
            "recent_mean_axial_load_n": fm_recent,
            "rating_life_h_at_recent_duty": life_h_recent,
            "recent_duty_tau_h": RECENT_TAU_H,
            "weibull_slope": WEIBULL_SLOPE,
        }));
        (v.note, v.note_zh) = match v.remaining_h {
            None => (
                Some(format!(
                    "no loaded travel of axis {axis} in the recent duty yet: no remaining life"
                )),
                Some(format!("近期工况中 {axis} 轴尚无带载行程：没有剩余寿命")),
            ),
            Some(_) => (None, None),
        };
        v.service = Some(ComponentService::BallScrew(Box::new(hist)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn pump_strokes_and_bearing_records_from_frames() {
        let mut c = Components::new(Some(1_000_000.0), 1.0, BearingTrack::default());
        let f = |rot: bool| {
            Frame::from_values(
                0,
                [
                    ("mql.pump_strokes", Value::Number(250_000.0)),
                    ("spindle.rotating", Value::Bool(rot)),
                    ("spindle.vibration_rms", Value::Number(0.8)),
                ],
            )
        };
        for _ in 0..600 {
            c.step(&f(false), 0.1);
        }
        assert_eq!(
            c.bearing.running_h, 0.0,
            "a stopped spindle does not age the bearing"
        );
        for _ in 0..601 {
            c.step(&f(true), 0.1);
        }
        let v = c.view();
        assert_eq!(v[0].life_used_fraction, Some(0.25));
        assert_eq!(v[0].remaining.unwrap().p50, 750_000.0);
        let s = c
            .bearing
            .last
            .expect("one record after a minute of running");
        assert!((s.health - 0.8).abs() < 1e-9);
        assert!(v[1].note.as_deref().unwrap().contains("baseline"));
    }

    fn rated() -> ComponentSettings {
        ComponentSettings {
            remaining_warning_h: Some(1e9),
            remaining_limit_h: Some(1.0),
            spindle_bearing: Some(SpindleBearingSettings {
                c_kn: 40.0,
                roller: false,
                load_kn_per_pct: 0.05,
                preload_kn: 1.0,
                ids: AssetIds {
                    serial_number: Some("SB-1".into()),
                    ..AssetIds::default()
                },
            }),
            ball_screws: [
                Some(BallScrewSettings {
                    ca_kn: 30.0,
                    lead_mm: 10.0,
                    load_n_per_pct: 60.0,
                    fw: 1.2,
                    ids: AssetIds::default(),
                }),
                None,
                None,
            ],
            mql_pump: AssetIds::default(),
        }
    }

    /// An hour of spindle running at 6000 rpm and 20 % load (bearing load 1 + 0.05·20 = 2 kN)
    /// with X moving back and forth at 25 % load (1500 N): life used and remaining follow
    /// ISO 281 / ISO 3408-5 with Palmgren-Miner, computed here by hand.
    #[test]
    fn iso281_and_iso3408_life_from_the_service_history() {
        let mut c = Components::new(None, 10.0, BearingTrack::default())
            .with_ratings(rated(), ServiceHistory::new(0));
        let mut x = 0.0f64;
        let mut dir = 1.0;
        for i in 0..36_000 {
            // 100 mm/s: 10 mm per 0.1 s tick, between 0 and 500 mm.
            x += dir * 10.0;
            if !(0.0..=500.0).contains(&x) {
                dir = -dir;
                x += 2.0 * dir * 10.0;
            }
            let f = Frame::from_values(
                i * 100,
                [
                    ("spindle.speed", Value::Number(6000.0)),
                    ("spindle.load", Value::Number(20.0)),
                    ("axis.x.position", Value::Number(x)),
                    ("axis.x.load", Value::Number(25.0)),
                ],
            );
            c.step_service(&f, 0.1, None);
        }
        let v = c.view();
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "mql-pump",
                "spindle-bearing",
                "ball-screw-x",
                "ball-screw-y",
                "ball-screw-z"
            ]
        );
        let b = &v[1];
        assert!(b.method.contains("ISO 281") && b.method.contains("BearingMonitor"));
        assert_eq!(b.remaining_method.as_deref(), Some("iso281_miner"));
        assert_eq!(b.serial_number.as_deref(), Some("SB-1"));
        // 360 000 revolutions at P = 2 kN; L10 = (40/2)³ = 8000 Mrev.
        let revs = 6000.0 * 60.0;
        let used = revs / 8000e6;
        let got = b.life_used_fraction.unwrap();
        assert!((got - used).abs() / used < 1e-6, "{got} vs {used}");
        // At this duty L10h = 8000e6 / 360 000 per hour = 22 222 h; a nearly new bearing has
        // P10 of its remaining life just under that.
        let l10h = 8000e6 / revs;
        let q = b.remaining_h.unwrap();
        assert!(q.p10 < l10h && q.p10 > 0.99 * l10h, "{q:?} vs {l10h}");
        assert!(q.p10 < q.p50 && q.p50 < q.p90);
        assert!(b.remaining.is_none(), "no vibration trend figure");
        assert!(b.note.as_deref().unwrap().contains("from ISO 281"));

        let s = &v[2];
        assert_eq!(s.remaining_method.as_deref(), Some("iso3408_5_miner"));
        // 100 mm/s for an hour (the first position only starts the count): 359.99 m =
        // 35 999 revolutions at 1500 N; L = (30 000 / (1.2 · 1500))³ · 10⁶ rev.
        let l = (30_000.0f64 / 1800.0).powi(3) * 1e6;
        let (travel, reversals) = match &s.service {
            Some(ComponentService::BallScrew(h)) => (h.travel_mm, h.reversals),
            _ => panic!("no axis history"),
        };
        assert!((travel - 359_990.0).abs() < 1e-6, "{travel}");
        assert_eq!(s.used, Some(35_999.0));
        // A stroke of 500 mm each 5 s: 720 reversals in an hour, less the first half-stroke.
        assert!((715..=721).contains(&reversals), "{reversals}");
        let used = 35_999.0 / l;
        assert!((s.life_used_fraction.unwrap() - used).abs() / used < 1e-6);
        assert!((s.rated.unwrap() - l).abs() / l < 1e-9);
        let q = s.remaining_h.unwrap();
        assert!(q.p10 <= q.p50 && q.p50 <= q.p90, "{q:?}");
        // Y has no rating: a history, no figure.
        assert!(v[3].remaining_h.is_none() && v[3].service.is_some());

        // Remaining P10 below the warning level (1e9 h) and above the limit (1 h): one
        // warning per rated component, no critical.
        let cs = c.conditions();
        let active: Vec<&str> = cs
            .iter()
            .filter(|c| c.active)
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(
            active,
            [
                "component:spindle-bearing:remaining-warning",
                "component:ball-screw-x:remaining-warning"
            ]
        );
    }

    /// After a vibration onset the trend's remaining life replaces the ISO 281 figure.
    #[test]
    fn the_vibration_trend_wins_after_onset() {
        let mut c = Components::new(None, 10.0, BearingTrack::default())
            .with_ratings(rated(), ServiceHistory::new(0));
        for i in 0..600 {
            let f = Frame::from_values(
                i * 100,
                [
                    ("spindle.speed", Value::Number(6000.0)),
                    ("spindle.load", Value::Number(20.0)),
                ],
            );
            c.step_service(&f, 0.1, None);
        }
        assert_eq!(
            c.view()[1].remaining_method.as_deref(),
            Some("iso281_miner")
        );
        // Synthetic degradation as in models::bearing's test: healthy 100 h, then growth.
        let base = 0.06;
        for i in 0..800 {
            let t = i as f64 / 6.0;
            let ripple = if i % 2 == 0 { 1.01 } else { 0.99 };
            let v = base * ripple
                + if t > 100.0 {
                    0.002 * ((t - 100.0) / 8.0).exp()
                } else {
                    0.0
                };
            c.bearing.last = Some(c.bearing.monitor.push(t, v));
            if v - base > 4.0 * base {
                break;
            }
        }
        let b = &c.view()[1];
        assert_eq!(b.remaining_method.as_deref(), Some("vibration_trend"));
        assert_eq!(b.remaining_h, b.remaining);
        assert!(b.note.as_deref().unwrap().contains("onset"));
        assert!(b.method.contains("3 to 7 x baseline"), "{}", b.method);

        // The state is stored as JSON: a trend with no upper bound (P90 infinite) must
        // load again rather than be dropped with the bearing's whole history.
        let mut track = c.bearing.clone();
        let mut last = track.last.unwrap();
        last.rul_hours.as_mut().unwrap().p90 = f64::INFINITY;
        track.last = Some(last);
        let back: BearingTrack =
            serde_json::from_str(&serde_json::to_string(&track).unwrap()).unwrap();
        assert_eq!(back.last, track.last);
        assert_eq!(back.monitor, track.monitor);
    }
}
