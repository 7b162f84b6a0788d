//! Dependencies between the daemon's top-level modules point one way, and down the layers
//! `ARCHITECTURE.md` draws.
//!
//! A top-level module is a file or folder directly under `daemon/src` (not `lib.rs`, nor `bin/`,
//! the `porchlight` command's own modules, which use the library from outside); an edge A → B is a `crate::B` path (also inside `use crate::{…}` groups) in A's
//! code outside comments, string literals, `#[cfg(test)]` items and files only tests compile.
//! The test fails on a cycle between top-level modules (naming each edge's files), on an
//! import of a module in a higher layer than the importer, on an import by a leaf helper, and
//! on a module the layer drawing does not list (or lists but does not exist).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges between top-level modules: importer → imported → files that import it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every top-level module under `src`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("read daemon/src") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() && name != "bin" {
            out.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
        {
            out.insert(stem.to_owned());
        }
    }
    out
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a Rust source without comments, string literals and character literals
/// (each replaced by a space, so tokens stay apart).
fn strip_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        // Raw strings: r"…", r#"…"#, br#"…"# (an `r` that does not end an identifier).
        if c[i] == 'r' && (i == 0 || !ident(c[i - 1]) || (c[i - 1] == 'b' && (i < 2 || !ident(c[i - 2])))) {
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            if c.get(j) == Some(&'"') {
                let hashes = j - i - 1;
                j += 1;
                while j < c.len() {
                    if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                i = j;
                out.push(' ');
                continue;
            }
        }
        if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
            continue;
        }
        if c[i] == '\'' {
            // A character literal ('x', '\n', '\u{…}'), not a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push(' ');
                continue;
            }
            if c.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    out
}

