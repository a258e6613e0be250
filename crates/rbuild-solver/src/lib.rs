//! Generic DAG scheduler and cache over an [`Op`] trait.
//!
//! Keys first, values lazily: each vertex's [`CacheKey`] is computed from its op and its
//! inputs' keys; values are demanded from the targets down, so a cache hit never executes
//! the vertices behind it. Independent work runs on `jobs` std threads, identical work (same
//! key) runs once, and the first failure cancels the rest. Knows nothing of files or OCI.

mod cache;
mod coordinator;
mod error;
mod graph;
mod key;
mod op;
mod scheduler;
mod worker;

pub use cache::{explain_miss, CacheStorage, MemoryCache};
pub use error::{KeyParseError, SolveError};
pub use graph::{Graph, VertexId};
pub use key::{CacheKey, Components, KeyBuilder, KEY_FORMAT, KIND_COMPONENT};
pub use op::{CancelToken, Event, ExecContext, MissReason, NoopObserver, Observer, Op};
pub use scheduler::{solve, solve_with_cancel, SolveOptions};
