//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

use models::data::{Sequence, WearDataset};

/// The shared data sets, or None (with the reason printed) when they are absent.
pub fn datasets(folder: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os(models::data::DATASETS_ENV) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets"),
    };
    if dir.join(folder).is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: {} not found (set {} to the shared data sets)",
            dir.join(folder).display(),
            models::data::DATASETS_ENV
        );
        None
    }
}

/// Small synthetic wear data: `tools` tools whose wear follows a power law in usage
/// with a tool-specific rate, and a force signal that grows with wear.
pub fn synthetic(tools: usize, cuts: usize) -> WearDataset {
    let sequences = (0..tools)
        .map(|k| {
            let rate = 1.0 + 0.15 * k as f64;
            let gain = 1.0 + 0.3 * k as f64; // sensor gain differs per tool
            let usage: Vec<f64> = (1..=cuts).map(|u| u as f64).collect();
            let wear: Vec<f64> = usage
                .iter()
                .map(|u| 20.0 + 8.0 * rate * u.powf(0.7))
                .collect();
            let features = usage
                .iter()
                .zip(&wear)
                .enumerate()
                .map(|(i, (_, w))| {
                    let wiggle = if i % 2 == 0 { 1.01 } else { 0.99 };
                    vec![0.1, gain * (1.0 + w / 100.0) * wiggle]
                })
                .collect();
            Sequence {
                group: format!("t{k}"),
                class: "all".into(),
                usage,
                features,
                target: wear
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (i % 7 != 3).then_some(*w))
                    .collect(),
            }
        })
        .collect();
    WearDataset {
        name: "synthetic".into(),
        sources: vec![],
        usage_name: "cut".into(),
        usage_unit: "cuts".into(),
        target_name: "VB".into(),
        target_unit: "µm".into(),
        feature_names: vec!["feed".into(), "force".into()],
        limit: 150.0,
        sequences,
        cleaning: Default::default(),
    }
}
