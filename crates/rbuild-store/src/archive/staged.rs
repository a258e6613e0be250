//! An archive's in-memory blobs in front of the store: an OCI archive's closure is walked and
//! verified there, and only then are the blobs it needs written, leaves first.

use rbuild_oci::{Descriptor, Digest};

use super::import::bad;
use super::members::Loaded;
use crate::error::{Result, StoreError};
use crate::reach::{walk_in, BlobSource, Reach};
use crate::Store;

/// The blobs of an archive being loaded, then the store's.
pub(super) struct Staged<'a> {
    pub store: &'a Store,
    pub loaded: &'a Loaded,
}

impl BlobSource for Staged<'_> {
    fn has(&self, digest: &Digest) -> bool {
        self.loaded.mem_blob(digest).is_some() || self.store.has_blob(digest)
    }

    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        match self.loaded.mem_blob(digest) {
            // In-memory members are at most 4 MiB, under the JSON cap.
            Some(data) => Ok(data.to_vec()),
            None => self.store.read_blob(digest),
        }
    }
}

impl Staged<'_> {
    fn size(&self, digest: &Digest) -> Result<u64> {
        match self.loaded.mem_blob(digest) {
            Some(data) => Ok(data.len() as u64),
            None => self.store.blob_size(digest),
        }
    }

    /// Checks that everything `desc` references is present and of the declared size.
    pub fn verify_closure(&self, desc: &Descriptor) -> Result<Reach> {
        let mut reach = Reach::default();
        walk_in(self, desc, &mut reach);
        if let Some(d) = reach.missing.first() {
            return Err(bad(format!(
                "archive lacks blob {d} (referenced from {})",
                desc.digest
            )));
        }
        if let Some((d, why)) = reach.unreadable.first() {
            return Err(bad(format!("blob {d} is unreadable: {why}")));
        }
        let declared = std::iter::once(desc).chain(
            reach
                .manifests
                .iter()
                .flat_map(|(_, m)| std::iter::once(&m.config).chain(&m.layers)),
        );
        for d in declared {
            let actual = self.size(&d.digest)?;
            if actual != d.size {
                return Err(StoreError::SizeMismatch {
                    digest: d.digest.clone(),
                    expected: d.size,
                    actual,
                });
            }
        }
        Ok(reach)
    }

    /// Writes the in-memory blobs of a verified closure: configs and layers, then manifests,
    /// then indexes children first, so a stored manifest or index implies what it lists.
    pub fn store(&self, reach: &Reach) -> Result<()> {
        let is_doc =
            |d: &Digest| reach.indexes.contains(d) || reach.manifests.iter().any(|(m, _)| m == d);
        let leaves = reach.blobs.iter().filter(|d| !is_doc(d));
        let manifests = reach.manifests.iter().map(|(d, _)| d);
        for d in leaves.chain(manifests).chain(reach.indexes.iter().rev()) {
            if let Some(data) = self.loaded.mem_blob(d) {
                self.store.put_blob(data)?;
            }
        }
        Ok(())
    }
}
