//! Registry glue for the remote build cache (`--cache-to type=registry`, `--cache-from REF`):
//! each reference becomes a `CacheBackend` over the client the flags configured.

use rbuild_build::remote_cache::{
    mounts_tag, BackendError, CacheBackend, CacheBackends, MountsWritten, ARTIFACT_TYPE,
};
use rbuild_oci::{Descriptor, Digest, Reference};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rbuild_registry::{Artifact, RegistryError, Uploader};
use rbuild_store::{ImportedMount, Store};

use crate::commands::cache::transfer;

use crate::resolver::Remote;

/// Makes registry backends over `Remote`'s client.
pub struct RegistryCaches<'a>(pub &'a Remote);

impl CacheBackends for RegistryCaches<'_> {
    fn registry(&self, reference: &str) -> Result<Box<dyn CacheBackend + '_>, BackendError> {
        let reference = Reference::parse(reference)
            .map_err(|e| format!("invalid cache reference {reference:?}: {e}"))?;
        Ok(Box::new(RegistryCache {
            remote: self.0,
            reference,
            uploader: Mutex::new(None),
            present: OnceLock::new(),
        }))
    }
}

/// A cache under one tag (or digest, to read) of a repository.
struct RegistryCache<'a> {
    remote: &'a Remote,
    reference: Reference,
    /// Sends layers while the build runs; started by the first one.
    uploader: Mutex<Option<Uploader>>,
    /// The blobs the document at this tag lists when the build writes to it: in the
    /// repository (the registry keeps what a tagged manifest names), so not sent or asked for.
    present: OnceLock<HashSet<Digest>>,
}

impl CacheBackend for RegistryCache<'_> {
    fn name(&self) -> String {
        self.reference.to_string()
    }

    fn manifest(&self) -> Result<Option<Vec<u8>>, BackendError> {
        match self
            .remote
            .block_on(|c| c.fetch_manifest(&self.reference))?
        {
            Ok(doc) => Ok(Some(doc.bytes)),
            // A first build writes the cache its --cache-from names: nothing there yet.
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, BackendError> {
        let r = &self.reference;
        Ok(self.remote.block_on(|c| c.blob_bytes(r, desc, limit))??)
    }

    fn fetch_blob(&self, store: &Store, desc: &Descriptor) -> Result<(), BackendError> {
        let r = &self.reference;
        self.remote.block_on(|c| c.pull_blob(store, r, desc))??;
        Ok(())
    }

    fn registry(&self) -> Option<String> {
        Some(self.reference.registry.clone())
    }

    fn note_source(&self, store: &Store, desc: &Descriptor) {
        rbuild_registry::record_blob_source(store, &desc.digest, &self.reference);
    }

    fn send_early(&self, store: &Arc<Store>, desc: &Descriptor) {
        let mut uploader = self.uploader.lock().unwrap_or_else(PoisonError::into_inner);
        if uploader.is_none() {
            let handle = self.remote.handle();
            let client = self.remote.client();
            let r = &self.reference;
            *uploader = handle
                .ok()
                .and_then(|h| Uploader::new(client, store.clone(), r, h).ok());
        }
        if self.present().contains(&desc.digest) {
            return;
        }
        // A blob that fails to go now is sent (or found there) by `write`.
        if let Some(up) = uploader.as_ref() {
            let _ = up.submit(&desc.digest);
        }
    }

    fn write(
        &self,
        store: &Store,
        config: &Descriptor,
        layers: &[Descriptor],
    ) -> Result<(), BackendError> {
        let r = &self.reference;
        let early = self
            .uploader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Blobs the early uploader got into the repository are not asked about again; when
        // one failed, every one is (below, blob by blob).
        let mut present = self.present().clone();
        if let Some(up) = early {
            if let Ok(done) = self.remote.block_on(|_| up.finish())? {
                present.extend(done.into_iter().map(|b| b.digest));
            }
        }
        if r.digest.is_some() {
            return Err(format!("{r}: a cache is written under a tag, not a digest").into());
        }
        let tag = r.tag.clone().unwrap_or_else(|| "latest".to_string());
        let artifact = Artifact {
            artifact_type: Some(ARTIFACT_TYPE.to_string()),
            ..Artifact::manifest(config.clone(), layers.to_vec())
        };
        // Blobs the registry has are not sent again; blobs of another repository of the
        // same registry (the image just pushed) are mounted, not uploaded; blobs the tag's
        // document listed or the early uploader sent are not even asked about, unless the
        // registry then refuses the document (the tag moved and its blobs were collected
        // meanwhile): then every one is.
        let put = |present: &HashSet<Digest>| {
            self.remote.block_on(|c| {
                c.push_artifact_over(store, &artifact, r, Some(&tag), present, &|_| {})
            })
        };
        match put(&present)? {
            Err(_) if !present.is_empty() => {
                put(&HashSet::new())??;
            }
            done => {
                done?;
            }
        }
        Ok(())
    }

    fn write_mounts(&self, store: &Store, ids: &[String]) -> Result<MountsWritten, BackendError> {
        let r = self.mounts_reference()?;
        let (base, warning) = transfer::registry_base(self.remote, &r);
        let export = store.export_cache_mounts(ids, &base)?;
        let (sent, bytes, present) = transfer::push(store, &export, self.remote, &r)?;
        Ok(MountsWritten {
            mounts: export.mounts.len(),
            sent,
            bytes,
            present,
            warning,
        })
    }

    fn read_mounts(&self, store: &Store) -> Result<Option<Vec<ImportedMount>>, BackendError> {
        let r = self.mounts_reference()?;
        Ok(transfer::import_registry(store, self.remote, &r, &[])?)
    }
}

impl RegistryCache<'_> {
    /// The blobs the document now at this tag lists (read once; none when it cannot be).
    fn present(&self) -> &HashSet<Digest> {
        self.present.get_or_init(|| {
            let Ok(Some(bytes)) = self.manifest() else {
                return HashSet::new();
            };
            let Ok(m) = serde_json::from_slice::<rbuild_oci::Manifest>(&bytes) else {
                return HashSet::new();
            };
            std::iter::once(m.config)
                .chain(m.layers)
                .map(|d| d.digest)
                .collect()
        })
    }

    /// Where the cache mounts go beside this cache: the same repository, tag `<tag>-mounts`.
    fn mounts_reference(&self) -> Result<Reference, BackendError> {
        let r = &self.reference;
        if r.digest.is_some() {
            return Err(format!("{r}: cache mounts (mounts=true) need a tag, not a digest").into());
        }
        let tag = mounts_tag(r.tag.as_deref().unwrap_or("latest"));
        Ok(Reference {
            tag: Some(tag),
            ..r.clone()
        })
    }
}
