//! The crate's modules import each other without cycles: the registry, the timer queue and
//! the executor know nothing of the loop that drives them (as mio's `Registry` never refers
//! back to `Poll`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code names through `crate::`.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn module_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut files = vec![src.to_path_buf()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let relative = path.strip_prefix(src).unwrap();
        let module = relative
            .iter()
            .next()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" {
            continue; // declares and re-exports every module
        }
        let code = std::fs::read_to_string(&path).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let named: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if named != module {
                    uses.insert(named);
                }
            }
        }
    }
    graph
}

/// A cycle through `from`, if there is one, as the list of modules along it.
fn cycle(graph: &Graph, from: &str, path: &mut Vec<String>) -> Option<Vec<String>> {
    if let Some(start) = path.iter().position(|m| m == from) {
        let mut cycle = path[start..].to_vec();
        cycle.push(from.to_owned());
        return Some(cycle);
    }
    path.push(from.to_owned());
    for next in graph.get(from).into_iter().flatten() {
        if let Some(cycle) = cycle(graph, next, path) {
            return Some(cycle);
        }
    }
    path.pop();
    None
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reads the sources from disk, which Miri's isolation forbids"
)]
fn modules_import_each_other_without_cycles() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.contains_key("event_loop") && graph.contains_key("registry"));
    assert!(graph["event_loop"].contains("registry"), "{graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = cycle(&graph, module, &mut Vec::new()) {
            panic!("import cycle {}", cycle.join(" -> "));
        }
    }
}
