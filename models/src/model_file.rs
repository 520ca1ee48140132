//! Model files: a fitted wear model with its training metadata, as JSON.
//!
//! The file carries a format name and a format version. A file of another version is
//! refused with an error that names both versions, rather than being half-read.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::data::WearDataset;
use crate::evaluate::EvaluationReport;
use crate::wear::{TrainConfig, WearModel};

/// Format name written into every file.
pub const FORMAT: &str = "green-machining/wear-model";
/// Bump when the layout of [`WearModel`] changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: {source}", path = .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid model file: {source}", path = .path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: not a wear model file (format `{found}`, expected `{FORMAT}`)", path = .path.display())]
    WrongFormat { path: PathBuf, found: String },
    #[error("{path}: model file format version {found}, this build reads version {expected}; retrain with `models train`", path = .path.display())]
    Version {
        path: PathBuf,
        found: u64,
        expected: u32,
    },
}

/// Where the model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub dataset: String,
    pub sources: Vec<String>,
    pub groups: Vec<String>,
    pub labelled_rows: usize,
    /// Input columns a cut record must carry.
    pub features: Vec<String>,
    pub target: String,
    pub target_unit: String,
    pub usage: String,
    pub usage_unit: String,
    pub limit: f64,
    pub config: TrainConfig,
    pub fit_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WearModelFile {
    pub format: String,
    pub format_version: u32,
    /// Version of the `models` crate that wrote the file.
    pub crate_version: String,
    pub created_unix_s: u64,
    pub training: TrainingInfo,
    /// Leave-one-group-out scores on the training data, if computed.
    pub scores: Option<EvaluationReport>,
    pub model: WearModel,
}

impl WearModelFile {
    pub fn new(
        model: WearModel,
        data: &WearDataset,
        config: TrainConfig,
        fit_seconds: f64,
        scores: Option<EvaluationReport>,
    ) -> Self {
        WearModelFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            created_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            training: TrainingInfo {
                dataset: data.name.clone(),
                sources: data
                    .sources
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                groups: data.groups(),
                labelled_rows: data.labelled_rows(),
                features: model.feature_names(),
                target: data.target_name.clone(),
                target_unit: data.target_unit.clone(),
                usage: data.usage_name.clone(),
                usage_unit: data.usage_unit.clone(),
                limit: data.limit,
                config,
                fit_seconds,
            },
            scores,
            model,
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        let io = |source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|source| ModelFileError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::write(path, text).map_err(io)
    }

    pub fn load(path: &Path) -> Result<WearModelFile, ModelFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// A model file's text (read from disk, or built into a program); `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<WearModelFile, ModelFileError> {
        let json = |source| ModelFileError::Json {
            path: path.to_path_buf(),
            source,
        };
        // Check the header before the body so an old or foreign file gets a clear error.
        let value: serde_json::Value = serde_json::from_str(text).map_err(json)?;
        let format = value.get("format").and_then(|v| v.as_str()).unwrap_or("");
        if format != FORMAT {
            return Err(ModelFileError::WrongFormat {
                path: path.to_path_buf(),
                found: format.to_string(),
            });
        }
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version != u64::from(FORMAT_VERSION) {
            return Err(ModelFileError::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(json)
    }
}

/// Load only the model (what the agent needs).
pub fn load_wear_model(path: &Path) -> Result<WearModel, ModelFileError> {
    WearModelFile::load(path).map(|f| f.model)
}
