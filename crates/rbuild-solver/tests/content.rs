//! Content inputs: a vertex that reads another vertex's content is keyed by that content once
//! settled, so a re-made input with the same content keeps it (and its descendants) cached.

use std::sync::{Arc, Mutex};

use rbuild_solver::{
    solve, CacheKey, Components, ExecContext, Graph, KeyBuilder, MemoryCache, NoopObserver, Op,
    SolveOptions,
};

#[derive(Debug, thiserror::Error)]
#[error("toy")]
struct ToyError;

/// `Source` makes `output` (its key has `bust`, as a cache-busting build arg would);
/// `Reader` reads input 1's content and appends its own name; `Child` appends its name.
enum Kind {
    Source { bust: u32, output: String },
    Reader,
    Child,
}

struct Node {
    name: &'static str,
    kind: Kind,
    execs: Arc<Mutex<Vec<&'static str>>>,
}

impl Op for Node {
    type Value = String;
    type Error = ToyError;

    fn identity(&self) -> String {
        self.name.to_string()
    }

    fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), ToyError> {
        let kb = inputs
            .iter()
            .fold(KeyBuilder::new(self.name, 1), |kb, k| kb.key("input", k));
        Ok(match &self.kind {
            Kind::Source { bust, .. } => kb.u64("bust", u64::from(*bust)).finish(),
            _ => kb.finish(),
        })
    }

    fn content_inputs(&self) -> Vec<usize> {
        match self.kind {
            Kind::Reader => vec![0],
            _ => Vec::new(),
        }
    }

    fn content_key(&self, _index: usize, value: &String) -> Result<CacheKey, ToyError> {
        Ok(KeyBuilder::new("content", 1).str("text", value).finish().0)
    }

    fn exec(&self, inputs: &[String], _: &ExecContext) -> Result<String, ToyError> {
        self.execs.lock().map_err(|_| ToyError)?.push(self.name);
        Ok(match &self.kind {
            Kind::Source { output, .. } => output.clone(),
            _ => format!("{}+{}", inputs.join(","), self.name),
        })
    }
}

struct Build {
    execs: Arc<Mutex<Vec<&'static str>>>,
}

impl Build {
    fn new() -> Self {
        Build {
            execs: Arc::default(),
        }
    }

    /// Solves source → reader → child and returns the child's value and what executed.
    fn run(&self, cache: &MemoryCache<String>, bust: u32, output: &str) -> (String, Vec<&str>) {
        let node = |name, kind| Node {
            name,
            kind,
            execs: Arc::clone(&self.execs),
        };
        let mut g = Graph::new();
        let output = output.to_string();
        let src = g.add(node("source", Kind::Source { bust, output }), vec![]);
        let reader = g.add(node("reader", Kind::Reader), vec![src]);
        let child = g.add(node("child", Kind::Child), vec![reader]);
        let opts = SolveOptions::new(2);
        let out = solve(&g, &[child], cache, &opts, &NoopObserver).expect("solve");
        let execs = std::mem::take(&mut *self.execs.lock().expect("lock"));
        (out.into_iter().next().unwrap_or_default(), execs)
    }
}

#[test]
fn same_content_from_a_remade_input_keeps_the_reader_and_its_children_cached() {
    let cache = MemoryCache::new();
    let b = Build::new();
    let (first, execs) = b.run(&cache, 0, "out");
    assert_eq!(first, "out+reader+child");
    assert_eq!(execs, ["source", "reader", "child"]);
    // The source's key changes, so it runs again, and makes the same content.
    let (second, execs) = b.run(&cache, 1, "out");
    assert_eq!(second, first);
    assert_eq!(execs, ["source"]);
}

#[test]
fn changed_content_runs_the_reader_again() {
    let cache = MemoryCache::new();
    let b = Build::new();
    b.run(&cache, 0, "out");
    let (value, execs) = b.run(&cache, 1, "other");
    assert_eq!(value, "other+reader+child");
    assert_eq!(execs, ["source", "reader", "child"]);
    // And back: the first content's key is still the one recorded for it.
    let (value, execs) = b.run(&cache, 2, "out");
    assert_eq!(value, "out+reader+child");
    assert_eq!(execs, ["source"]);
}

#[test]
fn a_settled_key_needs_no_content_again() {
    let cache = MemoryCache::new();
    let b = Build::new();
    b.run(&cache, 0, "out");
    b.run(&cache, 1, "out");
    // The source's result is gone (pruned): the child hits without the source being made,
    // because the reader's key was settled from the source's key before.
    let (src_key, _) = KeyBuilder::new("source", 1).u64("bust", 1).finish();
    assert!(cache.remove(&src_key));
    let (value, execs) = b.run(&cache, 1, "out");
    assert_eq!(value, "out+reader+child");
    assert!(execs.is_empty(), "ran {execs:?}");
}
