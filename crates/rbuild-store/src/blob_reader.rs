//! Reading a stored blob for use: its size is checked on open and, once the whole blob has
//! been read, its digest, so a damaged blob is an error naming it instead of silently used.

use std::fs::File;
use std::io::{self, Read};

use rbuild_oci::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::{IoContext, Result, StoreError};
use crate::Store;

/// A stored blob being read; the read that reaches its end fails if the content does not
/// hash to its digest (or has the wrong size).
pub struct BlobReader {
    file: File,
    digest: Digest,
    expected_size: u64,
    /// None for a blob this process committed (hashed as it was written): only its size
    /// is checked again.
    hasher: Option<Sha256>,
    read: u64,
    verified: bool,
}

/// Blobs this process committed after hashing them: a build reading back the base layer it
/// just pulled need not hash it a second time.
pub(crate) type FreshBlobs = crate::known::Known<Digest>;

impl BlobReader {
    /// The blob being read.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Whether the whole blob has been read and matched its digest.
    pub fn verified(&self) -> bool {
        self.verified
    }

    fn check_end(&mut self) -> io::Result<()> {
        if self.verified {
            return Ok(());
        }
        let actual = self.hasher.take().map(|h| hex::encode(h.finalize()));
        let why = if self.read != self.expected_size {
            format!("{} bytes read, {} expected", self.read, self.expected_size)
        } else if let Some(actual) = actual.filter(|a| a != self.digest.hex()) {
            format!("its content hashes to sha256:{actual}")
        } else {
            self.verified = true;
            return Ok(());
        };
        let err = StoreError::CorruptBlob {
            digest: self.digest.clone(),
            why,
        };
        Err(io::Error::new(io::ErrorKind::InvalidData, err.to_string()))
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.check_end()?;
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl Store {
    /// Opens a blob for a streaming read that verifies it: the file must have
    /// `expected_size` bytes (when given, e.g. from a descriptor) and, once read to its end,
    /// hash to `digest`.
    pub fn blob_reader(&self, digest: &Digest, expected_size: Option<u64>) -> Result<BlobReader> {
        let file = self.open_blob(digest)?;
        let size = file.metadata().at(&self.blob_path(digest))?.len();
        if let Some(expected) = expected_size.filter(|e| *e != size) {
            return Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                why: format!("it is {size} bytes, its descriptor says {expected}"),
            });
        }
        Ok(BlobReader {
            file,
            digest: digest.clone(),
            expected_size: size,
            hasher: (!self.fresh_blobs.contains(digest)).then(Sha256::new),
            read: 0,
            verified: false,
        })
    }
}
