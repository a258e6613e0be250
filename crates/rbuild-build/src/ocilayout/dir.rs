//! Reading an untrusted layout directory: no symlinks below it, no special files, blobs only
//! by the hex of a parsed digest, JSON size-limited and digest-verified.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rbuild_oci::{Digest, Index};
use rbuild_store::{StoreError, MAX_JSON_BLOB};
use rustix::fs::{openat, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::OciLayoutError;

/// `oci-layout` is a one-line JSON document.
const MAX_LAYOUT_FILE: u64 = 64 << 10;

/// An opened layout directory.
pub(super) struct LayoutDir {
    path: PathBuf,
    dir: OwnedFd,
}

impl LayoutDir {
    /// Opens `path` (following symlinks: the user chose it) and checks its `oci-layout` file.
    pub fn open(path: &Path) -> Result<LayoutDir, OciLayoutError> {
        let not_layout = |reason: String| OciLayoutError::NotALayout {
            path: path.to_path_buf(),
            reason,
        };
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = openat(CWD, path, flags, Mode::empty())
            .map_err(|e| not_layout(format!("cannot open the directory: {e}")))?;
        let me = LayoutDir {
            path: path.to_path_buf(),
            dir,
        };
        let bytes = match me.read_file(&me.dir, "oci-layout", MAX_LAYOUT_FILE) {
            Err(OciLayoutError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(not_layout("it has no oci-layout file".into()))
            }
            other => other?,
        };
        let version = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion")?.as_str().map(str::to_string));
        match version {
            Some(v) if v.starts_with("1.") => Ok(me),
            Some(v) => Err(not_layout(format!("unsupported imageLayoutVersion {v:?}"))),
            None => Err(not_layout("oci-layout has no imageLayoutVersion".into())),
        }
    }

    /// The layout directory as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index, OciLayoutError> {
        let bytes = match self.read_file(&self.dir, "index.json", MAX_JSON_BLOB) {
            Err(OciLayoutError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(OciLayoutError::NotALayout {
                    path: self.path.clone(),
                    reason: "it has no index.json".into(),
                })
            }
            other => other?,
        };
        serde_json::from_slice(&bytes).map_err(|e| OciLayoutError::Json {
            path: self.path.join("index.json"),
            what: "image index",
            message: e.to_string(),
        })
    }

    /// Where a blob lives (for messages).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.path.join("blobs/sha256").join(digest.hex())
    }

    /// Opens a blob file; the digest's hex is 64 hex digits, so the name cannot escape.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, OciLayoutError> {
        let missing = || OciLayoutError::BlobMissing {
            path: self.blob_path(digest),
            digest: digest.clone(),
        };
        let dirs = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let blobs = openat(&self.dir, "blobs", dirs, Mode::empty())
            .and_then(|b| openat(&b, "sha256", dirs, Mode::empty()))
            .map_err(|e| match e {
                Errno::NOENT => missing(),
                _ => OciLayoutError::NotRegular {
                    path: self.path.join("blobs/sha256"),
                },
            })?;
        match self.open_regular(&blobs, digest.hex(), &self.blob_path(digest)) {
            Err(OciLayoutError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Err(missing())
            }
            other => other,
        }
    }

    /// Reads a manifest or index blob, checking its size (if known) and digest.
    pub fn read_blob(&self, digest: &Digest, size: Option<u64>) -> Result<Vec<u8>, OciLayoutError> {
        let path = self.blob_path(digest);
        let file = self.open_blob(digest)?;
        let bytes = read_limited(file, MAX_JSON_BLOB, &path)?;
        let mismatch = |source| OciLayoutError::Blob {
            path: path.clone(),
            source,
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(mismatch(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            }));
        }
        match size {
            Some(s) if s != bytes.len() as u64 => Err(mismatch(StoreError::SizeMismatch {
                digest: digest.clone(),
                expected: s,
                actual: bytes.len() as u64,
            })),
            _ => Ok(bytes),
        }
    }

    fn read_file(
        &self,
        parent: &OwnedFd,
        name: &str,
        limit: u64,
    ) -> Result<Vec<u8>, OciLayoutError> {
        let path = self.path.join(name);
        let file = self.open_regular(parent, name, &path)?;
        read_limited(file, limit, &path)
    }

    /// Opens `name` in `parent` if it is a regular file; never follows a symlink and never
    /// blocks on a FIFO.
    fn open_regular(
        &self,
        parent: &OwnedFd,
        name: &str,
        path: &Path,
    ) -> Result<File, OciLayoutError> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = openat(parent, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::NXIO => OciLayoutError::NotRegular {
                path: path.to_path_buf(),
            },
            e => OciLayoutError::Io {
                path: path.to_path_buf(),
                source: e.into(),
            },
        })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|source| OciLayoutError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(OciLayoutError::NotRegular {
                path: path.to_path_buf(),
            });
        }
        Ok(file)
    }
}

/// Reads a whole file of at most `limit` bytes.
fn read_limited(file: File, limit: u64, path: &Path) -> Result<Vec<u8>, OciLayoutError> {
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| OciLayoutError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(OciLayoutError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}
