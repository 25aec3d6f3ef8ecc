//! The server's modules depend on each other one way: no import circle, and the parts
//! below the edge (ingest, writer, monitors, alerts, jobs, deploys) import neither the handlers'
//! shared state, the root config, the HTTP API, nor one another (but for the handle of
//! the part downstream that they feed). Read from the sources' `crate::` paths;
//! `cargo test --test module_graph -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The parts below the edge, which get explicit handles from `lib.rs`.
const PARTS: [&str; 6] = ["ingest", "writer", "monitors", "alerts", "jobs", "deploys"];
/// What the parts must not import: the edge's state and the modules that use it.
const EDGE: [&str; 5] = ["state", "config", "api", "health", "ping"];
/// A part may hold the handle of the part it feeds: ingest submits rows to the writer.
const DOWNSTREAM: [(&str, &str); 1] = [("ingest", "writer")];

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

/// The top-level module a source file belongs to; `None` for `lib.rs`, the edge.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(m) => Some(m.to_string()),
        None => Some(first.to_string()),
    }
}

/// The top-level modules named by `crate::` paths in code (comments left out),
/// including each item of `crate::{a, b::c}`.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.insert(ident(&group[j..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(from) = top_module(&src, &file) else {
            continue;
        };
        let refs = crate_refs(&std::fs::read_to_string(&file).unwrap());
        let edges = graph.entry(from.clone()).or_default();
        edges.extend(refs.into_iter().filter(|to| *to != from));
    }
    graph
}

/// A circle in the graph, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut c = path[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_circle_and_the_parts_stay_apart() {
    let graph = graph();
    for (from, to) in &graph {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("{from:>9} -> {}", to.join(", "));
    }
    assert!(PARTS.iter().all(|p| graph.contains_key(*p)), "{graph:?}");
    if let Some(c) = circle(&graph) {
        panic!("import circle: {}", c.join(" -> "));
    }
    for part in PARTS {
        for to in &graph[part] {
            let feeds = DOWNSTREAM.contains(&(part, to.as_str()));
            assert!(
                !EDGE.contains(&to.as_str()) && (feeds || !PARTS.contains(&to.as_str())),
                "{part} imports crate::{to}; give it a handle from lib.rs instead"
            );
        }
    }
}

#[test]
fn the_reader_sees_grouped_imports_and_ignores_comments() {
    let refs = crate_refs(
        "use crate::{bus::MonitorFact, projects::{Projects, ProjectRuntime}};\n\
         // crate::state is only mentioned\n\
         let x = crate::time_fmt::iso(1);",
    );
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    assert_eq!(refs, ["bus", "projects", "time_fmt"]);
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circle(&g).unwrap(), ["a", "b", "a"]);
}
