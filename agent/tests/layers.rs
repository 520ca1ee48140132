//! The agent's layers, checked: every `crate::…` path in `agent/src` must point down the table
//! in ARCHITECTURE.md ("Who may import whom"), or sideways along an arrow the table lists, and
//! SQL stays in `store/`. The table is read from ARCHITECTURE.md itself, so the map and the
//! code cannot drift apart: change one and this test says what the other must say.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The table: module → layer, and the sideways arrows allowed within a layer.
struct Layers {
    layer: BTreeMap<String, usize>,
    sideways: BTreeSet<(String, String)>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Reads the rows of the table under "## Who may import whom": `| 3 evaluators | `a`, `b` |
/// `a → b`, … |`. The first cell starts with the layer's number; the second lists its
/// modules; the third the sideways arrows (`x → y`), if any.
fn read_table() -> Layers {
    let text = std::fs::read_to_string(root().join("../ARCHITECTURE.md")).unwrap();
    let section = text
        .split("## Who may import whom")
        .nth(1)
        .expect("ARCHITECTURE.md has a section `## Who may import whom`");
    let mut layers = Layers {
        layer: BTreeMap::new(),
        sideways: BTreeSet::new(),
    };
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(n) = cells[0]
            .split_whitespace()
            .next()
            .and_then(|w| w.parse::<usize>().ok())
        else {
            continue; // header or separator
        };
        for m in ticked(cells[1]) {
            assert!(
                layers.layer.insert(m.clone(), n).is_none(),
                "ARCHITECTURE.md lists `{m}` twice"
            );
        }
        for arrow in ticked(cells.get(2).copied().unwrap_or("")) {
            let (a, b) = arrow
                .split_once('→')
                .unwrap_or_else(|| panic!("ARCHITECTURE.md: `{arrow}` is not `a → b`"));
            layers
                .sideways
                .insert((a.trim().to_string(), b.trim().to_string()));
        }
    }
    assert!(!layers.layer.is_empty(), "no rows read from the table");
    layers
}

/// The `code` spans of a Markdown cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every `.rs` file under `agent/src`, with the top-level module it belongs to (`lib` for
/// `lib.rs` and `main.rs`).
fn sources() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            let module = if module == "main" {
                "lib".into()
            } else {
                module
            };
            (module, p)
        })
        .collect()
}

/// Top-level modules named by `crate::` paths in `text`, including groups such as
/// `use crate::{a, b::c}`. Comments are skipped.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // One level of grouping is what rustfmt leaves on one line; a group spanning
                // lines is read line by line, each line's first word being a module.
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    if let Some(w) = first_word(item) {
                        out.insert(w);
                    }
                }
            } else if let Some(w) = first_word(rest) {
                out.insert(w);
            }
        }
    }
    // Multi-line groups: `use crate::{` followed by one item per line.
    let mut in_group = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("use crate::{") && !t.contains('}') {
            in_group = true;
            continue;
        }
        if in_group {
            if t.starts_with('}') {
                in_group = false;
                continue;
            }
            if let Some(w) = first_word(t) {
                out.insert(w);
            }
        }
    }
    out
}

fn first_word(s: &str) -> Option<String> {
    let w: String = s
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!w.is_empty()).then_some(w)
}

/// Module → the other top-level modules it imports, and where.
fn graph(layers: &Layers) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut g: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, path) in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let rel = path.strip_prefix(root()).unwrap().display().to_string();
        for to in imports(&text) {
            // A name that is no module is an item of the crate root, such as `crate::Agent`.
            let to = if layers.layer.contains_key(&to) {
                to
            } else {
                "lib".to_string()
            };
            if to == module {
                continue;
            }
            g.entry(module.clone())
                .or_default()
                .entry(to)
                .or_default()
                .insert(rel.clone());
        }
    }
    g
}

#[test]
fn every_module_is_in_the_table_and_every_arrow_points_down() {
    let layers = read_table();
    let on_disk: BTreeSet<String> = sources().into_iter().map(|(m, _)| m).collect();
    let in_table: BTreeSet<String> = layers.layer.keys().cloned().collect();
    let missing: Vec<_> = on_disk.difference(&in_table).collect();
    assert!(
        missing.is_empty(),
        "modules not in ARCHITECTURE.md's table: {missing:?}"
    );
    let gone: Vec<_> = in_table.difference(&on_disk).collect();
    assert!(
        gone.is_empty(),
        "ARCHITECTURE.md's table names modules that do not exist: {gone:?}"
    );

    let mut wrong = Vec::new();
    for (from, tos) in graph(&layers) {
        for (to, files) in tos {
            let (a, b) = (layers.layer[&from], layers.layer[&to]);
            let listed = layers.sideways.contains(&(from.clone(), to.clone()));
            if b > a || (a == b && !listed) {
                wrong.push(format!(
                    "{from} (layer {a}) imports {to} (layer {b}) in {}",
                    files.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up or sideways without an arrow in ARCHITECTURE.md:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sideways_arrows_exist_and_form_no_cycle() {
    let layers = read_table();
    let g = graph(&layers);
    for (a, b) in &layers.sideways {
        assert_eq!(
            layers.layer.get(a),
            layers.layer.get(b),
            "ARCHITECTURE.md: `{a} → {b}` joins two layers; only arrows within a layer are listed"
        );
        assert!(
            g.get(a).is_some_and(|t| t.contains_key(b)),
            "ARCHITECTURE.md lists `{a} → {b}` but {a} does not import {b}: remove the arrow"
        );
    }
    // Down-pointing arrows cannot close a cycle; sideways ones could.
    fn reaches(
        s: &BTreeSet<(String, String)>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        s.iter()
            .filter(|(a, _)| a == from)
            .any(|(_, b)| b == to || (seen.insert(b.clone()) && reaches(s, b, to, seen)))
    }
    for (a, b) in &layers.sideways {
        assert!(
            !reaches(&layers.sideways, b, a, &mut BTreeSet::new()),
            "ARCHITECTURE.md's sideways arrows form a cycle through `{a} → {b}`"
        );
    }
}

#[test]
fn sql_lives_in_the_store_only() {
    let mut outside = Vec::new();
    for (module, path) in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        if module != "store" && text.contains("rusqlite") {
            outside.push(path.strip_prefix(root()).unwrap().display().to_string());
        }
    }
    assert!(
        outside.is_empty(),
        "rusqlite used outside agent/src/store/ (the store owns the file): {outside:?}"
    );
}

#[test]
fn the_import_reader_sees_groups_and_paths() {
    let text = "use crate::{config::Config, state::State};\nuse crate::{\n    store::Store,\n    value::Value,\n};\nlet x = crate::records::Severity::Info; // crate::http in a comment\n";
    let got: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(got, ["config", "records", "state", "store", "value"]);
}
