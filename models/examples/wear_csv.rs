//! Writes the synthetic wear table of `models::data::synthetic` to a file (never commit
//! it; write it to a scratch directory):
//!
//! ```sh
//! cargo run --release -p models --example wear_csv -- --out /tmp/wear.csv
//! cargo run --release -p models -- evaluate --csv /tmp/wear.csv \
//!     --group tool --order minutes --target VB --class material --limit 0.3
//! ```
//!
//! Options: `--rows N` (2000), `--groups N` (13), `--columns N` (150 input columns besides
//! tool, material, minutes, VB), `--empty SHARE` (0.02 of the signal cells left empty),
//! `--clean` (no empty feature cells, no constant column, no mostly-empty column),
//! `--seed N` (1).

use std::path::PathBuf;

use models::data::synthetic::SyntheticTable;

fn main() {
    let mut t = SyntheticTable::default();
    let mut out = PathBuf::from("wear.csv");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--clean" {
            t.clean = true;
            i += 1;
            continue;
        }
        let value = args
            .get(i + 1)
            .unwrap_or_else(|| panic!("{} needs a value", args[i]));
        match args[i].as_str() {
            "--out" => out = PathBuf::from(value),
            "--rows" => t.rows = value.parse().expect("--rows N"),
            "--groups" => t.groups = value.parse().expect("--groups N"),
            "--columns" => t.columns = value.parse().expect("--columns N"),
            "--empty" => t.empty = value.parse().expect("--empty SHARE"),
            "--seed" => t.seed = value.parse().expect("--seed N"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    std::fs::write(&out, t.csv()).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("wrote {} ({t:?})", out.display());
}
