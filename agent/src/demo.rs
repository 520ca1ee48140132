//! `agent demo`: the built-in simulator and the agent in one process.
use std::path::PathBuf;

pub struct DemoOptions {
    pub listen: String,
    pub scenario: Option<PathBuf>,
    pub time_scale: Option<f64>,
    pub store: PathBuf,
}

pub async fn run(_o: DemoOptions) -> anyhow::Result<()> {
    anyhow::bail!("pending simulator API")
}
