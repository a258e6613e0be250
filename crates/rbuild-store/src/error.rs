//! The store's error type.

use std::io;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

/// Anything that can go wrong in the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
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
    #[error("{what}: invalid JSON")]
    Json {
        /// Which document (a path or a digest).
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The cache database failed.
    #[error("cache database {path}")]
    Db {
        /// Path of cache.db.
        path: PathBuf,
        /// The SQLite error.
        #[source]
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
    /// Writing an export's archive stream failed.
    #[error("writing {what} of the archive")]
    ArchiveWrite {
        /// The member being written.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Copying a blob out of the store failed (a damaged blob, or the destination).
    #[error("copying blob {digest} to {path}")]
    CopyBlob {
        /// The blob.
        digest: Digest,
        /// Where it was being copied.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A blob an export needs cannot be read or parsed.
    #[error("blob {digest} is unreadable: {why}")]
    Unreadable {
        /// The blob.
        digest: Digest,
        /// Why (the rendered error).
        why: String,
    },
    /// A name cannot be a docker-archive `RepoTag`.
    #[error("{tag:?} cannot be a docker-archive RepoTag: it needs a tag and no digest")]
    RepoTag {
        /// The name.
        tag: String,
        /// Why it does not parse, if it does not.
        #[source]
        source: Option<rbuild_oci::ReferenceError>,
    },
    /// An image index has no image manifest to export.
    #[error("index {0} lists no image manifest")]
    NoImageManifest(Digest),
}

/// An error and its sources, as `anyhow` prints `{:#}`: `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_do_not_repeat_their_source() {
        let e = StoreError::Io {
            path: "/s/blobs".into(),
            source: io::Error::other("disk on fire"),
        };
        assert_eq!(e.to_string(), "/s/blobs");
        assert_eq!(error_chain(&e), "/s/blobs: disk on fire");
        let layout = crate::LayoutError::Blob {
            path: "blobs/sha256/x".into(),
            source: e,
        };
        assert_eq!(
            error_chain(&layout),
            "blobs/sha256/x: /s/blobs: disk on fire"
        );
    }
}
