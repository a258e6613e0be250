//! Media types of OCI and Docker v2 manifests, configs and layers, and telling an image
//! document's kind from its declared type, its own `mediaType` or its shape.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Whether the media type names a single-image manifest (OCI or Docker).
pub fn is_manifest(mt: &str) -> bool {
    mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
}

/// Whether the media type names an index or manifest list.
pub fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_MANIFEST_LIST
}

/// What an image JSON document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A single-image manifest (OCI, or Docker v2 schema 2).
    Manifest,
    /// An image index or Docker manifest list.
    Index,
    /// An image config (OCI or Docker).
    Config,
    /// Anything else: an artifact, a Docker schema 1 manifest, an unknown type.
    Other,
}

/// The kind a media type names.
pub fn kind(media_type: &str) -> Kind {
    if is_manifest(media_type) {
        Kind::Manifest
    } else if is_index(media_type) {
        Kind::Index
    } else if media_type == OCI_CONFIG || media_type == DOCKER_CONFIG {
        Kind::Config
    } else {
        Kind::Other
    }
}

/// A document's kind and the media type it is used under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// What it is.
    pub kind: Kind,
    /// The declared type, else the document's own `mediaType`, else OCI's type for its shape
    /// (empty for an unrecognisable document).
    pub media_type: String,
}

/// Why a document's media type cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum MediaTypeError {
    /// The bytes are not a JSON object.
    #[error("not a JSON object")]
    NotJson(#[source] serde_json::Error),
    /// The descriptor pointing at the document says one type and the document another.
    #[error("declared as {declared} but its mediaType is {own}")]
    Contradicts {
        /// The type the referring descriptor (or HTTP header) gives.
        declared: String,
        /// The document's own `mediaType`.
        own: String,
    },
    /// The document has a field its type cannot have (a manifest listing `manifests`, an
    /// index with `layers`): read one way it is an image, read the other way another.
    #[error("{media_type} document has a `{field}` field")]
    WrongShape {
        /// The type it is used under (empty if it has none).
        media_type: String,
        /// The field that does not belong.
        field: &'static str,
    },
}

/// The fields that tell documents apart; everything else is skipped unparsed.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    layers: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    rootfs: Option<serde::de::IgnoredAny>,
}

/// Classifies a manifest, index or config from the type its referrer declares (`None` or ""
/// when unknown) and its bytes: the declared type, else its own `mediaType`, else its shape
/// (`manifests` → index, `layers` → manifest, `rootfs` → config). A declared type the
/// document contradicts, and a document shaped as both a manifest and an index, are errors.
pub fn detect(declared: Option<&str>, bytes: &[u8]) -> Result<Detected, MediaTypeError> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(MediaTypeError::NotJson)?;
    let declared = declared.filter(|d| !d.is_empty());
    let own = probe.media_type.as_deref().filter(|o| !o.is_empty());
    if let (Some(d), Some(o)) = (declared, own) {
        if d != o {
            return Err(MediaTypeError::Contradicts {
                declared: d.to_string(),
                own: o.to_string(),
            });
        }
    }
    let (has_manifests, has_layers) = (probe.manifests.is_some(), probe.layers.is_some());
    let media_type = match declared.or(own) {
        Some(mt) => mt,
        None if has_manifests && !has_layers => OCI_INDEX,
        None if has_layers && !has_manifests => OCI_MANIFEST,
        None if probe.rootfs.is_some() && !has_manifests => OCI_CONFIG,
        None => "",
    };
    let kind = kind(media_type);
    let stray = match kind {
        Kind::Manifest | Kind::Other if has_manifests && has_layers => Some("manifests"),
        Kind::Manifest if has_manifests => Some("manifests"),
        Kind::Index if has_layers => Some("layers"),
        _ => None,
    };
    if let Some(field) = stray {
        return Err(MediaTypeError::WrongShape {
            media_type: media_type.to_string(),
            field,
        });
    }
    let media_type = media_type.to_string();
    Ok(Detected { kind, media_type })
}
