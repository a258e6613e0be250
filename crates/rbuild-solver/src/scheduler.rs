//! The coordinator: owns all per-vertex state, hands tasks to a pool of up to `jobs` workers, and
//! reacts to their outcomes. Keys are computed first (from input keys only); values are
//! demanded lazily from the targets down, so a cache hit never touches its ancestors.

use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;

use crate::cache::CacheStorage;
use crate::coordinator::Coordinator;
use crate::error::SolveError;
use crate::graph::{Graph, VertexId};
use crate::op::{CancelToken, Observer, Op};
use crate::pool::Pool;
use crate::worker::Worker;

/// How a solve runs.
pub struct SolveOptions {
    /// Most ops running at once (0 counts as 1).
    pub jobs: usize,
    /// Vertices whose cache lookup is bypassed; their results are still recorded.
    pub no_cache: Box<dyn Fn(VertexId) -> bool + Send + Sync>,
}

impl SolveOptions {
    /// `jobs` workers, cache lookups everywhere.
    pub fn new(jobs: usize) -> Self {
        SolveOptions {
            jobs,
            no_cache: Box::new(|_| false),
        }
    }

    /// Replaces the no-cache predicate.
    pub fn with_no_cache(mut self, f: impl Fn(VertexId) -> bool + Send + Sync + 'static) -> Self {
        self.no_cache = Box::new(f);
        self
    }
}

impl Default for SolveOptions {
    /// One job per available CPU, cache lookups everywhere.
    fn default() -> Self {
        Self::new(thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// Computes the values of `targets` (in the same order).
pub fn solve<O: Op>(
    graph: &Graph<O>,
    targets: &[VertexId],
    cache: &dyn CacheStorage<O::Value>,
    opts: &SolveOptions,
    observer: &dyn Observer,
) -> Result<Vec<O::Value>, SolveError<O::Error>> {
    solve_with_cancel(graph, targets, cache, opts, observer, &CancelToken::new())
}

/// Like [`solve`], but `cancel` can stop it from outside (then [`SolveError::Cancelled`]).
pub fn solve_with_cancel<O: Op>(
    graph: &Graph<O>,
    targets: &[VertexId],
    cache: &dyn CacheStorage<O::Value>,
    opts: &SolveOptions,
    observer: &dyn Observer,
    cancel: &CancelToken,
) -> Result<Vec<O::Value>, SolveError<O::Error>> {
    let order = graph.topo_order(targets)?;
    let jobs = opts.jobs.clamp(1, order.len().max(1));
    let (task_tx, task_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let task_rx = Mutex::new(task_rx);
    // Ops see a token of their own: an op failure must not cancel the caller's token.
    let worker = Worker {
        graph,
        cache,
        observer,
        cancel: CancelToken::new(),
    };
    thread::scope(|s| {
        let (worker, task_rx) = (&worker, &task_rx);
        let start = move || {
            let result_tx = result_tx.clone();
            thread::Builder::new()
                .spawn_scoped(s, move || worker.run(task_rx, &result_tx))
                .map(drop)
        };
        let pool = Pool::new(jobs, Box::new(start));
        let mut coord = Coordinator::new(worker, opts, order, task_tx, pool);
        coord.run(targets, &result_rx, cancel)
        // `coord` (and with it the task sender) drops here, so the workers exit and join.
    })
}
