//! Generic DAG scheduler and cache over an [`Op`] trait.
//!
//! Keys first, values lazily: each vertex's [`CacheKey`] is computed from its op and its
//! inputs' keys; values are demanded from the targets down, so a cache hit never executes
//! the vertices behind it. Independent work runs on up to `jobs` std threads (started as work
//! waits for them), identical work (same key) runs once, and the first failure cancels the
//! rest. Knows nothing of files or OCI.
//!
//! `no_cache` flows down: since keys are made from input keys, not values, a child of a
//! re-run vertex could otherwise hit a record made from the old value. Results of bypassed
//! vertices are still saved. Ancestors left untouched because a descendant hit are reported
//! as [`Event::Cached`] at the end, so every step has a status, as in BuildKit's output.
//!
//! ```
//! use rbuild_solver::*;
//!
//! struct Add(u64);
//! impl Op for Add {
//!     type Value = u64;
//!     type Error = std::io::Error;
//!     fn identity(&self) -> String { format!("add {}", self.0) }
//!     fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), Self::Error> {
//!         let b = inputs.iter().fold(KeyBuilder::new("add", 1), |b, k| b.key("parent", k));
//!         Ok(b.u64("n", self.0).finish())
//!     }
//!     fn exec(&self, inputs: &[u64], _: &ExecContext) -> Result<u64, Self::Error> {
//!         Ok(inputs.iter().sum::<u64>() + self.0)
//!     }
//! }
//!
//! let mut g = Graph::new();
//! let a = g.add(Add(1), vec![]);
//! let b = g.add(Add(2), vec![a]);
//! let cache = MemoryCache::new();
//! let out = solve(&g, &[b], &cache, &SolveOptions::new(2), &NoopObserver).unwrap();
//! assert_eq!(out, vec![3]);
//! ```

mod cache;
mod coordinator;
mod error;
mod graph;
mod key;
mod op;
mod pool;
mod scheduler;
mod worker;

pub use cache::{explain_miss, CacheStorage, MemoryCache};
pub use error::{KeyParseError, SolveError};
pub use graph::{Graph, VertexId};
pub use key::{CacheKey, Components, KeyBuilder, KeyPart, KEY_FORMAT, KIND_COMPONENT};
pub use op::{CancelToken, Event, ExecContext, MissReason, NoopObserver, Observer, Op};
pub use scheduler::{solve, solve_with_cancel, SolveOptions};
