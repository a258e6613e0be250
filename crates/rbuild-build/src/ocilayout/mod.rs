//! `--build-context NAME=oci-layout://PATH[:TAG][@sha256:DIGEST]`: an image from a local OCI
//! image layout directory, copied into the store so the build uses it like any stored image.
//!
//! The layout is untrusted input: files are opened without following symlinks, blobs only by
//! `blobs/sha256/<hex>` of a parsed digest, and every blob is verified against its digest and
//! size. Config and layers are all verified before any of them enters the store, and the
//! manifest goes in last (a stored manifest implies its blobs are there).

mod dir;
mod error;
mod pick;
#[cfg(test)]
mod tests;
mod walk;

use std::fmt;
use std::path::PathBuf;

use rbuild_oci::{Descriptor, Digest, Manifest, Platform};
use rbuild_store::{Store, Verified};

use dir::LayoutDir;
pub use error::OciLayoutError;

/// A parsed `oci-layout://` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciLayoutRef {
    /// The layout directory.
    pub path: PathBuf,
    /// `:TAG`; `None` means BuildKit's default, `latest` (or the layout's only image).
    pub tag: Option<String>,
    /// `@sha256:DIGEST`: a manifest or index blob of the layout; wins over the tag.
    pub digest: Option<Digest>,
}

impl OciLayoutRef {
    /// Parses what follows `oci-layout://`, splitting as buildx does: `@digest` after the last
    /// `@`, then `:tag` after the last `:` if it is a valid tag (so `/a:b/c` stays a path).
    pub fn parse(value: &str) -> Result<OciLayoutRef, String> {
        let mut rest = value;
        let mut digest = None;
        if let Some((p, d)) = rest.rsplit_once('@') {
            if d.contains(':') && !d.contains('/') {
                let parsed = d
                    .parse::<Digest>()
                    .map_err(|e| format!("oci-layout://{value}: {e}"))?;
                digest = Some(parsed);
                rest = p;
            }
        }
        let mut tag = None;
        if let Some((p, t)) = rest.rsplit_once(':') {
            if valid_tag(t) {
                tag = Some(t.to_string());
                rest = p;
            }
        }
        if rest.is_empty() {
            return Err(format!("oci-layout://{value}: the layout path is empty"));
        }
        Ok(OciLayoutRef {
            path: PathBuf::from(rest),
            tag,
            digest,
        })
    }
}

/// A tag as the reference grammar allows: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    t.len() <= 128 && t.bytes().next().is_some_and(|b| b != b'.' && b != b'-') && t.bytes().all(ok)
}

impl fmt::Display for OciLayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci-layout://{}", self.path.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Resolves `r` to one image manifest (choosing `platform` from image indexes), copies its
/// config and layers into the store, verified, then the manifest; returns its descriptor.
pub fn import(
    store: &Store,
    r: &OciLayoutRef,
    platform: &Platform,
) -> Result<Descriptor, OciLayoutError> {
    let dir = LayoutDir::open(&r.path)?;
    let index = dir.index()?;
    let start = pick::pick(&index, r)?;
    let found = walk::resolve(&dir, start, platform)?;
    walk::check_blob_types(&dir, &found.manifest)?;
    copy_blobs(store, &dir, &found.manifest)?;
    // The bytes were verified against `found.digest`, which is therefore what this stores.
    store.put_blob(&found.bytes)?;
    let size = found.bytes.len() as u64;
    Ok(Descriptor::new(&found.media_type, found.digest, size))
}

/// Copies the config and layers the store lacks, committing only once all of them verified.
/// A config over the store's JSON cap is refused before a byte of it is copied.
fn copy_blobs(store: &Store, dir: &LayoutDir, m: &Manifest) -> Result<(), OciLayoutError> {
    if m.config.size > rbuild_store::MAX_JSON_BLOB {
        return Err(OciLayoutError::TooLarge {
            path: dir.blob_path(&m.config.digest),
            limit: rbuild_store::MAX_JSON_BLOB,
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut verified: Vec<Verified> = Vec::new();
    for d in std::iter::once(&m.config).chain(&m.layers) {
        if seen.insert(&d.digest) && !store.has_blob(&d.digest) {
            verified.push(copy_blob(store, dir, d)?);
        }
    }
    for v in verified {
        v.commit()?;
    }
    Ok(())
}

/// Streams one blob into an ingest and verifies it; reads at most one byte past its size.
fn copy_blob(store: &Store, dir: &LayoutDir, d: &Descriptor) -> Result<Verified, OciLayoutError> {
    use std::io::Read;
    let path = dir.blob_path(&d.digest);
    let file = dir.open_blob(&d.digest)?;
    let mut ingest = store.ingest()?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file).take(d.size + 1);
    std::io::copy(&mut reader, &mut ingest).map_err(|source| OciLayoutError::Io {
        path: path.clone(),
        source,
    })?;
    ingest
        .verify(Some(&d.digest), Some(d.size))
        .map_err(|source| OciLayoutError::Blob { path, source })
}
