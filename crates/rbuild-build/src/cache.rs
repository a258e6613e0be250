//! The solver's cache storage, backed by the store's key-value index.

use std::sync::Arc;

use rbuild_solver::{CacheKey, CacheStorage, Components};
use rbuild_store::Store;

use crate::image::FsState;

/// Build-cache records in the store: key → filesystem state, identity → last key components.
pub struct StoreCache {
    store: Arc<Store>,
}

impl StoreCache {
    /// A cache over `store`.
    pub fn new(store: Arc<Store>) -> Self {
        StoreCache { store }
    }
}

impl CacheStorage<FsState> for StoreCache {
    fn load(&self, key: &CacheKey) -> Option<FsState> {
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

    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &FsState) {
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
}
