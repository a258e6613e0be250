//! Save and load: OCI layout and docker-archive tar streams.
//!
//! Blobs are streamed from and to the store (never a whole layer in memory), and every blob
//! is hashed on the way: export fails on a corrupt blob, import verifies every digest.

mod docker;
mod import;
mod members;
mod oci;
mod staged;

use std::io::{self, Write};

use rbuild_oci::{Descriptor, Digest};

use crate::error::{Result, StoreError};
use crate::reach::Reach;
use crate::Store;

/// A deterministic tar writer over any output.
struct TarOut<'a> {
    builder: tar::Builder<&'a mut dyn Write>,
}

fn archive_err(what: &str, e: io::Error) -> StoreError {
    StoreError::Archive(format!("writing {what}: {e}"))
}

impl<'a> TarOut<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
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

    fn dir(&mut self, path: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
        self.builder
            .append_data(&mut h, path, io::empty())
            .map_err(|e| archive_err(path, e))
    }

    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644);
        self.builder
            .append_data(&mut h, path, data)
            .map_err(|e| archive_err(path, e))
    }

    /// Streams a blob from the store into the archive, verifying its size and digest on the
    /// way (a damaged blob fails the export, naming it).
    fn blob(&mut self, store: &Store, digest: &Digest, path: &str) -> Result<()> {
        let size = store.blob_size(digest)?;
        let mut reader = io::BufReader::with_capacity(1 << 20, store.blob_reader(digest, None)?);
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644);
        self.builder
            .append_data(&mut h, path, &mut reader)
            .map_err(|e| archive_err(path, e))?;
        // `append_data` reads exactly `size` bytes: reach the end so the digest is checked.
        let mut rest = [0u8; 1];
        match io::Read::read(&mut reader, &mut rest) {
            Ok(0) => Ok(()),
            Ok(_) => Err(StoreError::CorruptBlob {
                digest: digest.clone(),
                why: "it grew while being read".into(),
            }),
            Err(e) => Err(archive_err(path, e)),
        }
    }

    fn finish(self) -> Result<()> {
        self.builder
            .into_inner()
            .and_then(|out| out.flush())
            .map_err(|e| archive_err("the end of the archive", e))
    }
}

/// `blobs/sha256/<hex>`, the path of a blob in both archive formats.
fn blob_entry(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

impl Store {
    /// Everything the refs reference; an error if any of it is missing or unreadable.
    fn complete_closure(&self, refs: &[(String, Descriptor)]) -> Result<Reach> {
        let mut reach = Reach::default();
        for (_, desc) in refs {
            self.walk(desc, &mut reach);
        }
        if let Some(d) = reach.missing.first() {
            return Err(StoreError::BlobNotFound(d.clone()));
        }
        if let Some((d, why)) = reach.unreadable.first() {
            return Err(StoreError::Archive(format!(
                "blob {d} is unreadable: {why}"
            )));
        }
        Ok(reach)
    }
}
