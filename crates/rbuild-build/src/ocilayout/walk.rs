//! From the chosen entry to one image manifest: through image indexes (nested ones too),
//! choosing the build platform, as BuildKit resolves an oci-layout image.

use rbuild_oci::{media_type, platform, Descriptor, Digest, Index, Manifest, Platform};

use super::dir::LayoutDir;
use super::pick::Start;
use super::OciLayoutError;

/// Indexes of indexes deeper than this are refused (a cycle would otherwise never end).
const MAX_DEPTH: usize = 8;

/// The resolved image manifest.
pub(super) struct Found {
    /// Its digest.
    pub digest: Digest,
    /// Its media type (OCI or Docker v2).
    pub media_type: String,
    /// Its bytes, verified against the digest.
    pub bytes: Vec<u8>,
    /// Parsed.
    pub manifest: Manifest,
}

/// What a manifest-or-index blob is.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// An image manifest of this media type.
    Manifest(String),
    /// An image index or manifest list.
    Index,
}

/// Follows `start` down to an image manifest for `want`.
pub(super) fn resolve(
    dir: &LayoutDir,
    start: Start,
    want: &Platform,
) -> Result<Found, OciLayoutError> {
    let (mut digest, mut declared, mut size) = match start {
        Start::Listed(d) => (d.digest, d.media_type, Some(d.size)),
        Start::Blob(d) => (d, String::new(), None),
    };
    for _ in 0..MAX_DEPTH {
        let bytes = dir.read_blob(&digest, size)?;
        let kind = kind_of(&declared, &bytes).map_err(|media_type| {
            unsupported(dir, &digest, media_type, "an image manifest or index")
        })?;
        let media_type = match kind {
            Kind::Manifest(mt) => mt,
            Kind::Index => {
                let next = enter_index(dir, &digest, &bytes, want)?;
                (digest, declared, size) = (next.digest, next.media_type, Some(next.size));
                continue;
            }
        };
        let manifest = parse(dir, &digest, &bytes, "image manifest")?;
        return Ok(Found {
            digest,
            media_type,
            bytes,
            manifest,
        });
    }
    Err(OciLayoutError::TooDeep {
        path: dir.path().to_path_buf(),
        depth: MAX_DEPTH,
    })
}

/// The entry of an index blob to follow for `want`.
fn enter_index(
    dir: &LayoutDir,
    digest: &Digest,
    bytes: &[u8],
    want: &Platform,
) -> Result<Descriptor, OciLayoutError> {
    let index: Index = parse(dir, digest, bytes, "image index")?;
    let next = choose(&index, want).ok_or_else(|| OciLayoutError::NoMatchingPlatform {
        path: dir.path().to_path_buf(),
        digest: digest.clone(),
        platform: want.to_spec(),
        available: platform::available(&index.manifests),
    })?;
    Ok(next.clone())
}

/// The blob's kind from its declared media type, else its own `mediaType`, else its shape.
/// A declared type the blob contradicts is refused. `Err` carries the unusable media type.
pub(super) fn kind_of(declared: &str, bytes: &[u8]) -> Result<Kind, String> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let own = doc.get("mediaType").and_then(|v| v.as_str()).unwrap_or("");
    if !declared.is_empty() && !own.is_empty() && declared != own {
        return Err(format!("{declared} (but the blob says {own})"));
    }
    let mt = match (declared, own) {
        ("", "") if doc.get("manifests").is_some() => media_type::OCI_INDEX,
        ("", "") if doc.get("config").is_some() => media_type::OCI_MANIFEST,
        ("", own) => own,
        (declared, _) => declared,
    };
    if media_type::is_manifest(mt) {
        Ok(Kind::Manifest(mt.to_string()))
    } else if media_type::is_index(mt) {
        Ok(Kind::Index)
    } else {
        Err(mt.to_string())
    }
}

/// The build platform's image in an index; an index whose only entry is another index (as
/// some tools wrap a multi-platform image) is entered.
pub(super) fn choose<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    if let Some(d) = platform::select(&index.manifests, want) {
        return Some(d);
    }
    match index.manifests.as_slice() {
        [only] if media_type::is_index(&only.media_type) => Some(only),
        _ => None,
    }
}

/// Refuses configs and layers rbuild cannot use, before anything is copied.
pub(super) fn check_blob_types(dir: &LayoutDir, m: &Manifest) -> Result<(), OciLayoutError> {
    let config = &m.config.media_type;
    if config != media_type::OCI_CONFIG && config != media_type::DOCKER_CONFIG {
        let expected = "an OCI or Docker image config";
        return Err(unsupported(dir, &m.config.digest, config.clone(), expected));
    }
    let layer_ok = |mt: &str| {
        [
            media_type::OCI_LAYER_TAR,
            media_type::OCI_LAYER_GZIP,
            media_type::OCI_LAYER_ZSTD,
            media_type::DOCKER_LAYER_GZIP,
        ]
        .contains(&mt)
    };
    match m.layers.iter().find(|l| !layer_ok(&l.media_type)) {
        Some(l) => Err(unsupported(
            dir,
            &l.digest,
            l.media_type.clone(),
            "a tar, tar+gzip or tar+zstd layer",
        )),
        None => Ok(()),
    }
}

fn unsupported(
    dir: &LayoutDir,
    digest: &Digest,
    media_type: String,
    expected: &'static str,
) -> OciLayoutError {
    OciLayoutError::UnsupportedMediaType {
        path: dir.path().to_path_buf(),
        digest: digest.clone(),
        media_type,
        expected,
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    dir: &LayoutDir,
    digest: &Digest,
    bytes: &[u8],
    what: &'static str,
) -> Result<T, OciLayoutError> {
    serde_json::from_slice(bytes).map_err(|e| OciLayoutError::Json {
        path: dir.blob_path(digest),
        what,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_declared_type_the_blob_or_its_shape() {
        let m = media_type::OCI_MANIFEST;
        let with = |mt: &str| format!(r#"{{"mediaType":"{mt}","config":{{}}}}"#).into_bytes();
        assert_eq!(kind_of(m, b"{}"), Ok(Kind::Manifest(m.into())));
        assert_eq!(
            kind_of("", &with(media_type::DOCKER_MANIFEST)),
            Ok(Kind::Manifest(media_type::DOCKER_MANIFEST.into()))
        );
        assert_eq!(kind_of("", br#"{"manifests":[]}"#), Ok(Kind::Index));
        assert_eq!(
            kind_of("", br#"{"config":{}}"#),
            Ok(Kind::Manifest(m.into()))
        );
        assert_eq!(
            kind_of(media_type::DOCKER_MANIFEST_LIST, b"{}"),
            Ok(Kind::Index)
        );
        assert!(kind_of(media_type::OCI_INDEX, &with(m)).is_err());
        assert_eq!(kind_of("", b"not json"), Err(String::new()));
        assert!(kind_of("application/x-other", b"{}").is_err());
    }

    #[test]
    fn an_index_wrapping_one_index_is_entered() {
        let amd64 = Platform::host();
        let inner = Descriptor::new(media_type::OCI_INDEX, Digest::of(b"i"), 1);
        let wrap = Index {
            manifests: vec![inner.clone()],
            ..Index::default()
        };
        assert_eq!(choose(&wrap, &amd64), Some(&inner));
        let two = Index {
            manifests: vec![inner.clone(), inner],
            ..Index::default()
        };
        assert_eq!(choose(&two, &amd64), None);
    }
}
