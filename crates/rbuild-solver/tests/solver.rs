//! Issue #1 "Solver, cache and build context": scheduler behaviour with toy ops.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rbuild_solver::{
    solve, solve_with_cancel, CancelToken, Graph, MemoryCache, NoopObserver, SolveError,
    SolveOptions, VertexId,
};
use support::{Behavior, Counters, Recorder, Toy};

fn opts(jobs: usize) -> SolveOptions {
    SolveOptions::new(jobs)
}

#[test]
fn independent_vertices_run_in_parallel() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    // Each leaf finishes only once all four have run at the same time.
    let leaves: Vec<VertexId> = (0..4)
        .map(|i| {
            g.add(
                Toy::new(&format!("s{i}"), &c).behave(Behavior::Meet(4)),
                vec![],
            )
        })
        .collect();
    let join = g.add(Toy::new("join", &c), leaves);
    let out = solve(&g, &[join], &MemoryCache::new(), &opts(4), &NoopObserver).unwrap();
    assert_eq!(out, vec!["join(s0(),s1(),s2(),s3())".to_string()]);
    assert_eq!(c.max_running.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(c.execs().len(), 5);
}

#[test]
fn a_chain_runs_on_one_thread_however_many_jobs_are_allowed() {
    // Workers start as tasks wait for them: a chain (every step of a one-stage Dockerfile)
    // never has two tasks at once, so it needs one thread, cold or cached.
    let cache = MemoryCache::new();
    for round in ["cold", "cached"] {
        let c = Arc::new(Counters::default());
        let mut g = Graph::new();
        let mut last = g.add(Toy::new("s0", &c), vec![]);
        for i in 1..6 {
            last = g.add(Toy::new(&format!("s{i}"), &c), vec![last]);
        }
        solve(&g, &[last], &cache, &opts(8), &NoopObserver).unwrap();
        let execs = if round == "cold" { 6 } else { 0 };
        assert_eq!(c.execs().len(), execs, "{round}");
        assert_eq!(c.threads.lock().unwrap().len(), 1, "{round}");
    }
}

#[test]
fn jobs_one_never_runs_two_at_once() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let targets: Vec<VertexId> = (0..4)
        .map(|i| g.add(Toy::new(&format!("s{i}"), &c).sleep_ms(30), vec![]))
        .collect();
    solve(&g, &targets, &MemoryCache::new(), &opts(1), &NoopObserver).unwrap();
    assert_eq!(c.execs().len(), 4);
    assert_eq!(c.max_running.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn bounded_parallelism_caps_running_ops() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    // Two must run at once before any finishes; a third never joins them.
    let targets: Vec<VertexId> = (0..6)
        .map(|i| {
            g.add(
                Toy::new(&format!("s{i}"), &c)
                    .behave(Behavior::Meet(2))
                    .sleep_ms(20),
                vec![],
            )
        })
        .collect();
    solve(&g, &targets, &MemoryCache::new(), &opts(2), &NoopObserver).unwrap();
    assert_eq!(c.max_running.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(c.execs().len(), 6);
}

#[test]
fn identical_vertices_exec_once() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let base = g.add(Toy::new("base", &c), vec![]);
    // Same key (same args and parent), different identities: one exec serves both.
    let mut a = Toy::new("stage a / step 1", &c);
    a.args = vec![("cmd".into(), "make".into())];
    let mut b = a.clone();
    b.identity = "stage b / step 1".into();
    let va = g.add(a, vec![base]);
    let vb = g.add(b, vec![base]);
    let cache = MemoryCache::new();
    let rec = Recorder::default();
    let out = solve(&g, &[va, vb], &cache, &opts(4), &rec).unwrap();
    assert_eq!(out[0], out[1]);
    // Either vertex may win the race; exactly one executes and the other is served from it.
    let execs = c.execs();
    assert_eq!(execs.len(), 2, "{execs:?}");
    assert_eq!(execs[0], "base");
    let loser = if execs[1] == "stage a / step 1" {
        vb
    } else {
        va
    };
    assert!(rec.cached().contains(&loser), "{execs:?}");
    // Both identities now have a record, so neither reports "no previous record" later.
    use rbuild_solver::CacheStorage;
    assert!(cache.last_components("stage a / step 1").is_some());
    assert!(cache.last_components("stage b / step 1").is_some());
}

