//! No import circles: the top-level modules of the library depend on each other in one direction
//! only, and so do the files of each folder (a file may use its folder's `mod.rs` and be used by it;
//! two siblings may not use each other, directly or through others). Test modules are left out:
//! a unit test may reach up to check one layer against another.
//!
//! The graph is read from the source: every `crate::…` and `super::…` path (including each branch
//! of a `use …::{…}` tree) is resolved to the deepest module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (segments) of each source file of one crate rooted at `root` (`lib.rs` or
/// `main.rs`), with its text minus test modules.
fn modules(src: &Path, root_file: &str, only: Option<&str>) -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel: PathBuf = path.strip_prefix(src).unwrap().to_path_buf();
            let mut segments: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if segments.last().is_some_and(|s| s == "mod") {
                segments.pop();
            }
            if segments == [root_file.trim_end_matches(".rs")] {
                segments.clear();
            } else if segments.len() == 1 && (segments[0] == "lib" || segments[0] == "main") {
                continue;
            }
            if let Some(top) = only
                && segments.first().is_some_and(|s| s != top)
                && !segments.is_empty()
            {
                continue;
            }
            if only.is_none() && segments.first().is_some_and(|s| s == "cli") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            out.insert(segments, strip_comments(&code));
        }
    }
    out
}

fn strip_comments(code: &str) -> String {
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path a `use` tree or an expression names after the prefix at `rest` (e.g. the text after
/// `crate::`), as segment lists.
fn paths(rest: &str) -> Vec<Vec<String>> {
    fn tree(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        fn group(s: &[char], i: &mut usize, path: &[String], out: &mut Vec<Vec<String>>) {
            *i += 1;
            loop {
                while *i < s.len() && s[*i].is_whitespace() {
                    *i += 1;
                }
                if *i >= s.len() || s[*i] == '}' {
                    *i += 1;
                    return;
                }
                tree(s, i, path.to_vec(), out);
                while *i < s.len() && (s[*i].is_whitespace() || s[*i] == ',') {
                    *i += 1;
                }
            }
        }
        let mut path = prefix;
        if *i < s.len() && s[*i] == '{' {
            return group(s, i, &path, out);
        }
        loop {
            let start = *i;
            while *i < s.len() && is_ident(s[*i]) {
                *i += 1;
            }
            if *i > start {
                path.push(s[start..*i].iter().collect());
            }
            if *i + 1 < s.len() && s[*i] == ':' && s[*i + 1] == ':' {
                *i += 2;
                if *i < s.len() && s[*i] == '{' {
                    return group(s, i, &path, out);
                }
                continue;
            }
            // `as name` or the end of the path.
            while *i < s.len() && !matches!(s[*i], ',' | '}' | ';' | '\n') {
                if s[*i] == '(' || s[*i] == '<' || s[*i] == ')' || s[*i] == '.' {
                    break;
                }
                *i += 1;
            }
            out.push(path);
            return;
        }
    }
    let chars: Vec<char> = rest.chars().take(2000).collect();
    let mut out = Vec::new();
    tree(&chars, &mut 0, Vec::new(), &mut out);
    out
}

/// The modules each module's code refers to (resolved to the deepest existing module).
fn edges(mods: &BTreeMap<Vec<String>, String>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let known: BTreeSet<Vec<String>> = mods.keys().cloned().collect();
    let resolve = |p: &[String]| -> Vec<String> {
        (0..=p.len())
            .rev()
            .map(|n| p[..n].to_vec())
            .find(|prefix| known.contains(prefix))
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    for (module, code) in mods {
        let mut to = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            if i > 0 && is_ident(code[..i].chars().last().unwrap()) {
                continue;
            }
            for p in paths(&code[i + "crate::".len()..]) {
                to.insert(resolve(&p));
            }
        }
        let mut i = 0;
        while let Some(j) = code[i..].find("super::") {
            let at = i + j;
            i = at + 1;
            if at > 0
                && (is_ident(code[..at].chars().last().unwrap()) || code[..at].ends_with("::"))
            {
                continue;
            }
            let mut base = module.clone();
            let mut rest = &code[at..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            for p in paths(rest) {
                let mut full = base.clone();
                full.extend(p);
                to.insert(resolve(&full));
            }
        }
        to.remove(module);
        out.insert(module.clone(), to);
    }
    out
}

/// A cycle of `graph`, if it has one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &String,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap();
                let mut c = path[start..].to_vec();
                c.push(n.clone());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        path.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The circles among the top-level modules and among the children of every folder.
fn circles(mods: &BTreeMap<Vec<String>, String>, depth0: usize) -> Vec<String> {
    let edges = edges(mods);
    let mut found = Vec::new();
    let parents: BTreeSet<Vec<String>> = mods
        .keys()
        .filter(|m| m.len() > depth0)
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    for parent in parents {
        // Children of `parent` (each with its descendants) and the references between them.
        let d = parent.len();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, targets) in &edges {
            if from.len() <= d || from[..d] != parent[..] {
                continue;
            }
            let a = from[d].clone();
            let node = graph.entry(a.clone()).or_default();
            for t in targets {
                if t.len() > d && t[..d] == parent[..] && t[d] != a {
                    node.insert(t[d].clone());
                }
            }
        }
        if let Some(c) = cycle(&graph) {
            let at = if parent.is_empty() {
                "crate".to_string()
            } else {
                parent.join("::")
            };
            found.push(format!("{at}: {}", c.join(" -> ")));
        }
    }
    found
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = modules(&src, "lib.rs", None);
    assert!(lib.len() > 50, "read {} library files", lib.len());
    assert!(lib.contains_key(&vec!["attack".to_string(), "pgd".to_string()]));
    let mut found = circles(&lib, 0);
    let cli = modules(&src, "main.rs", Some("cli"));
    found.extend(circles(&cli, 1));
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_checker_finds_a_circle_between_siblings_and_between_top_level_modules() {
    let m = |path: &[&str], code: &str| {
        (
            path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            code.to_string(),
        )
    };
    let mods: BTreeMap<_, _> = [
        m(&[], ""),
        m(&["model"], "pub mod a; pub mod b;"),
        m(&["model", "a"], "use super::b::Thing;"),
        m(&["model", "b"], "use crate::model::{a::Other, X};"),
        m(&["classifier"], "use crate::model::a;"),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&mods, 0), vec!["model: a -> b -> a".to_string()]);
    let mods: BTreeMap<_, _> = [
        m(&[], ""),
        m(&["model"], "fn f() { crate::classifier::g() }"),
        m(&["classifier"], "use crate::{model::Y};"),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&mods, 0).len(), 1);
}
