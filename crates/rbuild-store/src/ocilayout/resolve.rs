//! From the chosen entry to one image manifest: through image indexes (nested ones too),
//! choosing the build platform, as BuildKit resolves an oci-layout image.

use rbuild_oci::media_type::{self, Kind};
use rbuild_oci::{platform, Descriptor, Digest, Index, Manifest, Platform};

use super::pick::Start;
use super::source::{parse, Source};
use super::LayoutError;
use crate::blobs::MAX_JSON_BLOB;
use crate::reach::MAX_INDEX_DEPTH;

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

/// A manifest or index blob, verified and of the declared size, with its detected type.
fn read_doc(
    src: &dyn Source,
    digest: &Digest,
    declared: &str,
    size: Option<u64>,
) -> Result<(Vec<u8>, media_type::Detected), LayoutError> {
    let bytes = src.blob_bytes(digest, MAX_JSON_BLOB)?;
    if let Some(expected) = size.filter(|s| *s != bytes.len() as u64) {
        return Err(LayoutError::Blob {
            path: src.blob_path(digest),
            source: crate::StoreError::SizeMismatch {
                digest: digest.clone(),
                expected,
                actual: bytes.len() as u64,
            },
        });
    }
    let detected =
        media_type::detect(Some(declared), &bytes).map_err(|source| LayoutError::Detect {
            path: src.blob_path(digest),
            source,
        })?;
    Ok((bytes, detected))
}

/// Follows `start` down to an image manifest for `want`.
pub(super) fn resolve(
    src: &dyn Source,
    start: Start,
    want: &Platform,
) -> Result<Found, LayoutError> {
    let (mut digest, mut declared, mut size) = match start {
        Start::Listed(d) => (d.digest, d.media_type, Some(d.size)),
        Start::Blob(d) => (d, String::new(), None),
    };
    for _ in 0..MAX_INDEX_DEPTH {
        let (bytes, detected) = read_doc(src, &digest, &declared, size)?;
        match detected.kind {
            Kind::Manifest => {
                let manifest = parse(src, &digest, &bytes, "image manifest")?;
                let media_type = detected.media_type;
                return Ok(Found {
                    digest,
                    media_type,
                    bytes,
                    manifest,
                });
            }
            Kind::Index => {
                let next = enter_index(src, &digest, &bytes, want)?;
                (digest, declared, size) = (next.digest, next.media_type, Some(next.size));
            }
            Kind::Config | Kind::Other => {
                let expected = "an image manifest or index";
                return Err(unsupported(src, &digest, detected.media_type, expected));
            }
        }
    }
    Err(LayoutError::TooDeep {
        path: src.origin().to_path_buf(),
        depth: MAX_INDEX_DEPTH,
    })
}

/// The entry of an index blob to follow for `want`.
fn enter_index(
    src: &dyn Source,
    digest: &Digest,
    bytes: &[u8],
    want: &Platform,
) -> Result<Descriptor, LayoutError> {
    let index: Index = parse(src, digest, bytes, "image index")?;
    let next = choose(&index, want).ok_or_else(|| LayoutError::NoMatchingPlatform {
        path: src.origin().to_path_buf(),
        digest: digest.clone(),
        platform: want.to_spec(),
        available: platform::available(&index.manifests),
    })?;
    Ok(next.clone())
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

/// Layer media types an image built on can have.
const LAYER_TYPES: [&str; 4] = [
    media_type::OCI_LAYER_TAR,
    media_type::OCI_LAYER_GZIP,
    media_type::OCI_LAYER_ZSTD,
    media_type::DOCKER_LAYER_GZIP,
];

/// Refuses configs and layers rbuild cannot use, before anything is copied.
pub(super) fn check_blob_types(src: &dyn Source, m: &Manifest) -> Result<(), LayoutError> {
    let config = &m.config.media_type;
    if media_type::kind(config) != Kind::Config {
        let expected = "an OCI or Docker image config";
        return Err(unsupported(src, &m.config.digest, config.clone(), expected));
    }
    match m
        .layers
        .iter()
        .find(|l| !LAYER_TYPES.contains(&l.media_type.as_str()))
    {
        Some(l) => Err(unsupported(
            src,
            &l.digest,
            l.media_type.clone(),
            "a tar, tar+gzip or tar+zstd layer",
        )),
        None => Ok(()),
    }
}

fn unsupported(
    src: &dyn Source,
    digest: &Digest,
    media_type: String,
    expected: &'static str,
) -> LayoutError {
    LayoutError::UnsupportedMediaType {
        path: src.origin().to_path_buf(),
        digest: digest.clone(),
        media_type,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
