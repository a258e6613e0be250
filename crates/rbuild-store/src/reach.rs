//! What a descriptor keeps alive: blobs (index → manifests → config + layers) and snapshots.

use std::collections::BTreeSet;

use rbuild_oci::{chain_id, media_type, Descriptor, Digest, ImageConfig, Index, Manifest};
use serde::de::DeserializeOwned;

use crate::Store;

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
}

impl Store {
    /// Collects everything `desc` references into `reach`, recording problems instead of
    /// failing so `check` can report them all.
    pub(crate) fn walk(&self, desc: &Descriptor, reach: &mut Reach) {
        if !reach.blobs.insert(desc.digest.clone()) {
            return;
        }
        if !self.has_blob(&desc.digest) {
            reach.missing.insert(desc.digest.clone());
            return;
        }
        if media_type::is_index(&desc.media_type) {
            if let Some(index) = self.parse_blob::<Index>(&desc.digest, reach) {
                for child in &index.manifests {
                    self.walk(child, reach);
                }
            }
        } else if media_type::is_manifest(&desc.media_type) {
            if let Some(manifest) = self.parse_blob::<Manifest>(&desc.digest, reach) {
                self.walk_manifest(&manifest, reach);
                reach.manifests.push((desc.digest.clone(), manifest));
            }
        }
    }

    fn walk_manifest(&self, manifest: &Manifest, reach: &mut Reach) {
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            reach.blobs.insert(blob.digest.clone());
            if !self.has_blob(&blob.digest) {
                reach.missing.insert(blob.digest.clone());
            }
        }
        if !self.has_blob(&manifest.config.digest) {
            return;
        }
        if let Some(config) = self.parse_blob::<ImageConfig>(&manifest.config.digest, reach) {
            let diff_ids = &config.rootfs.diff_ids;
            for n in 1..=diff_ids.len() {
                if let Some(id) = chain_id(&diff_ids[..n]) {
                    reach.snapshots.insert(id);
                }
            }
        }
    }

    fn parse_blob<T: DeserializeOwned>(&self, digest: &Digest, reach: &mut Reach) -> Option<T> {
        let parsed = self
            .read_blob(digest)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
        match parsed {
            Ok(v) => Some(v),
            Err(why) => {
                reach.unreadable.push((digest.clone(), why));
                None
            }
        }
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
