//! Process monitoring: the envelope learned for one operation of a program (the spindle load, or
//! the power where no load is mapped, over the path position within the operation), and what a
//! detector found against it; and an envelope still being learned, so that a restart goes on
//! from the cycles already seen. Made by `evaluators::monitor`, kept by the store
//! (`monitor_envelope`, `monitor_finding`, `monitor_learning`).

use serde::{Deserialize, Serialize};

/// Which operation an envelope is for: the program and the operation's name (from
/// `channel.operation`; where none is mapped, `tool <tool.id>`, so a new tool starts afresh).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OperationKey {
    pub program: String,
    pub operation: String,
}

impl std::fmt::Display for OperationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.program, self.operation)
    }
}

/// One bin of an envelope: a stretch of the operation's path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Mean of the learned cycles' means over the bin.
    pub mean: f64,
    /// Lowest and highest single value the learned cycles showed over the bin.
    pub min: f64,
    pub max: f64,
    /// Spread of the cycles' means over the bin (part-to-part scatter), 1 σ.
    pub scatter: f64,
    /// Mean path feed rate over the bin (mm/min): the load is scaled with the feed now.
    pub feed_mm_min: f64,
}

/// What one operation looked like over its first good cycles on one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub key: OperationKey,
    /// The tool it was learned on.
    pub tool_id: Option<String>,
    /// `spindle.load` (%) or `spindle.power` (kW).
    pub signal: String,
    /// Cycles it was learned from.
    pub cycles: u32,
    /// Mean path length of the operation at a cutting feed (mm): position 0..1 is along it.
    pub path_mm: f64,
    /// Mean of the signal over the whole cut, feed-normalised: the wear-drift baseline.
    pub mean: f64,
    pub bins: Vec<Bin>,
    pub learned_ms: i64,
}

/// One bin of one cycle being learned from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CycleBin {
    /// Mean, lowest and highest value of the cycle's samples in the bin.
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Mean path feed rate over the bin, mm/min.
    pub feed_mm_min: f64,
}

/// One good cycle as an envelope is learned from it: its path and its bins (`None` where no
/// sample fell). Binned at once, so a cycle of an hour keeps a few kB however fast it is polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedCycle {
    /// Path travelled at a cutting feed, mm.
    pub path_mm: f64,
    pub bins: Vec<Option<CycleBin>>,
}

/// The cycles of one tool an operation's next envelope is being learned from (fewer than
/// `[monitor] learn_cycles` so far). Stored after each, so a restart goes on from them; none
/// (`cycles` empty) when there is nothing being learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learning {
    pub key: OperationKey,
    pub tool_id: Option<String>,
    pub signal: String,
    pub cycles: Vec<LearnedCycle>,
    pub updated_ms: i64,
}

/// The detector kinds (one name from the configuration section to the store and the alarm key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    Breakage,
    MissingTool,
    Overload,
    WearDrift,
}

impl FindingKind {
    pub const ALL: [FindingKind; 4] = [
        FindingKind::Breakage,
        FindingKind::MissingTool,
        FindingKind::Overload,
        FindingKind::WearDrift,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Breakage => "breakage",
            FindingKind::MissingTool => "missing_tool",
            FindingKind::Overload => "overload",
            FindingKind::WearDrift => "wear_drift",
        }
    }

    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A detector's finding, with its evidence; recorded on the operation it was found in (by the
/// operation's key and start).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub ts_ms: i64,
    pub key: OperationKey,
    pub tool_id: Option<String>,
    /// When the operation (the monitor's run of it) started.
    pub operation_start_ms: i64,
    pub kind: FindingKind,
    /// Seconds of cutting feed into the operation, and the path position (0..1).
    pub time_into_s: f64,
    pub position: f64,
    pub signal: String,
    /// What was measured and what the envelope expected there (scaled with the feed now), with
    /// its band; for wear drift, the operation's feed-normalised mean and the learned mean.
    pub measured: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub message: String,
    /// The message in Simplified Chinese; `None` for a finding stored before the store kept it.
    pub message_zh: Option<String>,
}
