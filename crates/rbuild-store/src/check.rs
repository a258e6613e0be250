//! `check`: verify every blob's digest and that tagged images are complete.

use std::fs::File;
use std::io;

use rbuild_oci::{Digest, Sha256Writer};

use crate::error::{IoContext, Result};
use crate::Store;

/// What `Store::check` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blobs hashed.
    pub blobs_checked: usize,
    /// Blobs whose content does not match their name: (name, actual digest).
    pub corrupt: Vec<(Digest, Digest)>,
    /// Blobs referenced by a tag but absent: (tag, digest).
    pub missing: Vec<(String, Digest)>,
    /// Manifests, indexes or configs that could not be read or parsed: (tag, digest, why).
    pub unreadable: Vec<(String, Digest, String)>,
}

impl CheckReport {
    /// Whether the store is sound.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.unreadable.is_empty()
    }
}

/// Streams a file through sha256.
pub(crate) fn hash_file(file: File) -> io::Result<(Digest, u64)> {
    hash_reader(io::BufReader::with_capacity(1 << 20, file))
}

/// Streams any reader through sha256.
pub(crate) fn hash_reader(mut reader: impl io::Read) -> io::Result<(Digest, u64)> {
    let mut writer = Sha256Writer::new(io::sink());
    io::copy(&mut reader, &mut writer)?;
    let (digest, size, _) = writer.finish();
    Ok((digest, size))
}

impl Store {
    /// Verifies every blob's digest and that every tagged image's blobs exist.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        for digest in self.blobs()? {
            let path = self.blob_path(&digest);
            let (actual, _) = hash_file(self.open_blob(&digest)?).at(&path)?;
            report.blobs_checked += 1;
            if actual != digest {
                report.corrupt.push((digest, actual));
            }
        }
        for (tag, desc) in self.tags()? {
            let mut reach = crate::reach::Reach::default();
            self.walk(&desc, &mut reach);
            for d in reach.missing {
                report.missing.push((tag.clone(), d));
            }
            for (d, why) in reach.unreadable {
                report.unreadable.push((tag.clone(), d, why));
            }
        }
        Ok(report)
    }
}
