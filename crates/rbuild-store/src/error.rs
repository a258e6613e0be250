//! The store's error type.

use std::io;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

/// Anything that can go wrong in the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Content did not hash to the digest it was expected to have.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: Digest,
        /// The digest of the bytes actually written or read.
        actual: Digest,
    },
    /// Content did not have the size it was expected to have.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of the bytes actually written or read.
        digest: Digest,
        /// The expected size.
        expected: u64,
        /// The actual size.
        actual: u64,
    },
    /// A stored blob does not match its digest or size.
    #[error(
        "blob {digest} in the store is damaged ({why}); run `rbuild store check --repair` to \
         drop it (the next build or pull fetches it again)"
    )]
    CorruptBlob {
        /// The blob.
        digest: Digest,
        /// What is wrong with it.
        why: String,
    },
    /// A blob is not in the store.
    #[error("blob {0} is not in the store")]
    BlobNotFound(Digest),
    /// A blob is too large to be read into memory as JSON.
    #[error(
        "blob {digest} is {size} bytes, larger than the {limit}-byte limit for manifests, indexes \
         and image configs"
    )]
    BlobTooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A JSON document in the store or an archive is malformed.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// Which document (a path or a digest).
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The cache database failed.
    #[error("cache database {path}: {source}")]
    Db {
        /// Path of cache.db.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The cache database is damaged.
    #[error(
        "cache database {path} is damaged ({why}); run `rbuild store check --repair` (it \
         rebuilds the cache empty: only cached work is lost)"
    )]
    DbCorrupt {
        /// Path of cache.db.
        path: PathBuf,
        /// What SQLite said.
        why: String,
    },
    /// `index.json` (the tags) cannot be read.
    #[error(
        "{path} is damaged ({why}); run `rbuild store check --repair` (it keeps the tags it \
         can read)"
    )]
    IndexCorrupt {
        /// Path of index.json.
        path: PathBuf,
        /// Why it cannot be read.
        why: String,
    },
    /// The store was written by a newer rbuild.
    #[error(
        "store {root} has format version {found}, newer than this rbuild supports ({supported}); \
         upgrade rbuild or point RBUILD_ROOT at another directory"
    )]
    FormatTooNew {
        /// Store root.
        root: PathBuf,
        /// Version found in cache.db.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// The store's format version is not one we can migrate from.
    #[error(
        "store {root} has format version {found}, which this rbuild cannot migrate \
         (supported: {supported}); remove the store or point RBUILD_ROOT elsewhere"
    )]
    FormatUnsupported {
        /// Store root.
        root: PathBuf,
        /// Version found in cache.db.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// A tag name cannot be stored.
    #[error("invalid tag name {0:?}: must be non-empty and contain no control characters")]
    InvalidTag(String),
    /// A snapshot source is not a directory.
    #[error("snapshot source {0} is not a directory")]
    NotADirectory(PathBuf),
    /// Prune cannot tell what tagged content keeps alive.
    #[error("prune refused: tagged content {digest} is unreadable ({why}); run a store check")]
    PruneRefused {
        /// The unreadable blob.
        digest: Digest,
        /// Why it could not be read.
        why: String,
    },
    /// An output destination is a directory.
    #[error("{0} is a directory: give a file name (or - for standard output)")]
    OutputIsDirectory(PathBuf),
    /// An output destination is a kind of file rbuild does not write into.
    #[error("refusing to write {path}: {why}")]
    OutputRefused {
        /// The destination.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// An archive is malformed or inconsistent.
    #[error("archive: {0}")]
    Archive(String),
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    /// Converts the error into `StoreError::Io` naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
