//! The solver's cache storage, backed by the store's key-value index.

use std::sync::Arc;

use rbuild_solver::{CacheKey, CacheStorage, Components};
use rbuild_store::Store;

use crate::image::FsState;
use crate::remote_cache::Links;

/// Build-cache records in the store: key → filesystem state, identity → last key components;
/// a record the store lacks is looked for in the imported remote caches. Its keys are the
/// output-keyed ones (`solve::OutputKeyed`), which also tells the recorder what it met.
pub struct StoreCache<'a> {
    store: Arc<Store>,
    links: &'a Links<'a>,
}

impl<'a> StoreCache<'a> {
    /// A cache over `store` and the remote caches of `links`.
    pub fn new(store: Arc<Store>, links: &'a Links<'a>) -> Self {
        StoreCache { store, links }
    }

    /// The remote caches (and the recorder of what the build hits or makes).
    pub fn links(&self) -> &Links<'a> {
        self.links
    }

    fn load_local(&self, key: &CacheKey) -> Option<FsState> {
        let bytes = self
            .store
            .kv_get(rbuild_store::NS_CACHE, &key.to_hex())
            .ok()??;
        let fs: FsState = serde_json::from_slice(&bytes).ok()?;
        // A record whose blobs were pruned is a miss, never a broken image.
        fs.layers
            .iter()
            .all(|l| self.store.has_blob(&l.descriptor.digest))
            .then_some(fs)
    }

    fn save_record(&self, key: &CacheKey, value: &FsState) {
        if let Ok(v) = serde_json::to_vec(value) {
            // Recording the blobs lets prune drop entries whose layers it removed.
            let blobs: Vec<_> = value
                .layers
                .iter()
                .map(|l| l.descriptor.digest.clone())
                .collect();
            if let Err(e) =
                self.store
                    .kv_put_refs(rbuild_store::NS_CACHE, &key.to_hex(), &v, &blobs)
            {
                tracing::warn!("cannot record cache entry: {e}");
            }
        }
    }
}

impl CacheStorage<FsState> for StoreCache<'_> {
    fn load(&self, key: &CacheKey) -> Option<FsState> {
        self.load_local(key).or_else(|| {
            let fs = self.links.imported.fetch(&self.store, key)?;
            // Kept locally, so the next build on this machine hits without the remote.
            self.save_record(key, &fs);
            Some(fs)
        })
    }

    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &FsState) {
        self.save_record(key, value);
        self.links.made(&self.store, identity, value);
        if let Ok(c) = serde_json::to_vec(components) {
            let _ = self.store.kv_put(rbuild_store::NS_EXPLAIN, identity, &c);
        }
    }

    fn last_components(&self, identity: &str) -> Option<Components> {
        let bytes = self
            .store
            .kv_get(rbuild_store::NS_EXPLAIN, identity)
            .ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn canonical(&self, key: &CacheKey) -> Option<CacheKey> {
        let bytes = self
            .store
            .kv_get(rbuild_store::NS_CANONICAL, &key.to_hex())
            .ok()??;
        let hex = std::str::from_utf8(&bytes).ok()?;
        format!("sha256:{hex}").parse().ok()
    }

    fn set_canonical(&self, key: &CacheKey, canonical: &CacheKey) {
        let (k, v) = (key.to_hex(), canonical.to_hex());
        if let Err(e) = self
            .store
            .kv_put(rbuild_store::NS_CANONICAL, &k, v.as_bytes())
        {
            tracing::warn!("cannot record a settled cache key: {e}");
        }
    }
}
