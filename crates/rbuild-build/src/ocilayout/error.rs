//! Why an `oci-layout://` build context cannot be used.

use std::path::PathBuf;

use rbuild_oci::Digest;
use rbuild_store::StoreError;

/// An OCI layout that is missing, malformed, tampered with or has no matching image.
#[derive(Debug, thiserror::Error)]
pub enum OciLayoutError {
    /// The directory is not an OCI image layout.
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout {
        /// The layout directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A file of the layout could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is a symlink, directory or device where a regular file belongs.
    #[error("{path} is not a regular file (symlinks and special files are refused)")]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// A JSON document is too large to load.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A JSON document does not parse.
    #[error("{path} is not a valid {what}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What it should be (`index.json`, `image manifest`, ...).
        what: &'static str,
        /// The parser's complaint.
        message: String,
    },
    /// No `index.json` entry carries the tag.
    #[error("tag {tag:?} not found in {path}/index.json (tags there: {available})")]
    TagNotFound {
        /// The layout directory.
        path: PathBuf,
        /// The tag asked for.
        tag: String,
        /// The names the index has.
        available: String,
    },
    /// Several different images carry the tag.
    #[error("tag {tag:?} names several images in {path}/index.json ({names}): add @sha256:DIGEST")]
    AmbiguousTag {
        /// The layout directory.
        path: PathBuf,
        /// The tag asked for.
        tag: String,
        /// The matching names.
        names: String,
    },
    /// A blob named by the index or a manifest is not in the layout.
    #[error("{path} is missing: the layout has no blob {digest}")]
    BlobMissing {
        /// Where it should be.
        path: PathBuf,
        /// Its digest.
        digest: Digest,
    },
    /// A blob does not match its digest or declared size.
    #[error("{path}: {source}")]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// The mismatch.
        source: StoreError,
    },
    /// A manifest, index, config or layer has a media type rbuild cannot use.
    #[error("{digest} in {path} has unsupported media type {media_type:?} (expected {expected})")]
    UnsupportedMediaType {
        /// The layout directory.
        path: PathBuf,
        /// The blob.
        digest: Digest,
        /// Its media type.
        media_type: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An image index offers nothing for the build's platform.
    #[error("image index {digest} in {path} has no image for {platform} (it has: {available})")]
    NoMatchingPlatform {
        /// The layout directory.
        path: PathBuf,
        /// The index.
        digest: Digest,
        /// The platform wanted.
        platform: String,
        /// What it offers.
        available: String,
    },
    /// Image indexes nest too deeply (or in a cycle).
    #[error("image indexes in {path} nest more than {depth} levels deep")]
    TooDeep {
        /// The layout directory.
        path: PathBuf,
        /// The limit.
        depth: usize,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}
