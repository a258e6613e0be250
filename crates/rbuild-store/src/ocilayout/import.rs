//! Importing from a layout: one image for a platform (`oci-layout://` contexts), or every
//! image of `index.json` with all it references (`rbuild load`). Everything needed is staged
//! and verified first; then leaves, manifests and indexes are committed in that order, so a
//! stored manifest or index implies what it lists.

use std::collections::HashMap;

use rbuild_oci::{Descriptor, Digest, Manifest, Platform, Reference};

use super::pick::{self, CONTAINERD_NAME};
use super::source::{read_index, Source};
use super::{resolve, LayoutError, LayoutReader, Selector};
use crate::blobs::MAX_JSON_BLOB;
use crate::reach::{walk_in, BlobSource, Reach};
use crate::tags::REF_NAME;
use crate::{Store, StoreError};

impl LayoutReader<'_> {
    /// Resolves `select` to one image manifest (choosing `platform` from image indexes),
    /// copies its config and layers into the store, verified, then the manifest; returns its
    /// descriptor.
    pub fn import_image(
        mut self,
        select: &Selector,
        platform: &Platform,
    ) -> Result<Descriptor, LayoutError> {
        let index = read_index(&*self.src)?;
        let start = pick::pick(&index, select, self.src.origin())?;
        let found = resolve::resolve(&*self.src, start, platform)?;
        resolve::check_blob_types(&*self.src, &found.manifest)?;
        self.copy_blobs(&found.manifest)?;
        // The bytes were verified against `found.digest`, which is therefore what this stores.
        self.store.put_blob(&found.bytes)?;
        let size = found.bytes.len() as u64;
        Ok(Descriptor::new(&found.media_type, found.digest, size))
    }

    /// Copies the config and layers the store lacks, committing only once all of them
    /// verified. A config over the store's JSON cap is refused before a byte of it is copied.
    fn copy_blobs(&mut self, m: &Manifest) -> Result<(), LayoutError> {
        if m.config.size > MAX_JSON_BLOB {
            return Err(LayoutError::TooLarge {
                path: self.src.blob_path(&m.config.digest),
                limit: MAX_JSON_BLOB,
            });
        }
        let store = self.store;
        let needed: Vec<&Descriptor> = std::iter::once(&m.config)
            .chain(&m.layers)
            .filter(|d| !store.has_blob(&d.digest))
            .collect();
        for d in &needed {
            self.src.stage(&d.digest, Some(d.size))?;
        }
        for d in &needed {
            self.src.staged().commit(store, &d.digest)?;
        }
        Ok(())
    }

    /// Imports every image `index.json` lists, with everything it references (all
    /// platforms); returns each as (name, descriptor without its name annotations), the
    /// name empty for unnamed images. Tags nothing.
    pub fn import_all(mut self) -> Result<Vec<(String, Descriptor)>, LayoutError> {
        let index = read_index(&*self.src)?;
        let mut reach = Reach::default();
        let mut sizes = HashMap::new();
        for desc in &index.manifests {
            self.closure(desc, &mut reach, &mut sizes)?;
        }
        let store = self.store;
        let needed: Vec<&Digest> = reach.blobs.iter().filter(|d| !store.has_blob(d)).collect();
        for d in &needed {
            self.src.stage(d, sizes.get(*d).copied())?;
        }
        for d in commit_order(&reach) {
            self.src.staged().commit(store, d)?;
        }
        Ok(index.manifests.into_iter().map(named).collect())
    }

    /// Adds everything `desc` references to `reach` and the declared sizes to `sizes`;
    /// an error if anything is missing, unreadable or not of its declared size.
    fn closure(
        &self,
        desc: &Descriptor,
        reach: &mut Reach,
        sizes: &mut HashMap<Digest, u64>,
    ) -> Result<(), LayoutError> {
        let both = Both {
            src: &*self.src,
            store: self.store,
        };
        walk_in(&both, desc, reach);
        if let Some(d) = reach.missing.first() {
            return Err(self.src.missing(d));
        }
        if let Some((digest, why)) = reach.unreadable.first() {
            let (digest, why) = (digest.clone(), why.clone());
            return Err(LayoutError::Unreadable { digest, why });
        }
        let declared = std::iter::once(desc).chain(
            reach
                .manifests
                .iter()
                .flat_map(|(_, m)| std::iter::once(&m.config).chain(&m.layers)),
        );
        for d in declared {
            let actual = both.size(&d.digest)?;
            if actual != d.size {
                return Err(LayoutError::Blob {
                    path: self.src.blob_path(&d.digest),
                    source: StoreError::SizeMismatch {
                        digest: d.digest.clone(),
                        expected: d.size,
                        actual,
                    },
                });
            }
            sizes.insert(d.digest.clone(), d.size);
        }
        Ok(())
    }
}

/// Configs and layers, then manifests, then indexes children first.
fn commit_order(reach: &Reach) -> impl Iterator<Item = &Digest> {
    let is_doc =
        |d: &Digest| reach.indexes.contains(d) || reach.manifests.iter().any(|(m, _)| m == d);
    let leaves = reach.blobs.iter().filter(move |d| !is_doc(d));
    let manifests = reach.manifests.iter().map(|(d, _)| d);
    leaves.chain(manifests).chain(reach.indexes.iter().rev())
}

/// The layout's blobs, and the store's for blobs the layout lacks.
struct Both<'a> {
    src: &'a dyn Source,
    store: &'a Store,
}

impl Both<'_> {
    fn size(&self, digest: &Digest) -> Result<u64, LayoutError> {
        match self.src.blob_size(digest)? {
            Some(size) => Ok(size),
            None => Ok(self.store.blob_size(digest)?),
        }
    }
}

impl BlobSource for Both<'_> {
    type Error = LayoutError;

    /// A blob the layout has in a form it refuses counts as present: reading it says why.
    fn has(&self, digest: &Digest) -> bool {
        !matches!(self.src.blob_size(digest), Ok(None)) || self.store.has_blob(digest)
    }

    fn read(&self, digest: &Digest) -> Result<Vec<u8>, LayoutError> {
        match self.src.blob_size(digest) {
            Ok(None) => Ok(self.store.read_blob(digest)?),
            _ => self.src.blob_bytes(digest, MAX_JSON_BLOB),
        }
    }

    fn strict(&self) -> bool {
        true
    }
}

/// An `index.json` entry's name, taken out of its annotations: containerd's full name
/// (familiar form) if it has one, else its `ref.name`.
fn named(mut desc: Descriptor) -> (String, Descriptor) {
    let Some(ann) = desc.annotations.as_mut() else {
        return (String::new(), desc);
    };
    let full = ann.remove(CONTAINERD_NAME);
    let short = ann.remove(REF_NAME);
    if ann.is_empty() {
        desc.annotations = None;
    }
    let familiar = full
        .and_then(|f| Reference::parse(&f).ok())
        .map(|r| r.familiar());
    (familiar.or(short).unwrap_or_default(), desc)
}
