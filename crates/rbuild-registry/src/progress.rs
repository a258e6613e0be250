//! Progress of a pull, for the builder's output: which reference is being resolved, how far
//! each layer is, and why something is being tried again (instead of silence).

use std::sync::Arc;

use rbuild_oci::Digest;

/// Layer progress is reported at most once per this many bytes (and at start and end).
pub(crate) const LAYER_STEP: u64 = 1 << 20;

/// What a pull is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullEvent {
    /// Asking `host` for the manifest of `reference`.
    Resolving {
        /// The reference being pulled.
        reference: String,
        /// The registry or mirror asked.
        host: String,
    },
    /// Bytes of one layer received so far (0 when it starts, `size` when it is complete).
    Layer {
        /// Position of the layer, from 1 (bottom) to `count`.
        index: usize,
        /// Layers in the image.
        count: usize,
        /// Layer digest.
        digest: Digest,
        /// Bytes received.
        received: u64,
        /// Layer size.
        size: u64,
    },
    /// A request or transfer failed transiently and is about to be tried again.
    Retrying {
        /// What is retried (`GET <url>`, `blob <digest>`).
        what: String,
        /// Attempt about to be made (2 = first retry).
        attempt: u32,
        /// What failed (never a credential).
        reason: String,
    },
}

/// Receives [`PullEvent`]s; called on the pulling task, so it must return quickly.
pub type ProgressFn = Arc<dyn Fn(PullEvent) + Send + Sync>;
