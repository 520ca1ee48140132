//! Random inputs through the agent's fuzz targets (`agent::fuzz_targets`, the same functions
//! the cargo-fuzz targets in `fuzz/` call), on the stable toolchain: random bytes, no coverage
//! feedback. Every panic is caught, counted, and its input saved (`--out`, default a
//! temporary directory) to be replayed with `--replay FILE --target NAME`.
//!
//! `cargo run --release -p e2e --bin fuzz-bench -- [--inputs 1000000] [--target NAME]
//! [--seed 1] [--out DIR]`
//!
//! Prints per target: inputs, inputs per second, crashes (distinct panic messages).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use agent::fuzz_targets as ft;
use anyhow::{bail, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    /// Inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    inputs: u64,
    /// Only this target: decode, plan, config, opcua-value, outbox.
    #[arg(long)]
    target: Option<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where crashing inputs are saved.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Runs one saved input (with --target) and lets its panic through.
    #[arg(long)]
    replay: Option<PathBuf>,
}

const TARGETS: [&str; 5] = ["decode", "plan", "config", "opcua-value", "outbox"];

/// The longest input per target (longer ones only take longer).
fn max_len(target: &str) -> usize {
    match target {
        "decode" => 18,
        "plan" => 200,
        "config" => 120,
        "opcua-value" => 64,
        _ => 160,
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let example = ft::example_config();
    let scratch = {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("fuzz-bench-outbox-{}", std::process::id()))
    };
    let run = |target: &str, data: &[u8]| match target {
        "decode" => ft::decode_bytes(data),
        "plan" => ft::plan_bytes(data),
        "config" => ft::config_bytes(&example, data),
        "opcua-value" => ft::variant_bytes(data),
        "outbox" => ft::outbox_bytes(&scratch, data),
        other => panic!("no target {other}"),
    };
    if let Some(file) = &args.replay {
        let Some(target) = &args.target else {
            bail!("--replay needs --target");
        };
        run(target, &std::fs::read(file)?);
        println!("{}: no panic", file.display());
        return Ok(());
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| e2e::temp_dir("fuzz-bench"));
    std::fs::create_dir_all(&out)?;
    // Panics are expected (that is what is counted): keep their messages, not their noise.
    let last_panic: Arc<Mutex<String>> = Arc::default();
    let lp = last_panic.clone();
    std::panic::set_hook(Box::new(move |info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        *lp.lock().unwrap() = format!("{at}: {msg}");
    }));
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut failed = false;
    for target in TARGETS
        .iter()
        .filter(|t| args.target.as_deref().is_none_or(|w| w == **t))
    {
        let mut crashes: BTreeMap<String, (u64, PathBuf)> = BTreeMap::new();
        let t0 = Instant::now();
        let mut data = Vec::with_capacity(max_len(target));
        for i in 0..args.inputs {
            data.clear();
            // Short inputs often (they reach the edge cases), long ones sometimes.
            let len = if rng.random_bool(0.5) {
                rng.random_range(0..=8)
            } else {
                rng.random_range(0..=max_len(target))
            };
            data.extend((0..len).map(|_| rng.random::<u8>()));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(target, &data)));
            if r.is_err() {
                let msg = last_panic.lock().unwrap().clone();
                let e = crashes.entry(msg).or_insert_with(|| {
                    let file = out.join(format!("{target}-{i}.bin"));
                    let _ = std::fs::write(&file, &data);
                    (0, file)
                });
                e.0 += 1;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{target:12} {} inputs in {secs:.1} s: {:.0} inputs/s, {} crashing inputs, {} distinct",
            args.inputs,
            args.inputs as f64 / secs,
            crashes.values().map(|c| c.0).sum::<u64>(),
            crashes.len()
        );
        for (msg, (n, file)) in &crashes {
            failed = true;
            println!("    {n} × {msg}\n      first input: {}", file.display());
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if failed {
        bail!("crashes found");
    }
    Ok(())
}
