//! The layout the README describes: no module imports one that imports it (each stage uses only
//! those before it), and no source file grows past a length a newcomer can read in one sitting.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files allowed past [`MAX_LINES`], and why.
const LONG_FILES: &[(&str, &str)] = &[];
const MAX_LINES: usize = 400;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The library's files (the binary in `src/bin` is not part of the library).
fn library_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    files.retain(|f| !f.starts_with(src().join("bin")));
    files.sort();
    files
}

/// The module a file belongs to, two levels deep at most: `src/report/plots/charts.rs` is
/// `report::plots`, `src/cpu.rs` is `cpu`.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).filter(|p| p != "mod" && p != "lib").collect();
    parts.into_iter().take(2).collect::<Vec<_>>().join("::")
}

/// The modules (two levels deep at most) that exist.
fn modules() -> BTreeSet<String> {
    library_files().iter().map(|f| module_of(f)).filter(|m| !m.is_empty()).collect()
}

/// The modules a file's code (not its comments) names with `crate::...` or `super::...`.
fn imports(file: &Path, known: &BTreeSet<String>) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let here = module_of(file);
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    // The file's own module path in full, for `super::`.
    let full: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).filter(|p| p != "mod" && p != "lib").collect();
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap();
        // `super::` in `a/b.rs` and in `a/b/mod.rs` alike is `a`.
        let parent = full[..full.len().saturating_sub(1)].to_vec();
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
            let mut rest = code;
            while let Some(at) = rest.find(prefix) {
                let after = &rest[at + prefix.len()..];
                let path: Vec<&str> = after.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).next().unwrap().split("::").filter(|s| !s.is_empty()).collect();
                let mut target = base.clone();
                target.extend(path.iter().map(|s| s.to_string()));
                // The deepest known module the path names.
                for depth in (1..=target.len().min(2)).rev() {
                    let m = target[..depth].join("::");
                    if known.contains(&m) {
                        if m != here {
                            found.insert(m);
                        }
                        break;
                    }
                }
                rest = after;
            }
        }
    }
    found
}

fn is_ancestor(a: &str, b: &str) -> bool {
    b.starts_with(&format!("{a}::"))
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let known = modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in library_files() {
        let from = module_of(&file);
        if from.is_empty() {
            continue; // lib.rs declares and re-exports every module
        }
        for to in imports(&file, &known) {
            // A module and its own submodules may name each other (declarations, re-exports).
            if !is_ancestor(&from, &to) && !is_ancestor(&to, &from) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Any cycle, found by walking from every module.
    fn walk(m: &str, edges: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = walk(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &known {
        if let Some(cycle) = walk(m, &edges, &mut Vec::new(), &mut done) {
            panic!("a module cycle: {}", cycle.join(" -> "));
        }
    }
    // The stages in order: none may use a later one.
    let rank = |m: &str| ["cpu", "error", "encode", "fsutil", "data", "layers", "model", "train", "explain", "export", "app", "report", "teach"].iter().position(|s| m.split("::").next() == Some(s));
    // Every module has its place in that order, so a new one cannot escape the check.
    for m in modules() {
        assert!(rank(&m).is_some(), "the module {m} has no place in the stages' order: add it to the list above");
    }
    for (from, tos) in &edges {
        for to in tos {
            assert!(rank(to) <= rank(from), "{from} uses {to}, a later stage");
        }
    }
    // `cpu` uses nothing of the crate.
    assert!(edges.get("cpu").is_none_or(|t| t.is_empty()), "cpu uses {:?}", edges.get("cpu"));
}

#[test]
fn the_cycle_check_sees_imports() {
    let known = modules();
    let imports = imports(&src().join("train/mod.rs"), &known);
    assert!(imports.contains("model") && imports.contains("data"), "{imports:?}");
    let imports = self::imports(&src().join("report/plots/charts.rs"), &known);
    assert!(imports.contains("train"), "{imports:?}");
}

#[test]
fn no_source_file_is_too_long_to_read() {
    let mut files = library_files();
    sources(&src().join("bin"), &mut files);
    for file in files {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        let rel = file.strip_prefix(src()).unwrap().to_string_lossy().into_owned();
        if lines > MAX_LINES {
            assert!(LONG_FILES.iter().any(|(f, _)| *f == rel), "src/{rel} has {lines} lines (at most {MAX_LINES}): split it by concern");
        }
    }
}