/// The code without the items marked `#[cfg(test)]` (a `mod x;`, or an item up to its
/// matching closing brace).
fn strip_test_items(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at + MARK.len()..];
        let mut depth = 0usize;
        let mut end = item.len();
        for (k, ch) in item.char_indices() {
            match ch {
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The files compiled only for tests: those declared `#[cfg(test)] mod name;`.
fn test_only_files(files: &[PathBuf], src: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let code = strip_comments_and_literals(&std::fs::read_to_string(f).expect("read source"));
        // A module's children live beside `mod.rs`/`lib.rs`, else in the folder named after it.
        let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = match stem.as_str() {
            "mod" | "lib" | "main" => f.parent().unwrap_or(src).to_owned(),
            _ => f.with_extension(""),
        };
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let words: Vec<&str> = rest.split_whitespace().take(3).collect();
            let name = match words.as_slice() {
                ["mod", name, ..] | ["pub", "mod", name] | ["pub(crate)", "mod", name] => *name,
                _ => continue,
            };
            if let Some(name) = name.strip_suffix(';') {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

/// The top-level modules that `code` names with `crate::`.
fn crate_references(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut rest = code;
    while let Some(at) = rest.find("crate") {
        let before = code.len() - rest.len() + at;
        rest = &rest[at + "crate".len()..];
        if code[..before].chars().next_back().is_some_and(ident) {
            continue;
        }
        let Some(path) = rest.trim_start().strip_prefix("::") else { continue };
        let path = path.trim_start();
        if let Some(group) = path.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the names at the group's own level.
            let mut depth = 1;
            let mut word = String::new();
            let mut first_of_item = true;
            for ch in group.chars() {
                if depth == 1 && ident(ch) {
                    word.push(ch);
                    continue;
                }
                if first_of_item && !word.is_empty() {
                    if modules.contains(&word) {
                        out.insert(word.clone());
                    }
                    first_of_item = false;
                }
                word.clear();
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 1 => break,
                    '}' => depth -= 1,
                    ',' if depth == 1 => first_of_item = true,
                    _ => {}
                }
            }
        } else {
            let name: String = path.chars().take_while(|ch| ident(*ch)).collect();
            if modules.contains(&name) {
                out.insert(name);
            }
        }
    }
    out
}

/// The top-level module a file under `src` belongs to.
fn owner(file: &Path, src: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy().into_owned();
    first.strip_suffix(".rs").map_or(first.clone(), str::to_owned)
}

fn graph(src: &Path, modules: &BTreeSet<String>) -> Graph {
    let files = rust_files(src);
    let test_only = test_only_files(&files, src);
    let mut g = Graph::new();
    for f in &files {
        let from = owner(f, src);
        if !modules.contains(&from) || test_only.contains(f) {
            continue;
        }
        let text = std::fs::read_to_string(f).expect("read source");
        let code = strip_test_items(&strip_comments_and_literals(&text));
        let shown = f.strip_prefix(src.parent().unwrap_or(src)).unwrap_or(f).display().to_string();
        for to in crate_references(&code, modules) {
            if to != from {
                g.entry(from.clone()).or_default().entry(to).or_default().insert(shown.clone());
            }
        }
    }
    g
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(g: &Graph, modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g.get(v).into_iter().flat_map(BTreeMap::keys) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    comp.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for m in modules {
        if !t.index.contains_key(m.as_str()) {
            t.visit(m);
        }
    }
    t.out
}

/// The layers of `ARCHITECTURE.md`'s "Module layers" drawing, bottom first: the lines of the
/// first fenced block after that heading that look like `<name> │ <module> <module> …`.
fn layers(doc: &str) -> Vec<(String, Vec<String>)> {
    let section =
        doc.split("\n## Module layers").nth(1).expect("ARCHITECTURE.md has a `## Module layers` section");
    let block = section.split("```").nth(1).expect("a fenced block in `## Module layers`");
    let mut top_first = Vec::new();
    for line in block.lines() {
        let Some((name, modules)) = line.split_once('│') else { continue };
        let modules: Vec<String> = modules
            .split_whitespace()
            .map(|m| m.trim_end_matches(".rs").trim_end_matches('/').to_owned())
            .collect();
        top_first.push((name.trim().to_owned(), modules));
    }
    top_first.reverse();
    top_first
}

fn render(g: &Graph, from: &str, to: &str) -> String {
    let files = g.get(from).and_then(|m| m.get(to)).map(|f| f.iter().cloned().collect::<Vec<_>>().join(", "));
    format!("{from} → {to} ({})", files.unwrap_or_default())
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = src_dir();
    let modules = top_level_modules(&src);
    let g = graph(&src, &modules);
    let found = cycles(&g, &modules);
    let mut report = String::new();
    for comp in &found {
        report.push_str(&format!("cycle between {}:\n", comp.join(", ")));
        for a in comp {
            for b in comp {
                if g.get(a).is_some_and(|m| m.contains_key(b)) {
                    report.push_str(&format!("  {}\n", render(&g, a, b)));
                }
            }
        }
    }
    assert!(found.is_empty(), "{report}");
}

#[test]
fn modules_import_only_their_own_layer_or_lower() {
    let src = src_dir();
    let modules = top_level_modules(&src);
    let doc = std::fs::read_to_string(src.join("../../ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
    let layers = layers(&doc);
    assert!(layers.len() >= 3, "the layer drawing has too few layers: {layers:?}");
    let mut layer_of = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, (name, members)) in layers.iter().enumerate() {
        for m in members {
            if layer_of.insert(m.clone(), i).is_some() {
                problems.push(format!("{m} is drawn in more than one layer"));
            }
            if !modules.contains(m) {
                problems.push(format!("layer {name} lists {m}, which is not a module under daemon/src"));
            }
        }
    }
    for m in &modules {
        if !layer_of.contains_key(m) {
            problems.push(format!("{m} is in no layer of ARCHITECTURE.md's `## Module layers` drawing"));
        }
    }
    let g = graph(&src, &modules);
    for (from, tos) in &g {
        let Some(&lf) = layer_of.get(from) else { continue };
        for to in tos.keys() {
            let Some(&lt) = layer_of.get(to) else { continue };
            if lt > lf {
                problems.push(format!(
                    "{} imports a higher layer ({} over {})",
                    render(&g, from, to),
                    layers[lt].0,
                    layers[lf].0
                ));
            } else if lf == 0 {
                problems
                    .push(format!("{}: a leaf helper imports nothing from the crate", render(&g, from, to)));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_parser_sees_code_edges_only() {
    let modules: BTreeSet<String> = ["audit", "bus", "config", "onvif", "policy"].map(str::to_owned).into();
    let code = r##"
        use crate::{bus::Bus, config::{self, Settings}};
        // crate::audit in a comment
        /* crate::audit in a /* nested */ block */
        let s = "crate::audit in a string";
        let r = r#"crate::audit in a raw string"#;
        let c = '"'; let l: &'static str = "x";
        fn f<'a>(x: &'a crate::onvif::Thing) {}
        #[cfg(test)]
        mod tests { use crate::policy::X; }
        #[cfg(test)]
        use crate::policy::Y;
    "##;
    let code = strip_test_items(&strip_comments_and_literals(code));
    let found = crate_references(&code, &modules);
    assert_eq!(found, ["bus", "config", "onvif"].map(str::to_owned).into());
}

#[test]
fn a_cycle_is_found_with_its_edges() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(str::to_owned).into();
    let mut g = Graph::new();
    g.entry("a".into()).or_default().entry("b".into()).or_default().insert("src/a.rs".into());
    g.entry("b".into()).or_default().entry("a".into()).or_default().insert("src/b/mod.rs".into());
    g.entry("b".into()).or_default().entry("c".into()).or_default().insert("src/b/x.rs".into());
    assert_eq!(cycles(&g, &modules), vec![vec!["a".to_owned(), "b".to_owned()]]);
    assert_eq!(render(&g, "b", "a"), "b → a (src/b/mod.rs)");
}
