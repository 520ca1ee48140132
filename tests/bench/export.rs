//! Export benchmark: a store of one million signal rows (the agent's schema, see
//! `export_store.rs`), exported to Parquet and to CSV by the real `agent export` as a child
//! process (this binary re-run with `--as-agent`), and the figures that matter on a Pi: rows
//! per second and the child's peak resident memory (`ru_maxrss` from `wait4`).
//!
//! `--measure ARGS...` runs the agent with ARGS as a child and prints its peak RSS (KiB) and
//! wall seconds; the export test uses it too. It exists because a child's `ru_maxrss` starts
//! from the high-water mark of the process it was spawned from (exec folds the old address
//! space's mark in): measured from a large parent (a test process holding a million rows it
//! read back, say) the figure would be the parent's. Spawned from this small, fresh process,
//! it is the export's own.

#[path = "../export_store.rs"]
mod export_store;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Export benchmark of the agent")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Runs per format; the best rate and the highest peak are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    as_agent: Option<Vec<String>>,
    /// Run the agent with these arguments and print `<peak RSS KiB> <seconds>`.
    #[arg(long, num_args = 1.., allow_hyphen_values = true)]
    measure: Option<Vec<String>>,
}

/// Runs `agent <args>` (this binary as the agent) as a child; its peak RSS in KiB and seconds.
// The child is reaped by `wait4` (which also gives its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure(args: &[String]) -> (i64, f64) {
    let t = Instant::now();
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("--as-agent")
        .arg("agent")
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting the agent");
    let mut status = 0;
    // SAFETY: wait4 on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "agent {args:?} failed"
    );
    (usage.ru_maxrss, t.elapsed().as_secs_f64())
}

/// Wall seconds and peak RSS (MiB) of one `agent export`, measured by a `--measure` child.
fn run(config: &Path, format: &str, out: &Path) -> (f64, f64) {
    let o = Command::new(std::env::current_exe().unwrap())
        .args(["--measure", "export", "--config", config.to_str().unwrap()])
        .args([
            "--what",
            "signals",
            "--format",
            format,
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("starting the measurement");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    let (kib, secs) = (f.next().unwrap(), f.next().unwrap());
    (secs, kib / 1024.0)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(a) = args.as_agent {
        return agent::cli::main_with(a);
    }
    if let Some(a) = args.measure {
        let (kib, secs) = measure(&a);
        println!("{kib} {secs}");
        return std::process::ExitCode::SUCCESS;
    }
    let dir = e2e::temp_dir("export-bench");
    let t = Instant::now();
    let config = export_store::build(&dir, args.rows);
    let db_mib = std::fs::metadata(dir.join("agent.db")).unwrap().len() as f64 / 1048576.0;
    println!(
        "store: {} rows, {db_mib:.1} MiB, built in {:.1} s",
        args.rows,
        t.elapsed().as_secs_f64()
    );
    println!("format   rows/s (best)   seconds   peak RSS MiB (max)   file MiB");
    for format in ["parquet", "csv"] {
        let out = dir.join(format!("signals.{format}"));
        let (mut best, mut peak) = (f64::INFINITY, 0.0f64);
        for _ in 0..args.runs.max(1) {
            let (s, mib) = run(&config, format, &out);
            best = best.min(s);
            peak = peak.max(mib);
        }
        let size = std::fs::metadata(&out).unwrap().len() as f64 / 1048576.0;
        println!(
            "{format:<8} {:>14.0} {best:>9.2} {peak:>20.1} {size:>10.1}",
            args.rows as f64 / best
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::process::ExitCode::SUCCESS
}
