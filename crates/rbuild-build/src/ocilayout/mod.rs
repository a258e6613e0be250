//! `--build-context NAME=oci-layout://PATH[:TAG][@sha256:DIGEST]`: an image from a local OCI
//! image layout directory, copied into the store so the build uses it like any stored image.
//!
//! This module only parses the reference; the layout is read by the store's one OCI layout
//! reader (`Store::open_layout_dir`), which treats it as untrusted input: no symlinks or
//! special files, blobs only by parsed digest, size limits, and every blob verified before
//! any of it enters the store.

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;

use rbuild_oci::{Descriptor, Digest, DigestError, Platform};
use rbuild_store::{Selector, Store};

/// Why an OCI layout cannot be used (the store's layout reader's error).
pub use rbuild_store::LayoutError as OciLayoutError;

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

/// Why an `oci-layout://` value does not parse.
#[derive(Debug, thiserror::Error)]
pub enum OciLayoutRefError {
    /// The part after the last `@` looks like a digest but is not a valid one.
    #[error("oci-layout://{value}: invalid digest {digest:?}")]
    Digest {
        /// The whole value.
        value: String,
        /// The digest part.
        digest: String,
        /// Why it is invalid.
        #[source]
        source: DigestError,
    },
    /// Nothing is left for the path.
    #[error("oci-layout://{value}: the layout path is empty")]
    EmptyPath {
        /// The whole value.
        value: String,
    },
}

impl OciLayoutRef {
    /// Parses what follows `oci-layout://`, splitting as buildx does: `@digest` after the last
    /// `@`, then `:tag` after the last `:` if it is a valid tag (so `/a:b/c` stays a path).
    pub fn parse(value: &str) -> Result<OciLayoutRef, OciLayoutRefError> {
        let mut rest = value;
        let mut digest = None;
        if let Some((p, d)) = rest.rsplit_once('@') {
            if d.contains(':') && !d.contains('/') {
                let parsed = d
                    .parse::<Digest>()
                    .map_err(|source| OciLayoutRefError::Digest {
                        value: value.to_string(),
                        digest: d.to_string(),
                        source,
                    })?;
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
            let value = value.to_string();
            return Err(OciLayoutRefError::EmptyPath { value });
        }
        let path = PathBuf::from(rest);
        Ok(OciLayoutRef { path, tag, digest })
    }

    /// Which image of the layout the reference names.
    pub fn selector(&self) -> Selector {
        Selector {
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
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
    store
        .open_layout_dir(&r.path)?
        .import_image(&r.selector(), platform)
}
