//! Errors of the solver.

use crate::graph::VertexId;

/// Why a solve did not produce its targets' values.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<E> {
    /// The first op that failed (computing its key or executing), with its vertex.
    #[error("vertex {vertex}: {error}")]
    Op {
        /// The vertex whose op failed first.
        vertex: VertexId,
        /// The op's own error.
        #[source]
        error: E,
    },
    /// The solve was cancelled from outside before any op failed.
    #[error("build cancelled")]
    Cancelled,
    /// The vertices reachable from the targets do not form a DAG.
    #[error("the build graph has a cycle")]
    Cycle,
    /// A target or an input names a vertex that is not in the graph.
    #[error("unknown vertex {0}")]
    UnknownVertex(VertexId),
    /// Not even one worker thread could be started.
    #[error("could not start a solver thread")]
    NoWorker(#[source] std::io::Error),
    /// An op panicked; the panic was caught so the other workers could stop cleanly.
    #[error("vertex {vertex}: op panicked: {message}")]
    Panicked {
        /// The vertex whose op panicked.
        vertex: VertexId,
        /// The panic payload, when it was text.
        message: String,
    },
}

/// Text that is not a canonical `sha256:<64 lowercase hex>` cache key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cache key {text:?}: expected sha256:<64 lowercase hex digits>")]
pub struct KeyParseError {
    /// The rejected text.
    pub text: String,
}
