//! What an import needs from a layout, whichever way it came in. Both ways in keep the same
//! rules: only regular files count (a symlink or device where a file belongs is refused),
//! blobs are found only as `blobs/sha256/<hex>` of a parsed digest, JSON is size-capped, and
//! every blob is hashed into the [`Stage`] and checked before anything is committed.

use std::path::{Path, PathBuf};

use rbuild_oci::{Digest, Index};

use super::stage::Stage;
use super::LayoutError;
use crate::blobs::MAX_JSON_BLOB;

/// `oci-layout` is a one-line JSON document.
pub(crate) const MAX_LAYOUT_FILE: u64 = 64 << 10;

/// An OCI image layout being read: a directory, or the members of a tar stream.
pub(crate) trait Source {
    /// The layout, for messages: its directory, or "the archive".
    fn origin(&self) -> &Path;

    /// Where `name` (relative to the layout) is, for messages.
    fn describe(&self, name: &str) -> PathBuf;

    /// A regular file of the layout of at most `limit` bytes; `None` if there is none.
    fn file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, LayoutError>;

    /// The size of a blob the layout has (as a regular file), `None` if it has none.
    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, LayoutError>;

    /// A whole blob of at most `limit` bytes, verified against its digest.
    fn blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, LayoutError>;

    /// Makes sure the blob is in the stage, verified against its digest and `size`.
    fn stage(&mut self, digest: &Digest, size: Option<u64>) -> Result<(), LayoutError>;

    /// The staged blobs, to commit.
    fn staged(&mut self) -> &mut Stage;

    /// Where a blob lives, for messages.
    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.describe(&format!("blobs/sha256/{}", digest.hex()))
    }

    /// The error for a blob the layout lacks.
    fn missing(&self, digest: &Digest) -> LayoutError {
        LayoutError::BlobMissing {
            path: self.blob_path(digest),
            digest: digest.clone(),
        }
    }
}

/// Checks the `oci-layout` file: present, and of a 1.x version.
pub(crate) fn check_layout_file(src: &dyn Source) -> Result<(), LayoutError> {
    let not_layout = |reason| LayoutError::NotALayout {
        path: src.origin().to_path_buf(),
        reason,
    };
    let bytes = src
        .file("oci-layout", MAX_LAYOUT_FILE)?
        .ok_or_else(|| not_layout("it has no oci-layout file"))?;
    let version = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_string));
    match version {
        Some(v) if v.starts_with("1.") => Ok(()),
        Some(version) => Err(LayoutError::Version {
            path: src.describe("oci-layout"),
            version,
        }),
        None => Err(not_layout("oci-layout has no imageLayoutVersion")),
    }
}

/// The layout's `index.json`.
pub(crate) fn read_index(src: &dyn Source) -> Result<Index, LayoutError> {
    let bytes = src
        .file("index.json", MAX_JSON_BLOB)?
        .ok_or_else(|| LayoutError::NotALayout {
            path: src.origin().to_path_buf(),
            reason: "it has no index.json",
        })?;
    serde_json::from_slice(&bytes).map_err(|source| LayoutError::Json {
        path: src.describe("index.json"),
        what: "image index",
        source,
    })
}

/// Parses a blob's JSON, naming the blob on failure.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    src: &dyn Source,
    digest: &Digest,
    bytes: &[u8],
    what: &'static str,
) -> Result<T, LayoutError> {
    serde_json::from_slice(bytes).map_err(|source| LayoutError::Json {
        path: src.blob_path(digest),
        what,
        source,
    })
}

/// Parses a layout file or archive member, naming it on failure.
pub(crate) fn parse_member<T: serde::de::DeserializeOwned>(
    name: &str,
    bytes: &[u8],
    what: &'static str,
) -> Result<T, LayoutError> {
    serde_json::from_slice(bytes).map_err(|source| LayoutError::Json {
        path: PathBuf::from(name),
        what,
        source,
    })
}
