//! The crate's error type: every variant names the path (or stream position) it concerns.

use std::io;
use std::path::PathBuf;

/// Why a layer could not be written, decompressed or applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A filesystem operation on `path` failed.
    #[error("{op} {path:?}")]
    Io {
        /// What was being done (e.g. "reading", "creating").
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Writing the layer stream (tar, compressor or output) failed.
    #[error("writing layer stream")]
    Write(#[source] io::Error),
    /// Reading the layer stream (decompressor or tar) failed.
    #[error("reading layer stream")]
    Read(#[source] io::Error),
    /// The upper dir uses an overlayfs feature whose changes cannot be expressed as a tar layer.
    #[error(
        "{path:?} carries the overlayfs xattr {xattr}: upper dirs made with redirect_dir or \
         metacopy cannot be turned into a layer (mount the overlay with redirect_dir=off,metacopy=off)"
    )]
    UnsupportedOverlay {
        /// The file or directory carrying the xattr.
        path: PathBuf,
        /// The xattr name (e.g. `trusted.overlay.redirect`).
        xattr: String,
    },
    /// A real file whose name starts with `.wh.` cannot be stored in an OCI layer.
    #[error("{0:?}: a file named `.wh.*` would be read as a whiteout by every layer consumer")]
    ReservedName(PathBuf),
    /// A file changed size while it was being archived.
    #[error("{path:?} changed while being archived (expected {expected} bytes)")]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// The size recorded in the tar header.
        expected: u64,
    },
    /// The uncompressed layer stream does not hash to the diff_id the image claims for it.
    #[error(
        "layer content hashes to {actual}, but the image config claims diff_id {expected}: \
         refusing to use it"
    )]
    DiffIdMismatch {
        /// The diff_id the image config claims.
        expected: rbuild_oci::Digest,
        /// The sha256 of the whole uncompressed stream.
        actual: rbuild_oci::Digest,
    },
    /// A layer blob is compressed in a format images cannot use.
    #[error("layer blob is compressed with {0}: image layers may only be tar, gzip or zstd")]
    UnsupportedCompression(&'static str),
    /// A hardlink entry's target cannot be reached or linked to.
    #[error("tar entry {path:?}: hardlink to {target:?}")]
    Hardlink {
        /// The entry's name.
        path: PathBuf,
        /// The target it names.
        target: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A tar entry is malformed or unsafe (escaping hardlink, bad type, …).
    #[error("tar entry {path:?}: {reason}")]
    BadEntry {
        /// The entry's name as found in the tar.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl LayerError {
    /// Wraps an I/O error with the operation and path it concerns.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LayerError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A malformed or unsafe tar entry.
    pub(crate) fn bad(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        LayerError::BadEntry {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_do_not_repeat_their_source() {
        let fire = || io::Error::other("disk on fire");
        let errors = [
            LayerError::io("creating", "/t/a", fire()),
            LayerError::Read(fire()),
            LayerError::Write(fire()),
            LayerError::Hardlink {
                path: "a".into(),
                target: "b".into(),
                source: fire(),
            },
        ];
        for e in errors {
            assert!(!e.to_string().contains("disk on fire"), "{e}");
            let source = std::error::Error::source(&e).map(ToString::to_string);
            assert_eq!(source.as_deref(), Some("disk on fire"));
        }
    }
}
