//! Reading and writing blobs in `blobs/sha256/`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use rbuild_oci::Digest;

use crate::error::{IoContext, Result, StoreError};
use crate::ingest::Ingest;
use crate::Store;

/// Largest blob `read_blob` loads into memory, so the cap of every manifest, index and image
/// config the store reads (on load, on use, in `check`): real ones are kilobytes, registries
/// cap manifests at 4 MiB, and an attacker's 1 GiB config must not be read into memory.
pub const MAX_JSON_BLOB: u64 = 8 << 20;

impl Store {
    /// Starts a streaming blob write.
    pub fn ingest(&self) -> Result<Ingest> {
        Ingest::new(&self.layout, &self.fresh_blobs)
    }

    /// Writes a small in-memory blob (JSON) and returns its digest. A stored copy that
    /// differs (damaged) is replaced.
    pub fn put_blob(&self, data: &[u8]) -> Result<Digest> {
        let expected = Digest::of(data);
        let path = self.blob_path(&expected);
        if fs::read(&path).is_ok_and(|stored| stored == data) {
            // Refresh its ctime, as a fresh commit would (see `Ingest::commit`).
            let perms = std::os::unix::fs::PermissionsExt::from_mode(crate::ingest::BLOB_MODE);
            if fs::set_permissions(&path, perms).is_ok() {
                return Ok(expected);
            }
        }
        let mut ingest = self.ingest()?;
        ingest.write_all(data).at(&self.layout.ingest_dir())?;
        let (digest, _) = ingest.commit(Some(&expected), Some(data.len() as u64))?;
        Ok(digest)
    }

    /// Reads a whole blob (for JSON), verifying its size limit and digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let size = self.blob_size(digest)?;
        if size > MAX_JSON_BLOB {
            return Err(StoreError::BlobTooLarge {
                digest: digest.clone(),
                size,
                limit: MAX_JSON_BLOB,
            });
        }
        let path = self.blob_path(digest);
        let mut data = Vec::with_capacity(size as usize);
        self.open_blob(digest)?
            .take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut data)
            .at(&path)?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                why: format!("its content hashes to {actual}"),
            });
        }
        Ok(data)
    }

    /// Opens a blob for streaming reads.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| not_found_or(e, digest, path))
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Path of a blob (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.layout.blob(digest)
    }

    /// Size of a stored blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) => Err(not_found_or(e, digest, path)),
        }
    }

    /// Every blob digest in the store (names that are not digests are ignored).
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let dir = self.layout.blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}

fn not_found_or(e: io::Error, digest: &Digest, path: PathBuf) -> StoreError {
    if e.kind() == io::ErrorKind::NotFound {
        StoreError::BlobNotFound(digest.clone())
    } else {
        StoreError::Io { path, source: e }
    }
}
