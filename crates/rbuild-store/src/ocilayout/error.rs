//! Why a layout or archive cannot be read or imported.

use std::path::PathBuf;

use rbuild_oci::media_type::MediaTypeError;
use rbuild_oci::Digest;

use crate::StoreError;

/// An OCI layout (directory or tar) or docker-archive that is missing, malformed, tampered
/// with or has no matching image. Paths are the layout's files, or archive member names.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The layout directory cannot be opened.
    #[error("{path} is not an OCI image layout: cannot open the directory")]
    OpenDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The directory or archive is not an OCI image layout (nor a docker-archive).
    #[error("{path} is not an OCI image layout: {reason}")]
    NotALayout {
        /// The layout directory, or "the archive".
        path: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// `oci-layout` names a version rbuild does not read.
    #[error("{path} has unsupported imageLayoutVersion {version:?}")]
    Version {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version it names.
        version: String,
    },
    /// A file of the layout, or the archive stream, could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or member.
        path: PathBuf,
        /// The I/O error.
        #[source]
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
    #[error("{path} is not a valid {what}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What it should be (`image index`, `image manifest`, ...).
        what: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A manifest or index blob's type cannot be told, or is contradicted by its content.
    #[error("{path} is not a usable image manifest or index")]
    Detect {
        /// The blob.
        path: PathBuf,
        /// Why.
        #[source]
        source: MediaTypeError,
    },
    /// No `index.json` entry carries the tag.
    #[error("tag {tag:?} not found in {path}/index.json (tags there: {available})")]
    TagNotFound {
        /// The layout.
        path: PathBuf,
        /// The tag asked for.
        tag: String,
        /// The names the index has.
        available: String,
    },
    /// Several different images carry the tag.
    #[error("tag {tag:?} names several images in {path}/index.json ({names}): add @sha256:DIGEST")]
    AmbiguousTag {
        /// The layout.
        path: PathBuf,
        /// The tag asked for.
        tag: String,
        /// The matching names.
        names: String,
    },
    /// A blob (or archive member) something refers to is not there.
    #[error("{path} is missing: the layout has no blob {digest}")]
    BlobMissing {
        /// Where it should be.
        path: PathBuf,
        /// Its digest.
        digest: Digest,
    },
    /// A docker-archive member named by `manifest.json` is not in the archive.
    #[error("the archive has no member {name}")]
    MemberMissing {
        /// The member's path.
        name: String,
    },
    /// A chain of symlinks in an archive does not end.
    #[error("archive member {name}: too many links")]
    LinkLoop {
        /// The member's path.
        name: String,
    },
    /// A blob does not match its digest or declared size.
    #[error("{path}")]
    Blob {
        /// The blob file or member.
        path: PathBuf,
        /// The mismatch.
        #[source]
        source: StoreError,
    },
    /// A blob an image needs cannot be read or parsed.
    #[error("blob {digest} is unreadable: {why}")]
    Unreadable {
        /// The blob.
        digest: Digest,
        /// Why (the rendered error).
        why: String,
    },
    /// A manifest, index, config or layer has a media type rbuild cannot use.
    #[error("{digest} in {path} has unsupported media type {media_type:?} (expected {expected})")]
    UnsupportedMediaType {
        /// The layout.
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
        /// The layout.
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
        /// The layout.
        path: PathBuf,
        /// The limit.
        depth: usize,
    },
    /// A docker-archive image's config and layer list disagree.
    #[error("config {config} lists {diff_ids} diff ids but the archive has {layers} layers")]
    LayerCount {
        /// The config.
        config: Digest,
        /// How many diff ids it lists.
        diff_ids: usize,
        /// How many layers `manifest.json` lists.
        layers: usize,
    },
    /// A layer is compressed in a way images cannot carry.
    #[error("layer {layer} is compressed with {format}, which images cannot use")]
    LayerCompression {
        /// The layer blob.
        layer: Digest,
        /// The compression found.
        format: &'static str,
    },
    /// A layer cannot be decompressed.
    #[error("decompressing layer {layer}")]
    Decompress {
        /// The layer blob.
        layer: Digest,
        /// Why.
        #[source]
        source: rbuild_layer::LayerError,
    },
    /// A layer's uncompressed content is not what the image config claims.
    #[error("layer {layer} uncompresses to {actual}, but the config's diff id is {expected}")]
    DiffId {
        /// The layer blob.
        layer: Digest,
        /// What it uncompresses to.
        actual: Digest,
        /// What the config claims.
        expected: Digest,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
