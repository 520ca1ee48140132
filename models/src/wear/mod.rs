//! Flank-wear models: physics prior, learned model, their combination, monotone filter.

pub mod combined;
#[cfg(feature = "train")]
pub mod enet;
pub mod learned;
pub mod monotone;
pub mod taylor;

pub use combined::{
    FitError, PredictError, ToolState, TrainConfig, WearModel, WearObservation, WearPrediction,
};
pub use learned::Learner;
