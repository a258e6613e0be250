//! What a descriptor keeps alive: blobs (index → manifests → config + layers) and snapshots.

use std::collections::BTreeSet;

use rbuild_oci::{chain_id, media_type, Descriptor, Digest, ImageConfig, Index, Manifest};
use serde::de::DeserializeOwned;

use crate::error::{error_chain, Result};
use crate::Store;

/// Deepest chain of image indexes followed (index → index → … → manifest); real images use
/// one or two levels.
pub const MAX_INDEX_DEPTH: usize = 8;

/// The closure of one or more descriptors.
#[derive(Debug, Default)]
pub struct Reach {
    /// Every blob referenced (present or not).
    pub blobs: BTreeSet<Digest>,
    /// Chain ids of every snapshot an image's layer stack can use.
    pub snapshots: BTreeSet<Digest>,
    /// Referenced blobs that are not in the store.
    pub missing: BTreeSet<Digest>,
    /// Blobs that exist but could not be read or parsed, with the reason.
    pub unreadable: Vec<(Digest, String)>,
    /// Image manifests found, in walk order.
    pub manifests: Vec<(Digest, Manifest)>,
    /// Image indexes found, in walk order (a parent before its children).
    pub indexes: Vec<Digest>,
}

/// Where a walk finds blobs: the store, or a layout being loaded in front of it.
pub(crate) trait BlobSource {
    /// Why a blob cannot be read.
    type Error: std::error::Error;
    /// Whether the blob is available.
    fn has(&self, digest: &Digest) -> bool;
    /// A whole (JSON) blob, verified and size-capped.
    fn read(&self, digest: &Digest) -> Result<Vec<u8>, Self::Error>;
    /// Whether a document must not contradict the media type its descriptor declares
    /// (untrusted input: read one way it would be one image, read the other another).
    fn strict(&self) -> bool {
        false
    }
}

impl BlobSource for Store {
    type Error = crate::StoreError;
    fn has(&self, digest: &Digest) -> bool {
        self.has_blob(digest)
    }
    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.read_blob(digest)
    }
}

/// Collects everything `desc` references in `src` into `reach`, recording problems instead
/// of failing so `check` can report them all. Iterative, and indexes nested deeper than
/// [`MAX_INDEX_DEPTH`] are recorded as unreadable: an archive can nest them 50,000 deep.
pub(crate) fn walk_in<S: BlobSource + ?Sized>(src: &S, desc: &Descriptor, reach: &mut Reach) {
    let mut stack = vec![(desc.clone(), 0usize)];
    while let Some((desc, depth)) = stack.pop() {
        if !reach.blobs.insert(desc.digest.clone()) {
            continue;
        }
        if !src.has(&desc.digest) {
            reach.missing.insert(desc.digest.clone());
            continue;
        }
        if media_type::is_index(&desc.media_type) {
            if depth >= MAX_INDEX_DEPTH {
                let why = format!("image indexes nested more than {MAX_INDEX_DEPTH} deep");
                reach.unreadable.push((desc.digest.clone(), why));
                continue;
            }
            if let Some(index) = parse_blob::<Index, S>(src, &desc, reach) {
                reach.indexes.push(desc.digest.clone());
                // Reversed so that children are visited in index order.
                let children = index.manifests.into_iter().rev();
                stack.extend(children.map(|child| (child, depth + 1)));
            }
        } else if media_type::is_manifest(&desc.media_type) {
            if let Some(manifest) = parse_blob::<Manifest, S>(src, &desc, reach) {
                walk_manifest(src, &manifest, reach);
                reach.manifests.push((desc.digest.clone(), manifest));
            }
        }
    }
}

fn walk_manifest<S: BlobSource + ?Sized>(src: &S, manifest: &Manifest, reach: &mut Reach) {
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        reach.blobs.insert(blob.digest.clone());
        if !src.has(&blob.digest) {
            reach.missing.insert(blob.digest.clone());
        }
    }
    if !src.has(&manifest.config.digest) {
        return;
    }
    if let Some(config) = parse_blob::<ImageConfig, S>(src, &manifest.config, reach) {
        let diff_ids = &config.rootfs.diff_ids;
        for n in 1..=diff_ids.len() {
            if let Some(id) = chain_id(&diff_ids[..n]) {
                reach.snapshots.insert(id);
            }
        }
    }
}

/// Reads and parses the blob `desc` names; from a strict source, a document whose content
/// contradicts the media type its descriptor declares is unreadable too.
fn parse_blob<T: DeserializeOwned, S: BlobSource + ?Sized>(
    src: &S,
    desc: &Descriptor,
    reach: &mut Reach,
) -> Option<T> {
    let parsed = src
        .read(&desc.digest)
        .map_err(|e| error_chain(&e))
        .and_then(|bytes| {
            if src.strict() {
                media_type::detect(Some(&desc.media_type), &bytes).map_err(|e| error_chain(&e))?;
            }
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        });
    match parsed {
        Ok(v) => Some(v),
        Err(why) => {
            reach.unreadable.push((desc.digest.clone(), why));
            None
        }
    }
}

impl Store {
    /// Collects everything `desc` references in the store into `reach` (see [`walk_in`]).
    pub(crate) fn walk(&self, desc: &Descriptor, reach: &mut Reach) {
        walk_in(self, desc, reach);
    }

    /// The closure of every tag.
    pub fn reachable(&self) -> crate::Result<Reach> {
        let mut reach = Reach::default();
        for (_, desc) in self.tags()? {
            self.walk(&desc, &mut reach);
        }
        Ok(reach)
    }
}