#[test]
fn failure_cancels_the_rest_and_reports_first_error() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    // `fail` fails once all four leaves run, so the others are mid-flight when it does:
    // `late-fail` fails and `slow` finishes only after the cancellation.
    let fail = g.add(
        Toy::new("fail", &c).behave(Behavior::FailAfterMeet(4)),
        vec![],
    );
    let late_fail = g.add(
        Toy::new("late-fail", &c).behave(Behavior::UntilCancelled),
        vec![],
    );
    let long = g.add(
        Toy::new("long", &c).behave(Behavior::UntilCancelled),
        vec![],
    );
    let slow = g.add(
        Toy::new("slow", &c).behave(Behavior::OkWhenCancelled),
        vec![],
    );
    let after: Vec<VertexId> = (0..3)
        .map(|i| g.add(Toy::new(&format!("after{i}"), &c), vec![slow]))
        .collect();
    let mut targets = vec![fail, late_fail, long];
    targets.extend(after);
    let cache = MemoryCache::new();
    let err = solve(&g, &targets, &cache, &opts(4), &NoopObserver).unwrap_err();
    match err {
        SolveError::Op { vertex, error } => {
            assert_eq!(vertex, fail);
            assert_eq!(error.to_string(), "toy fail failed");
        }
        other => panic!("unexpected {other}"),
    }
    let execs = c.execs();
    assert!(
        !execs.iter().any(|e| e.starts_with("after")),
        "started after cancel: {execs:?}"
    );
    // Both running ops saw the cancellation (one that ignored it would have run 5 s and not
    // be listed here).
    let mut saw = c.saw_cancel.lock().unwrap().clone();
    saw.sort();
    assert_eq!(saw, vec!["late-fail".to_string(), "long".to_string()]);
    // The op that was running finished; its valid result is still recorded.
    use rbuild_solver::CacheStorage;
    assert!(cache.last_components("slow").is_some());
}

#[test]
fn panicking_op_is_reported_not_propagated() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let p = g.add(Toy::new("boom", &c).behave(Behavior::Panic), vec![]);
    match solve(&g, &[p], &MemoryCache::new(), &opts(2), &NoopObserver) {
        Err(SolveError::Panicked { vertex, message }) => {
            assert_eq!(vertex, p);
            assert!(message.contains("boom panicked"));
        }
        other => panic!("unexpected {:?}", other.map_err(|e| e.to_string())),
    }
}

#[test]
fn outside_cancellation_returns_cancelled() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let long = g.add(
        Toy::new("long", &c).behave(Behavior::UntilCancelled),
        vec![],
    );
    let token = CancelToken::new();
    let t2 = token.clone();
    let counters = c.clone();
    // Cancels once the op runs, so it is the running op that must notice.
    let canceller = std::thread::spawn(move || {
        while Toy::running(&counters) == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        t2.cancel();
    });
    let err = solve_with_cancel(
        &g,
        &[long],
        &MemoryCache::new(),
        &opts(2),
        &NoopObserver,
        &token,
    )
    .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, SolveError::Cancelled), "got {err}");
}

#[test]
fn graph_errors() {
    let c = Arc::new(Counters::default());
    let mut g = Graph::new();
    let a = g.add(Toy::new("a", &c), vec![VertexId(1)]);
    let b = g.add(Toy::new("b", &c), vec![a]);
    let cache = MemoryCache::new();
    assert!(matches!(
        solve(&g, &[b], &cache, &opts(1), &NoopObserver),
        Err(SolveError::Cycle)
    ));
    let d = g.add(Toy::new("d", &c), vec![VertexId(99)]);
    assert!(matches!(
        solve(&g, &[d], &cache, &opts(1), &NoopObserver),
        Err(SolveError::UnknownVertex(VertexId(99)))
    ));
    assert!(c.execs().is_empty());
}
