//! Streaming blob writes: hash and count while writing, verify, then rename into `blobs/`.

use std::fs::{self, File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use rbuild_oci::{Digest, Sha256Writer};

use crate::blob_reader::FreshBlobs;
use crate::error::{IoContext, Result, StoreError};
use crate::layout::Layout;
use crate::lock;

/// Mode of a stored blob: read-only (nothing rewrites a blob in place) and private.
pub(crate) const BLOB_MODE: u32 = 0o400;

/// A blob being written; `commit` verifies it and moves it into `blobs/sha256/`.
///
/// Dropping an uncommitted `Ingest` removes its temp file.
pub struct Ingest {
    layout: Layout,
    fresh: Arc<FreshBlobs>,
    path: PathBuf,
    writer: Option<Sha256Writer<BufWriter<File>>>,
}

impl Ingest {
    /// Starts a new ingest in `ingest/`, holding its lock for as long as it lives.
    pub(crate) fn new(layout: &Layout, fresh: &Arc<FreshBlobs>) -> Result<Ingest> {
        let (path, file) = lock::create_locked_file(&layout.ingest_dir(), "")?;
        Ok(Ingest {
            layout: layout.clone(),
            fresh: fresh.clone(),
            path,
            writer: Some(Sha256Writer::new(BufWriter::with_capacity(1 << 20, file))),
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.writer.as_ref().map_or(0, |w| w.written())
    }

    /// Syncs, verifies against `expected`/`expected_size`, and moves the blob into place.
    ///
    /// If the blob already exists the temp file is dropped. On a mismatch nothing enters
    /// `blobs/` and the error names both digests (or sizes).
    pub fn commit(
        self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<(Digest, u64)> {
        self.verify(expected, expected_size)?.commit()
    }

    /// Finishes and verifies the write like `commit`, but leaves the blob outside `blobs/`
    /// until [`Verified::commit`]: a caller can check several blobs before storing any.
    pub fn verify(
        mut self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
    ) -> Result<Verified> {
        let Some(writer) = self.writer.take() else {
            return Err(StoreError::Io {
                path: self.path.clone(),
                source: io::Error::other("ingest already finished"),
            });
        };
        let (digest, size, buf) = writer.finish();
        let file = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .at(&self.path)?;
        verify(&digest, size, expected, expected_size)?;
        // From here the temp file belongs to `Verified` (whose Drop removes it instead).
        let path = std::mem::take(&mut self.path);
        Ok(Verified {
            layout: self.layout.clone(),
            fresh: self.fresh.clone(),
            path,
            file,
            digest,
            size,
        })
    }
}

/// A complete blob whose digest and size matched, still in `ingest/` (and locked there).
///
/// Dropping it without `commit` removes its temp file.
pub struct Verified {
    layout: Layout,
    fresh: Arc<FreshBlobs>,
    path: PathBuf,
    file: File,
    digest: Digest,
    size: u64,
}

impl Verified {
    /// A file the caller already hashed to `digest` and `size` while writing it into a
    /// scratch directory it holds locked, to commit like a verified ingest.
    pub(crate) fn adopt(
        layout: &Layout,
        fresh: &Arc<FreshBlobs>,
        path: PathBuf,
        digest: Digest,
        size: u64,
    ) -> Result<Self> {
        let file = File::open(&path).at(&path)?;
        Ok(Verified {
            layout: layout.clone(),
            fresh: fresh.clone(),
            path,
            file,
            digest,
            size,
        })
    }

    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Syncs the blob and moves it into `blobs/sha256/` (a no-op if it is already there).
    pub fn commit(mut self) -> Result<(Digest, u64)> {
        let path = std::mem::take(&mut self.path);
        let result = self.publish(&path);
        if result.is_err() {
            let _ = fs::remove_file(&path);
        } else {
            self.fresh.insert(self.digest.clone());
        }
        result.map(|()| (self.digest.clone(), self.size))
    }

    fn publish(&self, path: &std::path::Path) -> Result<()> {
        self.file.sync_all().at(path)?;
        // Read-only as a guard against anything rewriting a blob in place.
        self.file
            .set_permissions(Permissions::from_mode(BLOB_MODE))
            .at(path)?;
        let target = self.layout.blob(&self.digest);
        match lock::rename_noreplace(path, &target) {
            Ok(()) => lock::fsync_dir(&self.layout.blobs_dir()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.keep_or_replace(path, &target)
            }
            Err(e) => Err(e).at(&target),
        }
    }

    /// The blob is already stored: keep it if it is intact (refreshing its ctime so a
    /// concurrent prune sees it as new work of a live process), else replace it with ours,
    /// which was just verified. A damaged blob is thus healed by rebuilding or re-pulling
    /// what made it, instead of being kept forever.
    fn keep_or_replace(&self, path: &std::path::Path, target: &std::path::Path) -> Result<()> {
        let intact = fs::metadata(target).is_ok_and(|m| m.len() == self.size)
            && File::open(target)
                .and_then(crate::check::hash_file)
                .is_ok_and(|(d, _)| d == self.digest);
        if intact {
            let _ = fs::set_permissions(target, Permissions::from_mode(BLOB_MODE));
            let _ = fs::remove_file(path);
            return Ok(());
        }
        fs::rename(path, target).at(target)?;
        lock::fsync_dir(&self.layout.blobs_dir())
    }
}

impl Drop for Verified {
    fn drop(&mut self) {
        // Empty after `commit`; removing "" fails harmlessly.
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Checks a finished write against what the caller expected.
fn verify(
    digest: &Digest,
    size: u64,
    expected: Option<&Digest>,
    expected_size: Option<u64>,
) -> Result<()> {
    if let Some(exp) = expected {
        if exp != digest {
            return Err(StoreError::DigestMismatch {
                expected: exp.clone(),
                actual: digest.clone(),
            });
        }
    }
    match expected_size {
        Some(exp) if exp != size => Err(StoreError::SizeMismatch {
            digest: digest.clone(),
            expected: exp,
            actual: size,
        }),
        _ => Ok(()),
    }
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.writer.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("ingest already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        // After `verify` the path is empty (the temp file moved on to `Verified`).
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}
