//! The op trait the solver schedules, the context an exec sees, and progress events.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::graph::VertexId;
use crate::key::{CacheKey, Components};

/// One unit of work in the graph. The solver knows nothing else about it.
pub trait Op: Send + Sync {
    /// The result of the work, handed to the vertices that use it.
    type Value: Clone + Send + Sync;
    /// The op's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stable identity for explaining misses (same step across builds).
    fn identity(&self) -> String;

    /// Cache key from the inputs' keys; may do I/O (e.g. hashing sources).
    fn cache_key(&self, input_keys: &[CacheKey]) -> Result<(CacheKey, Components), Self::Error>;

    /// Inputs (by index) whose content, not their key, decides this op's result: a step that
    /// reads a file of another stage hits the cache when that file is the same, however the
    /// stage was made (BuildKit's content-based cache of read-only mounts). Empty for most.
    fn content_inputs(&self) -> Vec<usize> {
        Vec::new()
    }

    /// A digest of what this op reads of input `index`, whose value is `value`; called only
    /// for the indices of [`content_inputs`](Self::content_inputs).
    fn content_key(&self, index: usize, value: &Self::Value) -> Result<CacheKey, Self::Error> {
        let _ = value;
        Ok(crate::KeyBuilder::new("content-unused", 1)
            .u64("index", index as u64)
            .finish()
            .0)
    }

    /// Whether a result may be stored/looked up in the persistent cache (false for e.g.
    /// base-image resolution).
    fn cacheable(&self) -> bool {
        true
    }

    /// Does the work given the inputs' values.
    fn exec(&self, inputs: &[Self::Value], ctx: &ExecContext) -> Result<Self::Value, Self::Error>;
}

/// A shared cancellation flag; clones observe the same flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation; running ops see it through [`ExecContext::is_cancelled`].
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What an executing op may know about its surroundings.
#[derive(Debug, Clone)]
pub struct ExecContext {
    vertex: VertexId,
    cancel: CancelToken,
}

impl ExecContext {
    /// A context for `vertex` observing `cancel` (public so ops can be tested alone).
    pub fn new(vertex: VertexId, cancel: CancelToken) -> Self {
        ExecContext { vertex, cancel }
    }

    /// The vertex being executed.
    pub fn vertex(&self) -> VertexId {
        self.vertex
    }

    /// Whether the solve is being cancelled; long ops should poll this and stop early.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The solve's token, to hand to helpers (e.g. a process waiter) that poll it.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }
}

/// Why a vertex had to be executed rather than taken from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// Lookups are bypassed for this vertex (`--no-cache`, `--no-cache-filter`).
    NoCache,
    /// Lookups are bypassed for an ancestor, which is re-run, so this vertex is too.
    InputNoCache,
    /// The op is never cached (e.g. resolving a base image).
    NotCacheable,
    /// Nothing was ever recorded under this vertex's identity.
    NoPreviousRecord,
    /// The first component whose value differs from the last record under the same identity.
    Changed {
        /// Component name, e.g. `arg:VERSION`, `parent`.
        name: String,
        /// Its shown value in the last record.
        old: String,
        /// Its shown value now.
        new: String,
    },
    /// A component that the last record did not have.
    Added {
        /// Component name.
        name: String,
    },
    /// A component of the last record that is gone.
    Removed {
        /// Component name.
        name: String,
    },
    /// Same components as the last record, but its result is no longer stored (e.g. pruned).
    RecordMissing,
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::NoCache => f.write_str("cache disabled"),
            MissReason::InputNoCache => f.write_str("cache disabled for an input"),
            MissReason::NotCacheable => f.write_str("not cacheable"),
            MissReason::NoPreviousRecord => f.write_str("no previous record"),
            MissReason::Changed { name, .. } if name == "parent" => f.write_str("parent changed"),
            MissReason::Changed { name, .. } => write!(f, "input {name:?} changed"),
            MissReason::Added { name } => write!(f, "input {name:?} added"),
            MissReason::Removed { name } => write!(f, "input {name:?} removed"),
            MissReason::RecordMissing => f.write_str("previous result no longer stored"),
        }
    }
}

/// Progress of one vertex.
#[derive(Debug, Clone)]
pub enum Event {
    /// The op's exec began (after its inputs were ready and a job slot was free).
    Started(VertexId),
    /// The value came from the cache, or from an identical vertex of this solve.
    Cached(VertexId),
    /// The vertex will be executed, and why.
    Miss(VertexId, MissReason),
    /// The exec succeeded after the given time.
    Done(VertexId, Duration),
    /// Computing the key or executing failed (or stopped after cancellation).
    Failed(VertexId),
}

/// Receives progress events; called from worker threads.
pub trait Observer: Send + Sync {
    /// One event.
    fn event(&self, ev: Event);
}

impl<F: Fn(Event) + Send + Sync> Observer for F {
    fn event(&self, ev: Event) {
        self(ev)
    }
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn event(&self, _ev: Event) {}
}
