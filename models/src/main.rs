//! `models`: evaluate, train and inspect the remaining-life models from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use models::data::{self, csv::CsvSpec, WearDataset};
use models::evaluate;
use models::model_file::WearModelFile;
use models::wear::{Learner, TrainConfig, WearModel};

#[derive(Parser)]
#[command(
    name = "models",
    version,
    about = "Tool-wear and component remaining-life models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Leave-one-group-out evaluation: RMSE, MAE, 80 % interval coverage, PHM08 score.
    Evaluate {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        model: ModelOpts,
        /// Print a machine-readable JSON summary instead of the table.
        #[arg(long)]
        json: bool,
        /// Folds fitted at once (default: one per available core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Skip the reference models (time only, plain linear) scored beside the model.
        #[arg(long)]
        no_baselines: bool,
        /// Also score the band recalibrated per tool as its measured wear arrives, using every
        /// N-th measurement of the held-out tool (1: each; 0: not).
        #[arg(long, default_value_t = 1)]
        online_every: usize,
    },
    /// Fit on all groups and write a model file the agent loads.
    Train {
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        model: ModelOpts,
        /// Output file (default: models/trained/<dataset>.json in this crate).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Skip the leave-one-group-out scores stored in the file's metadata.
        #[arg(long)]
        no_scores: bool,
    },
    /// Print a model file's training metadata and scores.
    Inspect {
        /// Model file written by `models train`.
        file: PathBuf,
    },
}

#[derive(Args)]
struct Source {
    /// Named data set: phm2010, nasa-milling or ims-bearing.
    #[arg(conflicts_with = "csv", required_unless_present = "csv")]
    dataset: Option<String>,
    /// Directory of the shared data sets (default: $GREEN_DATASETS, else
    /// ../shared/datasets beside the workspace).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Any CSV with one row per cut instead of a named data set.
    #[arg(long, requires_all = ["group", "order", "target", "limit"])]
    csv: Option<PathBuf>,
    /// Column naming the tool / case (one group per tool).
    #[arg(long)]
    group: Option<String>,
    /// Column of usage (cut number, cumulative minutes) that orders the cuts of a tool.
    #[arg(long)]
    order: Option<String>,
    /// Column of measured wear (empty cells: not measured, kept in the sequence).
    #[arg(long)]
    target: Option<String>,
    /// Feature columns, comma-separated (default: every other numeric column).
    #[arg(long, value_delimiter = ',')]
    features: Option<Vec<String>>,
    /// Optional tool / material class column (the physics prior is fitted per class).
    #[arg(long)]
    class: Option<String>,
    /// Wear limit for remaining life, in the target's unit (named data sets have a
    /// default: 150 µm for phm2010, ISO 3685's 0.3 mm for nasa-milling).
    #[arg(long)]
    limit: Option<f64>,
}

#[derive(Args)]
struct ModelOpts {
    /// Estimator of the learned part.
    #[arg(long, value_enum, default_value = "elastic-net")]
    learner: Learner,
    /// Cuts whose median is each tool's signal baseline.
    #[arg(long, default_value_t = 30)]
    baseline_cuts: usize,
    /// Length of the causal running median over signals.
    #[arg(long, default_value_t = 5)]
    smoothing_cuts: usize,
    /// Keep at most this many engineered columns (largest correlation with wear on the
    /// training tools) before the elastic net; 0 keeps all.
    #[arg(long, default_value_t = models::wear::combined::DEFAULT_SCREEN)]
    screen: usize,
    /// Wear intervals from residuals scaled by the wear level they were made at
    /// (normalised CV+ scores): narrower on fresh tools, wider on worn ones.
    #[arg(long)]
    scaled_intervals: bool,
}

impl ModelOpts {
    fn config(&self) -> TrainConfig {
        let mut c = TrainConfig {
            learner: self.learner,
            ..TrainConfig::default()
        };
        c.features.baseline_cuts = self.baseline_cuts;
        c.features.smoothing_cuts = self.smoothing_cuts;
        c.screen = self.screen;
        c.scaled_intervals = self.scaled_intervals;
        c
    }
}

enum Loaded {
    Wear(WearDataset),
    Bearing(data::ims::BearingRun),
}

