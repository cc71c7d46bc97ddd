//! The dependency rule of ARCHITECTURE.md, checked: a top-level module of `src/` imports only
//! modules of lower layers. The engine and the small helpers sit at the bottom, the command
//! line on top, so a change low in the stack never has to know about anything above it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Layers from the bottom up; a module may import any module of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["engine", "base"],
    &["units"],
    &["model"],
    &["metrics", "migration"],
    &["trace", "policy"],
    &["scenario"],
    &["sim", "compat"],
    &["run"],
    &["report", "sweep", "inventory"],
    &["plan", "check", "reproduce"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The text of a source file without its comments and its trailing unit-test module, which
/// may use anything.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules named by `crate::NAME` paths and `use crate::{NAME::…, …}` groups.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let word = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find("};").unwrap_or(group.len());
            for part in split_top(&group[..end]) {
                let w = word(part.trim_start());
                if !w.is_empty() {
                    out.insert(w);
                }
            }
        } else {
            let w = word(rest);
            if !w.is_empty() {
                out.insert(w);
            }
        }
    }
    out
}

/// The comma-separated parts of a `use` group, ignoring commas in nested groups.
fn split_top(group: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&group[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[from..]);
    parts
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).expect("src is readable") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn no_module_imports_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut unplaced = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        // The crate root and the binary wire everything; test modules may use anything.
        if top == "lib" || top == "main" || rel.ends_with("tests.rs") {
            continue;
        }
        if layer_of(&top).is_none() {
            unplaced.insert(top.clone());
        }
        let text = fs::read_to_string(f).expect("source is readable");
        for m in imports(&code(&text)) {
            if m != top {
                edges
                    .entry(top.clone())
                    .or_default()
                    .insert((m, rel.display().to_string()));
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules with no layer in tests/layers.rs (and ARCHITECTURE.md): {unplaced:?}"
    );
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        let lf = layer_of(from).expect("placed");
        for (to, file) in tos {
            match layer_of(to) {
                Some(lt) if lt < lf => {}
                Some(_) => wrong.push(format!(
                    "{file}: {from} imports {to}, which is not below it"
                )),
                None => {}
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn the_import_scanner_sees_paths_and_groups() {
    let got = imports(
        "use crate::{model::host::Hosts, units::{Bytes, Bandwidth}};\nlet x = crate::sim::run();",
    );
    let want: BTreeSet<String> = ["model", "units", "sim"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(got, want);
}
