//! Remaining-life models for cutting tools and machine components.
//!
//! - Tool wear ([`wear`]): flank wear VB per cut from usage and signal features, as a
//!   physics prior (extended Taylor law, [`wear::taylor`]) blended with a learned linear
//!   model ([`wear::learned`]), passed through a monotone state filter
//!   ([`wear::monotone`]), with conformal (CV+ over tools) intervals ([`conformal`]) and remaining
//!   useful life to a wear limit ([`rul`]).
//! - Component life: spindle bearings ([`bearing`]: ISO 281 prior and vibration trend),
//!   ball screws and the MQL pump ([`rated_life`]).
//! - Tool life from a machine's own tool changes ([`lifetime`]): Weibull per tool class with
//!   censored (preventive) changes, remaining life conditional on the life survived.
//! - Adaptation to one machine ([`adapt`]): the shipped prediction as a prior, its life factor
//!   updated by the machine's recorded tool lives (worn out, or censored), with an honest band.
//! - Per-tool recalibration of the wear band as the tool's measured wear arrives
//!   ([`recalibrate`]).
//! - Data sets ([`data`]), leave-one-group-out evaluation ([`evaluate`]), model files
//!   ([`model_file`]).
//!
//! The agent's entry points: [`model_file::load_wear_model`], [`WearModel::new_tool`],
//! [`WearModel::predict_cut`] with a [`CutRecord`] per cut.

pub mod adapt;
pub mod baseline;
pub mod bearing;
pub mod conformal;
pub mod data;
pub mod evaluate;
pub mod features;
pub mod lifetime;
pub mod metrics;
pub mod model_file;
pub mod rated_life;
pub mod recalibrate;
pub mod rul;
pub mod wear;
pub mod wear_curves;

pub use features::CutRecord;
pub use rul::Quantiles;
pub use wear::{ToolState, TrainConfig, WearModel, WearPrediction};
