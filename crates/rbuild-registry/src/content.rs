//! Single pieces of a repository, for the remote build cache: a manifest or index read into
//! memory (bounded, verified) without its blobs, one blob fetched into the store on demand,
//! which of many blobs a repository has, and blob mounts from another repository.

use futures_util::{StreamExt, TryStreamExt};
use rbuild_oci::{Descriptor, Digest, Reference};
use rbuild_store::Store;
use reqwest::Method;

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::push::Started;
use crate::sources;

/// A manifest or index as the registry holds it, verified against its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestDocument {
    /// Media type (from the document, else `Content-Type`), digest and size.
    pub descriptor: Descriptor,
    /// The exact bytes (at most 4 MiB).
    pub bytes: Vec<u8>,
}

/// Records that `digest` is in `repository`, so a later push to another repository of the
/// same registry mounts it instead of uploading (the blob need not be in the store).
pub fn record_blob_source(store: &Store, digest: &Digest, repository: &Reference) {
    sources::record(store, digest, &repository.name());
}

/// The repositories (`registry/repository`) `digest` is known to be in, most recent first.
pub fn blob_sources(store: &Store, digest: &Digest) -> Vec<String> {
    sources::known(store, digest)
}

impl Client {
    /// The endpoint of `r`'s repository on its registry (mirrors are not used).
    fn repository_endpoint(&self, r: &Reference) -> Result<Endpoint, RegistryError> {
        self.endpoint(&r.registry, r.endpoint_host(), &r.repository)
    }

    /// Reads the manifest or index `reference` names (its digest if pinned, else its tag) into
    /// memory, checking its digest; its blobs are not fetched.
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<ManifestDocument, RegistryError> {
        let ep = self.repository_endpoint(reference)?;
        let target = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        let scopes = [ep.scope("pull")];
        let pin = reference.digest.as_ref();
        let doc = self.get_manifest(&ep, &scopes, &target, pin).await?;
        let size = doc.bytes.len() as u64;
        Ok(ManifestDocument {
            descriptor: Descriptor::new(&doc.media_type, doc.digest, size),
            bytes: doc.bytes,
        })
    }

    /// Fetches the blob `desc` describes from `repository` into the store (verified against
    /// its digest and size, resumed after breaks) unless the store has it already.
    pub async fn pull_blob(
        &self,
        store: &Store,
        repository: &Reference,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        self.pull_layer(store, repository, desc, None).await
    }

    /// [`Client::pull_blob`] of an image's layer at `place` (1-based index, layer count),
    /// which its progress events report.
    pub async fn pull_layer(
        &self,
        store: &Store,
        repository: &Reference,
        desc: &Descriptor,
        place: Option<(usize, usize)>,
    ) -> Result<(), RegistryError> {
        let ep = self.repository_endpoint(repository)?;
        if !store.has_blob(&desc.digest) {
            let scopes = [ep.scope("pull")];
            self.fetch_blob(store, &ep, &scopes, desc, place).await?;
        }
        sources::record(store, &desc.digest, &ep.name());
        Ok(())
    }

    /// Which of `digests` `repository` holds, in the same order (HEADs, several at a time).
    pub async fn has_blobs(
        &self,
        repository: &Reference,
        digests: &[Digest],
    ) -> Result<Vec<bool>, RegistryError> {
        let ep = self.repository_endpoint(repository)?;
        let scopes = [ep.scope("pull")];
        // Collected first: a lazy map held across the await would make the future !Send.
        let heads: Vec<_> = digests
            .iter()
            .map(|d| self.blob_exists(&ep, &scopes, d))
            .collect();
        futures_util::stream::iter(heads)
            .buffered(self.inner.parallel)
            .try_collect()
            .await
    }

    /// Asks `target`'s registry to mount `digest` into `target`'s repository from
    /// `from_repository` (same registry). True when it did; false when it does not have the
    /// blob there (or does not mount), in which case nothing was changed.
    pub async fn mount_blob(
        &self,
        target: &Reference,
        digest: &Digest,
        from_repository: &str,
    ) -> Result<bool, RegistryError> {
        let ep = self.repository_endpoint(target)?;
        match self
            .start_upload(&ep, digest, Some(from_repository))
            .await?
        {
            Started::Mounted => Ok(true),
            Started::Session(s) => {
                // Best effort: an abandoned session only costs the registry a cleanup.
                let scopes = [ep.scope("pull,push")];
                let _ = self
                    .request(&ep, &scopes, Method::DELETE, &s.location, &Ok)
                    .await;
                Ok(false)
            }
        }
    }
}
