//! Why a cache mount cannot be exported or imported.

use std::path::PathBuf;

use rbuild_oci::Digest;

use crate::StoreError;

/// A failed cache-mount export or import. Nothing of a failed import is left in place.
#[derive(Debug, thiserror::Error)]
pub enum CacheMountError {
    /// `--id` names no cache mount of the store.
    #[error("no cache mount with id {0:?} (see `rbuild cache ls`)")]
    NoSuchMount(String),
    /// The artifact has no mount with this id.
    #[error("{source_name} has no cache mount with id {id:?}")]
    NotInArtifact {
        /// The mount id asked for.
        id: String,
        /// Where the artifact came from.
        source_name: String,
    },
    /// A build is using the mount: it is not replaced.
    #[error("cache mount {0:?} is in use by a build: not replaced (retry when it is done)")]
    Busy(String),
    /// A file name or link target cannot be carried (the format stores UTF-8 text).
    #[error("cannot export {path}: its name or link target is not UTF-8")]
    NotUtf8 {
        /// The entry.
        path: PathBuf,
    },
    /// An entry of an artifact would write outside its mount or through a link, or
    /// contradicts the rest of the mount.
    #[error("cache mount {id:?}: refusing entry {path:?}: {why}")]
    Unsafe {
        /// The mount.
        id: String,
        /// The entry's path as the artifact gives it.
        path: String,
        /// Why.
        why: String,
    },
    /// The artifact is not a well-formed cache-mount export.
    #[error("{what}: {why}")]
    Invalid {
        /// Which document.
        what: String,
        /// What is wrong with it.
        why: String,
    },
    /// A blob's bytes do not hash to its digest or have another size.
    #[error("blob {digest} from {source_name} is not what its descriptor says: {why}")]
    Mismatch {
        /// The blob.
        digest: Digest,
        /// Where it came from.
        source_name: String,
        /// What differs.
        why: String,
    },
    /// A piece of a file does not hash to the digest its entry gives.
    #[error(
        "cache mount {id:?}: the bytes for {path:?} at offset {at} do not hash to {digest} (the \
         artifact is damaged, or was exported on top of a damaged one)"
    )]
    PieceMismatch {
        /// The mount.
        id: String,
        /// The file.
        path: String,
        /// Where in the file.
        at: u64,
        /// The digest the entry gives.
        digest: Digest,
    },
    /// Fetching a document or blob failed.
    #[error("cannot fetch {what} from {source_name}")]
    Fetch {
        /// The document or blob.
        what: String,
        /// Where from.
        source_name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading or writing a file failed.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Attaches a path to an I/O error.
pub(crate) trait At<T> {
    /// The error as [`CacheMountError::Io`] naming `path`.
    fn at(self, path: &std::path::Path) -> Result<T, CacheMountError>;
}

impl<T, E: Into<std::io::Error>> At<T> for Result<T, E> {
    fn at(self, path: &std::path::Path) -> Result<T, CacheMountError> {
        self.map_err(|e| CacheMountError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })
    }
}
