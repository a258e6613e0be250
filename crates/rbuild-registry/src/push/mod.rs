//! Push: blobs first (HEAD, cross-repository mount, upload), in parallel; manifests last.

mod body;
mod event;
mod upload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use rbuild_oci::{media_type, Descriptor, Digest, Index, Manifest, Reference};
use rbuild_store::Store;
use reqwest::Method;

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::manifest::parse_json;
use crate::sources;

pub(crate) use event::PushProgress as Progress;
pub use event::{BlobPushed, PushEvent, PushProgress};
pub(crate) use upload::Started;

impl Client {
    /// Pushes the image whose manifest descriptor is given (all blobs from the store) to `target`;
    /// returns the pushed manifest digest. An index pushes each listed manifest first.
    pub async fn push(
        &self,
        store: &Store,
        manifest: &Descriptor,
        target: &Reference,
        progress: Progress<'_>,
    ) -> Result<Digest, RegistryError> {
        let ep = self.endpoint(&target.registry, target.endpoint_host(), &target.repository)?;
        if let Some(pin) = target.digest.as_ref().filter(|d| **d != manifest.digest) {
            return Err(RegistryError::DigestMismatch {
                what: format!("push target {target}"),
                expected: pin.clone(),
                actual: manifest.digest.clone(),
            });
        }
        let bytes = store.read_blob(&manifest.digest)?;
        if media_type::is_index(&manifest.media_type) {
            self.push_children(store, &ep, manifest, &bytes, progress)
                .await?;
        } else {
            self.push_image(store, &ep, manifest, &bytes, progress)
                .await?;
        }
        let tag = target
            .tag
            .clone()
            .unwrap_or_else(|| manifest.digest.to_string());
        self.put_manifest(&ep, manifest, &bytes, &tag, progress)
            .await?;
        sources::record(store, &manifest.digest, &ep.name());
        Ok(manifest.digest.clone())
    }

    /// Pushes each image an index lists, blobs then manifest (by digest).
    async fn push_children(
        &self,
        store: &Store,
        ep: &Endpoint,
        index: &Descriptor,
        bytes: &[u8],
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        let parsed: Index = parse_json(bytes, &format!("index {}", index.digest))?;
        for child in &parsed.manifests {
            let child_bytes = store.read_blob(&child.digest)?;
            self.push_image(store, ep, child, &child_bytes, progress)
                .await?;
            let reference = child.digest.to_string();
            self.put_manifest(ep, child, &child_bytes, &reference, progress)
                .await?;
        }
        Ok(())
    }

    /// Pushes the config and layers of one manifest, several at a time.
    async fn push_image(
        &self,
        store: &Store,
        ep: &Endpoint,
        desc: &Descriptor,
        bytes: &[u8],
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        if !media_type::is_manifest(&desc.media_type) {
            return Err(RegistryError::InvalidContent {
                what: format!("manifest {}", desc.digest),
                reason: format!("cannot push media type {:?}", desc.media_type),
            });
        }
        let m: Manifest = parse_json(bytes, &format!("manifest {}", desc.digest))?;
        let blobs: Vec<Descriptor> = std::iter::once(m.config).chain(m.layers).collect();
        self.push_blobs(store, ep, &blobs, progress).await
    }

    /// Makes each of `blobs` present in the target, several at a time.
    pub(crate) async fn push_blobs(
        &self,
        store: &Store,
        ep: &Endpoint,
        blobs: &[Descriptor],
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        let mut seen = std::collections::HashSet::new();
        // Collected first: a lazy map held across the await would make the future !Send.
        let pushes: Vec<_> = blobs
            .iter()
            .filter(|d| seen.insert(d.digest.clone()))
            .map(|d| self.push_blob(store, ep, d, progress, Arc::default()))
            .collect();
        futures_util::stream::iter(pushes)
            .buffer_unordered(self.inner.parallel)
            .try_collect::<Vec<BlobPushed>>()
            .await?;
        Ok(())
    }

    /// Makes one blob present in the target: already there, mounted from a repository the
    /// store knows holds it, or uploaded from the store (bytes counted in `sent`).
    pub(crate) async fn push_blob(
        &self,
        store: &Store,
        ep: &Endpoint,
        desc: &Descriptor,
        progress: Progress<'_>,
        sent: Arc<AtomicU64>,
    ) -> Result<BlobPushed, RegistryError> {
        let scopes = [ep.scope("pull,push")];
        let (digest, size) = (desc.digest.clone(), desc.size);
        let pushed = if self.blob_exists(ep, &scopes, &desc.digest).await? {
            progress(PushEvent::Exists { digest, size });
            BlobPushed::Exists
        } else {
            let from = sources::mount_source(store, &desc.digest, &ep.registry, &ep.repository);
            match self.start_upload(ep, &desc.digest, from.as_deref()).await? {
                Started::Mounted => {
                    let from = from.unwrap_or_default();
                    progress(PushEvent::Mounted {
                        digest,
                        from: from.clone(),
                    });
                    BlobPushed::Mounted { from }
                }
                Started::Session(session) => {
                    progress(PushEvent::Uploading { digest, size });
                    self.upload(store, ep, desc, session, progress, &sent)
                        .await?;
                    let (digest, sent) = (desc.digest.clone(), sent.load(Ordering::Relaxed));
                    progress(PushEvent::Uploaded { digest, size });
                    BlobPushed::Uploaded { sent }
                }
            }
        };
        sources::record(store, &desc.digest, &ep.name());
        Ok(pushed)
    }

    /// HEADs a blob: true when the repository has it.
    pub(crate) async fn blob_exists(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = ep.url(&format!("blobs/{digest}"))?;
        let resp = self.request(ep, scopes, Method::HEAD, &url, &Ok).await?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self
                .status_error(resp, &Method::HEAD, ep, &format!("blob {digest}"))
                .await),
        }
    }

    /// PUTs a manifest under `reference` (a tag or its digest) and checks the digest the registry saw.
    pub(crate) async fn put_manifest(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        bytes: &[u8],
        reference: &str,
        progress: Progress<'_>,
    ) -> Result<(), RegistryError> {
        let url = ep.url(&format!("manifests/{reference}"))?;
        let scopes = [ep.scope("pull,push")];
        let body = bytes::Bytes::copy_from_slice(bytes);
        let mt = desc.media_type.clone();
        let resp = self
            .request(ep, &scopes, Method::PUT, &url, &|rb| {
                Ok(rb.header("content-type", mt.as_str()).body(body.clone()))
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .status_error(resp, &Method::PUT, ep, &format!("manifest {reference}"))
                .await);
        }
        let seen = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<Digest>().ok());
        if let Some(actual) = seen.filter(|d| *d != desc.digest) {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest pushed to {}:{reference}", ep.name()),
                expected: desc.digest.clone(),
                actual,
            });
        }
        progress(PushEvent::ManifestPushed {
            digest: desc.digest.clone(),
            reference: reference.to_string(),
        });
        Ok(())
    }
}
