//! Issue #1 "Solver, cache and build context": persistent-cache behaviour with toy ops.

mod support;

use std::sync::Arc;

use rbuild_solver::{solve, Graph, MemoryCache, SolveOptions, VertexId};
use support::{Behavior, Counters, Recorder, Toy};

/// base -> mid (arg:VERSION) -> top (file:src/main.rs); returns (graph, [base, mid, top]).
fn chain(c: &Arc<Counters>, version: &str, file: &str) -> (Graph<Toy>, [VertexId; 3]) {
    let mut g = Graph::new();
    let base = g.add(Toy::new("stage build / step 1", c), vec![]);
    let mid = g.add(
        Toy::new("stage build / step 2", c).arg("arg:VERSION", version),
        vec![base],
    );
    let top = g.add(
        Toy::new("stage build / step 3", c).arg("file:src/main.rs", file),
        vec![mid],
    );
    (g, [base, mid, top])
}

#[test]
fn restart_with_same_storage_executes_nothing() {
    let cache = MemoryCache::new();
    let first = Arc::new(Counters::default());
    let (g, [_, _, top]) = chain(&first, "1", "fn main");
    let out1 = solve(
        &g,
        &[top],
        &cache,
        &SolveOptions::new(2),
        &Recorder::default(),
    )
    .unwrap();
    assert_eq!(first.execs().len(), 3);

    // A new graph of new op instances, as after a process restart.
    let second = Arc::new(Counters::default());
    let (g, v) = chain(&second, "1", "fn main");
    let rec = Recorder::default();
    let out2 = solve(&g, &[v[2]], &cache, &SolveOptions::new(2), &rec).unwrap();
    assert_eq!(out1, out2);
    assert!(second.execs().is_empty());
    let mut cached = rec.cached();
    cached.sort();
    assert_eq!(cached, v.to_vec(), "every step reported cached");
}

#[test]
fn child_hit_skips_its_parents() {
    let cache = MemoryCache::new();
    let first = Arc::new(Counters::default());
    let (g, [base, mid, top]) = chain(&first, "1", "fn main");
    solve(
        &g,
        &[top],
        &cache,
        &SolveOptions::new(2),
        &Recorder::default(),
    )
    .unwrap();
    // Drop the parents' results: only the top's record can satisfy the build.
    let keys: Vec<_> = [base, mid].iter().map(|v| key_of(&g, *v)).collect();
    for k in &keys {
        assert!(cache.remove(k));
    }
    let second = Arc::new(Counters::default());
    let (mut g, v) = chain(&second, "1", "fn main");
    // Parents that would fail if executed prove they are never executed.
    replace(
        &mut g,
        v[0],
        Toy::new("stage build / step 1", &second).behave(Behavior::Fail),
    );
    let out = solve(
        &g,
        &[v[2]],
        &cache,
        &SolveOptions::new(2),
        &Recorder::default(),
    )
    .unwrap();
    assert_eq!(
        out,
        vec!["stage build / step 3(stage build / step 2(stage build / step 1()))".to_string()]
    );
    assert!(second.execs().is_empty());
}

#[test]
fn miss_names_first_differing_component() {
    let cache = MemoryCache::new();
    let c = Arc::new(Counters::default());
    let (g, v) = chain(&c, "1", "fn main");
    let rec = Recorder::default();
    solve(&g, &[v[2]], &cache, &SolveOptions::new(2), &rec).unwrap();
    assert_eq!(rec.miss(v[0]).as_deref(), Some("no previous record"));

    let (g, v) = chain(&c, "2", "fn main");
    let rec = Recorder::default();
    solve(&g, &[v[2]], &cache, &SolveOptions::new(2), &rec).unwrap();
    assert!(rec.cached().contains(&v[0]));
    assert_eq!(
        rec.miss(v[1]).as_deref(),
        Some("input \"arg:VERSION\" changed")
    );
    assert_eq!(rec.miss(v[2]).as_deref(), Some("parent changed"));

    let (g, v) = chain(&c, "2", "fn main() {}");
    let rec = Recorder::default();
    solve(&g, &[v[2]], &cache, &SolveOptions::new(2), &rec).unwrap();
    assert_eq!(
        rec.miss(v[2]).as_deref(),
        Some("input \"file:src/main.rs\" changed")
    );
    assert_eq!(rec.miss(v[1]), None, "cached steps report no miss");
}

#[test]
fn no_cache_bypasses_lookup_but_records() {
    let cache = MemoryCache::new();
    let c = Arc::new(Counters::default());
    let (g, v) = chain(&c, "1", "x");
    solve(
        &g,
        &[v[2]],
        &cache,
        &SolveOptions::new(2),
        &Recorder::default(),
    )
    .unwrap();
    let before = c.execs().len();
    let mid = v[1];
    let opts = SolveOptions::new(2).with_no_cache(move |id| id == mid);
    let rec = Recorder::default();
    solve(&g, &[v[2]], &cache, &opts, &rec).unwrap();
    // The bypassed step re-runs, and so does its child (a hit there would reuse a result
    // made from the old value); the parent still hits.
    assert_eq!(
        c.execs()[before..],
        [
            "stage build / step 2".to_string(),
            "stage build / step 3".to_string()
        ]
    );
    assert_eq!(rec.miss(mid).as_deref(), Some("cache disabled"));
    assert_eq!(
        rec.miss(v[2]).as_deref(),
        Some("cache disabled for an input")
    );
    assert!(rec.cached().contains(&v[0]));
}

#[test]
fn not_cacheable_ops_always_run_and_are_never_saved() {
    let cache = MemoryCache::new();
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let mut resolve = Toy::new("resolve base", &c);
    resolve.cacheable = false;
    let r = g.add(resolve, vec![]);
    for _ in 0..2 {
        let rec = Recorder::default();
        solve(&g, &[r], &cache, &SolveOptions::new(1), &rec).unwrap();
        assert_eq!(rec.miss(r).as_deref(), Some("not cacheable"));
    }
    assert_eq!(c.execs().len(), 2);
    assert!(cache.is_empty());
}

fn key_of(g: &Graph<Toy>, v: VertexId) -> rbuild_solver::CacheKey {
    use rbuild_solver::Op;
    let inputs: Vec<_> = g.inputs(v).unwrap().iter().map(|i| key_of(g, *i)).collect();
    g.op(v).unwrap().cache_key(&inputs).unwrap().0
}

fn replace(g: &mut Graph<Toy>, v: VertexId, op: Toy) {
    let mut fresh = Graph::new();
    for i in 0..g.len() {
        let id = VertexId(i);
        let o = if id == v {
            op.clone()
        } else {
            g.op(id).unwrap().clone()
        };
        fresh.add(o, g.inputs(id).unwrap().to_vec());
    }
    *g = fresh;
}
