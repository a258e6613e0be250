//! A deterministic tar writer for exports: fixed owners, modes and times, blobs streamed from
//! the store and verified on the way.

use std::io::{self, Read, Write};

use rbuild_oci::Digest;

use crate::error::{Result, StoreError};
use crate::Store;

/// A deterministic tar stream over any output.
pub(crate) struct TarOut<'a> {
    builder: tar::Builder<&'a mut dyn Write>,
}

fn write_err(what: &str, source: io::Error) -> StoreError {
    StoreError::ArchiveWrite {
        what: what.to_string(),
        source,
    }
}

impl<'a> TarOut<'a> {
    /// Starts a stream on `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        TarOut {
            builder: tar::Builder::new(out),
        }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// A directory entry.
    pub fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder
            .append_data(&mut h, path, io::empty())
            .map_err(|e| write_err(path, e))
    }

    /// A file with these bytes.
    pub fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644);
        self.builder
            .append_data(&mut h, path, data)
            .map_err(|e| write_err(path, e))
    }

    /// Streams a blob from the store into the archive, verifying its size and digest on the
    /// way (a damaged blob fails the export, naming it).
    pub fn blob(&mut self, store: &Store, digest: &Digest, path: &str) -> Result<()> {
        let size = store.blob_size(digest)?;
        let mut reader = io::BufReader::with_capacity(1 << 20, store.blob_reader(digest, None)?);
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644);
        self.builder
            .append_data(&mut h, path, &mut reader)
            .map_err(|e| write_err(path, e))?;
        // `append_data` reads exactly `size` bytes: reach the end so the digest is checked.
        let mut rest = [0u8; 1];
        match reader.read(&mut rest) {
            Ok(0) => Ok(()),
            Ok(_) => Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                why: "it grew while being read".into(),
            }),
            Err(e) => Err(write_err(path, e)),
        }
    }

    /// Ends the archive and flushes the output.
    pub fn finish(self) -> Result<()> {
        self.builder
            .into_inner()
            .and_then(|out| out.flush())
            .map_err(|e| write_err("the end of the archive", e))
    }
}

/// `blobs/sha256/<hex>`, the path of a blob in both archive formats.
pub(crate) fn blob_entry(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}