fn load(source: &Source) -> Result<Loaded> {
    if let Some(path) = &source.csv {
        let spec = CsvSpec {
            group: source
                .group
                .clone()
                .context("--group is required with --csv")?,
            order: source
                .order
                .clone()
                .context("--order is required with --csv")?,
            target: source
                .target
                .clone()
                .context("--target is required with --csv")?,
            features: source.features.clone(),
            class: source.class.clone(),
            limit: source.limit.context("--limit is required with --csv")?,
        };
        return Ok(Loaded::Wear(data::csv::load(path, &spec)?));
    }
    let name = source.dataset.as_deref().unwrap_or_default();
    let dir = data::datasets_dir(source.data_dir.as_deref());
    let missing = |folder: &str| -> Result<()> {
        let p = dir.join(folder);
        if !p.is_dir() {
            bail!(
                "data set `{name}` not found at {} (set --data-dir or {})",
                p.display(),
                data::DATASETS_ENV
            );
        }
        Ok(())
    };
    Ok(match name {
        "phm2010" => {
            missing(data::phm2010::FOLDER)?;
            Loaded::Wear(data::phm2010::load(&dir, source.limit)?)
        }
        "nasa-milling" | "nasa" => {
            missing(data::nasa::FOLDER)?;
            Loaded::Wear(data::nasa::load(&dir, source.limit)?)
        }
        "ims-bearing" | "ims" => {
            missing(data::ims::FOLDER)?;
            Loaded::Bearing(data::ims::load(&dir, "Bearing 1")?)
        }
        other => {
            bail!("unknown data set `{other}`: use phm2010, nasa-milling, ims-bearing or --csv")
        }
    })
}

/// Leave-one-group-out with a progress bar on standard error (hidden when standard error
/// is not a terminal, so logs and `--json` output stay clean).
fn evaluate_with_progress(
    data: &WearDataset,
    cfg: &TrainConfig,
    opts: evaluate::EvaluateOptions,
) -> Result<evaluate::EvaluationReport> {
    let folds = data
        .sequences
        .iter()
        .filter(|s| s.target.iter().any(Option::is_some))
        .count();
    let bar = indicatif::ProgressBar::new(folds as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} folds, ETA {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    // Show the bar from the start: the first fold can take a while on a large table.
    bar.tick();
    let report = evaluate::leave_one_group_out_with(data, cfg, opts, &|f| {
        bar.set_message(format!("(`{}` RMSE {:.4})", f.group, f.vb.rmse));
        bar.inc(1);
    });
    bar.finish_and_clear();
    Ok(report?)
}

fn default_model_path(dataset: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("trained")
        .join(format!("{dataset}.json"))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Evaluate {
            source,
            model,
            json,
            threads,
            no_baselines,
            online_every,
        } => match load(&source)? {
            Loaded::Wear(data) => {
                let opts = evaluate::EvaluateOptions {
                    threads,
                    baselines: !no_baselines,
                    online_every,
                };
                let report = evaluate_with_progress(&data, &model.config(), opts)?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{}", evaluate::render(&report));
                }
            }
            Loaded::Bearing(run) => {
                let report = evaluate::bearing_run(&run, Default::default(), None);
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{}", evaluate::render_bearing(&report));
                }
            }
        },
        Command::Train {
            source,
            model,
            out,
            no_scores,
        } => {
            let Loaded::Wear(data) = load(&source)? else {
                bail!("ims-bearing has no trained model: the bearing monitor fits the vibration trend online (see `models evaluate ims-bearing`)");
            };
            let cfg = model.config();
            let start = Instant::now();
            let fitted = WearModel::fit(&data, &cfg)?;
            let fit_seconds = start.elapsed().as_secs_f64();
            let scores = if no_scores {
                None
            } else {
                Some(evaluate_with_progress(
                    &data,
                    &cfg,
                    evaluate::EvaluateOptions::default(),
                )?)
            };
            let file = WearModelFile::new(fitted, &data, cfg, fit_seconds, scores);
            let path = out.unwrap_or_else(|| default_model_path(&data.name));
            file.save(&path)?;
            println!(
                "wrote {} ({} groups, {} labelled rows, {} inputs, fitted in {:.2} s)",
                path.display(),
                file.training.groups.len(),
                file.training.labelled_rows,
                file.training.features.len(),
                fit_seconds
            );
            if let Some(s) = &file.scores {
                print!("{}", evaluate::render(s));
            }
        }
        Command::Inspect { file } => {
            let f = WearModelFile::load(&file)?;
            println!(
                "{}: format {} v{}, crate {}, data set {} ({} groups, {} labelled rows), target {} [{}], usage {} [{}], limit {}",
                file.display(),
                f.format,
                f.format_version,
                f.crate_version,
                f.training.dataset,
                f.training.groups.len(),
                f.training.labelled_rows,
                f.training.target,
                f.training.target_unit,
                f.training.usage,
                f.training.usage_unit,
                f.training.limit
            );
            println!("inputs: {}", f.training.features.join(", "));
            if let Some(s) = &f.scores {
                print!("{}", evaluate::render(s));
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
