//! `cargo xtask modules`: which module of a crate uses which (`crate::NAME`
//! paths and `use crate::{...}` lists in its `src/*.rs`), and the cycles
//! among them. Read as text, not compiled: a mention in a comment or a
//! string does not count, a path written some other way (`super::`) does
//! not either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

/// Module name → the modules it names.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module graph of the crate whose sources are in `source` (one level:
/// `src/NAME.rs` files and `src/NAME/mod.rs`).
pub fn graph(source: &Path) -> Result<Graph> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(source).with_context(|| format!("reading {}", source.display()))? {
        let path = entry?.path();
        let name = match (path.is_dir(), path.extension().and_then(|extension| extension.to_str())) {
            (true, _) if path.join("mod.rs").is_file() => path.file_name().and_then(|name| name.to_str()).map(|name| (name.to_string(), path.join("mod.rs"))),
            (false, Some("rs")) => path.file_stem().and_then(|stem| stem.to_str()).map(|stem| (stem.to_string(), path.clone())),
            _ => None,
        };
        if let Some((name, file)) = name {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            modules.insert(name, text);
        }
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    Ok(modules.iter().map(|(name, text)| (name.clone(), uses(text, &names).into_iter().filter(|used| used != name).collect())).collect())
}

/// The modules among `names` that `text` names as `crate::NAME` or in a
/// `use crate::{A, B}` list, comments stripped.
pub fn uses(text: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let listed = if let Some(list) = rest.strip_prefix('{') { &list[..list.find('}').unwrap_or(list.len())] } else { rest };
        for item in listed.split(',') {
            let name: String = item.trim().chars().take_while(|character| character.is_alphanumeric() || *character == '_').collect();
            if names.contains(&name) {
                found.insert(name);
            }
            if !rest.starts_with('{') {
                break;
            }
        }
    }
    found
}

/// The cycles: strongly connected components of more than one module
/// (Tarjan's algorithm), each sorted.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a str) {
        let number = state.index.len();
        state.index.insert(node, number);
        state.low.insert(node, number);
        state.stack.push(node);
        state.on_stack.insert(node);
        for next in state.graph.get(node).into_iter().flatten() {
            let next = next.as_str();
            if !state.graph.contains_key(next) {
                continue;
            }
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.low[node].min(state.low[next]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.low[node].min(state.index[next]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_string());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.components.push(component);
            }
        }
    }
    let mut state = State { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on_stack: BTreeSet::new(), components: Vec::new() };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn paths_and_use_lists_count_comments_do_not() {
        let text = "use crate::{gic, stacks};\nuse crate::arch::{self, read};\n// crate::trap is only mentioned\nfn f() { crate::console::output(); }";
        assert_eq!(uses(text, &names(&["gic", "stacks", "arch", "trap", "console", "other"])), names(&["gic", "stacks", "arch", "console"]));
    }

    #[test]
    fn a_cycle_is_found_and_a_chain_is_not() {
        let graph: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"]), ("e", vec![])]
            .into_iter()
            .map(|(name, used)| (name.to_string(), names(&used)))
            .collect();
        assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
        let chain: Graph = [("a", vec!["b"]), ("b", vec![])].into_iter().map(|(name, used)| (name.to_string(), names(&used))).collect();
        assert!(cycles(&chain).is_empty());
    }
}
