//! Tools: usage counted while they cut, predicted wear and remaining life, and the tool
//! changes the shop floor reports (the labels life models learn from).

use models::Quantiles;
use serde::{Deserialize, Serialize};

/// Usage of one tool since it was last changed, counted only while it cuts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counters {
    pub cutting_min: f64,
    /// Finished operations.
    pub cuts: u64,
    /// Parts it cut in (a part counts for every tool that cut during it).
    pub parts: u64,
    /// ∫ feed rate dt while cutting.
    pub distance_mm: f64,
    /// When counting started for this tool (first cut, or its last change).
    pub since_ms: i64,
    pub last_cut_ms: Option<i64>,
}

/// Predicted wear and remaining life after a cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prediction {
    pub at_ms: i64,
    pub after_cut: u64,
    pub cutting_min: f64,
    /// Flank wear in `vb_unit`, where a wear model predicts it.
    pub vb: Option<Quantiles>,
    pub vb_unit: String,
    /// The wear limit remaining life runs to (a wear model's); `None` where the remaining life
    /// comes from this machine's tool lifetimes, whose end is the shop's own "worn out".
    pub limit: Option<f64>,
    /// Remaining minutes of cutting until `limit`.
    pub remaining_min: Quantiles,
    /// The same in cuts, at this tool's mean minutes per cut so far.
    pub remaining_cuts: Quantiles,
    /// Tool class: `tool.class` from the tool table, else the tool's specification, each with
    /// the workpiece material (tools of one class wear out alike): the group its lives are
    /// counted in, the same whatever the figure comes from (the wear model's own material
    /// class is in `method`).
    pub class: String,
    /// The wear model's file, or `store` where the remaining life comes from the tool
    /// lifetimes in this agent's store.
    pub model_file: String,
    pub method: String,
    /// How much of the remaining life comes from the shipped prior and how much from this
    /// machine's recorded tool lives. Predictions stored before it existed read as `None`.
    #[serde(default)]
    pub sources: Option<Sources>,
}

/// Where a remaining-life figure comes from: the shipped wear model (the prior), this
/// machine's recorded tool lives of the class, or both (`models::adapt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sources {
    /// Share of the figure that is the prior's (1 with no lives of the class recorded).
    pub prior_share: f64,
    /// Share from this machine's lives: n/(n + prior_weight_lives), n the lives' worth (a
    /// worn-out life counts one, a censored one the part of a life it tells).
    pub machine_share: f64,
    /// Weight of the prior, in tool lives (`None`: no prior, the lives alone).
    pub prior_weight_lives: Option<f64>,
    /// Recorded tool lives of the class behind the figure: all, worn out, censored
    /// (preventive changes and breakages).
    pub lives: usize,
    pub lives_worn_out: usize,
    pub lives_censored: usize,
    /// How much longer this machine's tools of the class last than the prior says
    /// (P10/P50/P90 of the factor; 1 = the prior is right). `None` without a prior.
    pub life_factor: Option<Quantiles>,
    /// The prior's median life of a new tool at this tool's cutting conditions (minutes).
    pub prior_life_min: Option<f64>,
    /// The prior's own remaining-life figure at this cut, before adaptation (minutes).
    pub prior_remaining_min: Option<Quantiles>,
    /// Flank wear measurements of this very tool behind the figure (`POST
    /// /api/tools/{id}/wear`): its remaining life read from its last measured wear (the share
    /// of life measured wear curves had used at that wear: this machine's own, counted in
    /// `lives`, once it has three; else the wear model's training curves, and then only while
    /// the class has no worn-out life on this machine). 0 where the figure comes from
    /// elsewhere.
    #[serde(default)]
    pub tool_measurements: usize,
}

impl Prediction {
    /// Whether the remaining life comes from this machine's own tool lifetimes.
    pub fn from_own_lifetimes(&self) -> bool {
        self.model_file == "store"
    }
}

/// Why a tool was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// The tool reached its end of life by wear: an observed life end.
    WornOut,
    /// It broke: the end of the tool, but not by wear (for the wear-out life, censored).
    Broken,
    /// Changed before the end of its life: the end was not observed (censored).
    Preventive,
}

impl ChangeReason {
    pub const ALL: [ChangeReason; 3] = [
        ChangeReason::WornOut,
        ChangeReason::Broken,
        ChangeReason::Preventive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::WornOut => "worn_out",
            ChangeReason::Broken => "broken",
            ChangeReason::Preventive => "preventive",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeReason> {
        ChangeReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the change ends a wear-out life (the others leave it censored).
    pub fn ends_wear_life(self) -> bool {
        self == ChangeReason::WornOut
    }
}

/// A tool change reported from the shop floor: a label for the life models.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ToolChange {
    pub id: i64,
    pub tool_id: String,
    pub ts_ms: i64,
    pub reason: ChangeReason,
    /// Preventive changes do not observe the end of life (a censored lifetime).
    pub censored: bool,
    pub measured_vb_mm: Option<f64>,
    pub by: String,
    /// Usage at the change.
    pub counters: Counters,
    /// The last prediction before the change.
    pub prediction: Option<Prediction>,
}

/// A flank wear measured during a tool's life (the tool stays in): the tool's own evidence,
/// which brings its predicted wear to the measurement and recalibrates its band
/// (`models::WearModel::observe_wear`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WearMeasurement {
    pub id: i64,
    pub tool_id: String,
    pub ts_ms: i64,
    pub measured_vb_mm: f64,
    pub by: String,
    /// Usage when it was measured.
    pub counters: Counters,
    /// What the wear model made of it; `None` where no wear model predicts for the tool.
    pub check: Option<WearCheck>,
}

/// A measured wear against the tool's predicted wear at its last cut (in the model's
/// `vb_unit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WearCheck {
    pub vb_unit: String,
    pub measured: f64,
    /// The tool's 80 % band at its last cut, as its measurements before this one had
    /// recalibrated it.
    pub band: Quantiles,
    /// Whether the measurement fell inside that band.
    pub inside: bool,
    /// The predicted wear (P50) before and after the measurement was taken in.
    pub predicted_before: f64,
    pub predicted_after: f64,
    /// How many times the model's wear this tool's measured wear is, from now on.
    pub wear_scale: f64,
    /// Measurements of this tool since its last change, this one included.
    pub measurements: usize,
}
