//! A layout directory, untrusted: nothing below it is reached through a symlink, only
//! regular files are read (never blocking on a FIFO), and blobs only by the hex of a parsed
//! digest, so no name can escape it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;
use rustix::fs::{openat, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::source::Source;
use super::stage::Stage;
use super::LayoutError;
use crate::StoreError;

/// An opened layout directory and the stage its blobs are copied into.
pub(crate) struct DirSource {
    path: PathBuf,
    dir: OwnedFd,
    stage: Stage,
}

impl DirSource {
    /// Opens `path` (following symlinks to it: the user chose it).
    pub fn open(path: &Path, stage: Stage) -> Result<DirSource, LayoutError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = openat(CWD, path, flags, Mode::empty()).map_err(|e| LayoutError::OpenDir {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(DirSource {
            path: path.to_path_buf(),
            dir,
            stage,
        })
    }

    /// `blobs/sha256` opened without following links; `None` if absent.
    fn blobs_dir(&self) -> Result<Option<OwnedFd>, LayoutError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let opened = openat(&self.dir, "blobs", flags, Mode::empty())
            .and_then(|b| openat(&b, "sha256", flags, Mode::empty()));
        match opened {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(_) => Err(LayoutError::NotRegular {
                path: self.path.join("blobs/sha256"),
            }),
        }
    }

    /// Opens a blob file, `None` if absent.
    fn open_blob(&self, digest: &Digest) -> Result<Option<File>, LayoutError> {
        let Some(blobs) = self.blobs_dir()? else {
            return Ok(None);
        };
        open_regular(&blobs, digest.hex(), &self.blob_path(digest))
    }
}

impl Source for DirSource {
    fn origin(&self) -> &Path {
        &self.path
    }

    fn describe(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, LayoutError> {
        let path = self.path.join(name);
        match open_regular(&self.dir, name, &path)? {
            Some(file) => read_limited(file, limit, &path).map(Some),
            None => Ok(None),
        }
    }

    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, LayoutError> {
        let Some(file) = self.open_blob(digest)? else {
            return Ok(None);
        };
        let meta = file.metadata().map_err(|source| LayoutError::Io {
            path: self.blob_path(digest),
            source,
        })?;
        Ok(Some(meta.len()))
    }

    fn blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let file = self
            .open_blob(digest)?
            .ok_or_else(|| self.missing(digest))?;
        let bytes = read_limited(file, limit, &path)?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            let source = StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            };
            return Err(LayoutError::Blob { path, source });
        }
        Ok(bytes)
    }

    /// Copies the blob into the stage, reading at most one byte past its size.
    fn stage(&mut self, digest: &Digest, size: Option<u64>) -> Result<(), LayoutError> {
        if self.stage.size(digest).is_some() {
            return Ok(());
        }
        let file = self
            .open_blob(digest)?
            .ok_or_else(|| self.missing(digest))?;
        let limit = size.map_or(u64::MAX, |s| s.saturating_add(1));
        let mut reader = BufReader::with_capacity(1 << 20, file).take(limit);
        self.stage
            .put(&mut reader, size, Some((digest, size)))
            .map_err(|e| e.at(self.blob_path(digest)))?;
        Ok(())
    }

    fn staged(&mut self) -> &mut Stage {
        &mut self.stage
    }
}

/// Opens `name` in `parent` if it is a regular file; `None` if it does not exist. Never
/// follows a symlink and never blocks on a FIFO.
fn open_regular(parent: &OwnedFd, name: &str, path: &Path) -> Result<Option<File>, LayoutError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let not_regular = || LayoutError::NotRegular {
        path: path.to_path_buf(),
    };
    let fd = match openat(parent, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP | Errno::NXIO) => return Err(not_regular()),
        Err(e) => {
            return Err(LayoutError::Io {
                path: path.to_path_buf(),
                source: e.into(),
            })
        }
    };
    let file = File::from(fd);
    let meta = file.metadata().map_err(|source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok(Some(file))
}

/// Reads a whole file of at most `limit` bytes.
fn read_limited(file: File, limit: u64, path: &Path) -> Result<Vec<u8>, LayoutError> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| LayoutError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(LayoutError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}
