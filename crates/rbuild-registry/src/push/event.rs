//! What a push reports: progress events, and how each blob got there.

use rbuild_oci::Digest;

/// Receives [`PushEvent`]s; called on the pushing task, so it must return quickly.
pub type PushProgress<'a> = &'a (dyn Fn(PushEvent) + Send + Sync);

/// What a push is doing, for progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// The blob is already in the target repository.
    Exists {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// The blob was mounted from another repository of the same registry.
    Mounted {
        /// Blob digest.
        digest: Digest,
        /// Source repository.
        from: String,
    },
    /// Upload of the blob starts.
    Uploading {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// Bytes of the blob the registry has acknowledged so far (per chunk).
    Progress {
        /// Blob digest.
        digest: Digest,
        /// Bytes acknowledged.
        sent: u64,
        /// Blob size.
        total: u64,
    },
    /// The blob is uploaded.
    Uploaded {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// An upload failed transiently and is being resumed or restarted.
    Retrying {
        /// Blob digest.
        digest: Digest,
        /// Attempt about to be made (2 = first retry).
        attempt: u32,
        /// What failed.
        reason: String,
    },
    /// A manifest (or index) was stored under `reference`.
    ManifestPushed {
        /// Manifest digest.
        digest: Digest,
        /// Tag or digest it was pushed as.
        reference: String,
    },
}

/// How a blob came to be in the target repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobPushed {
    /// It was there already.
    Exists,
    /// It was mounted from another repository of the same registry.
    Mounted {
        /// The repository it was mounted from.
        from: String,
    },
    /// It was uploaded.
    Uploaded {
        /// Bytes read into request bodies (more than its size when parts were sent again).
        sent: u64,
    },
}
