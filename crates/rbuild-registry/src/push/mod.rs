//! Push: blobs first (HEAD, cross-repository mount, upload), in parallel; manifests last.

mod body;
mod upload;

use futures_util::{StreamExt, TryStreamExt};
use rbuild_oci::{media_type, Descriptor, Digest, Index, Manifest, Reference};
use rbuild_store::Store;
use reqwest::Method;

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::manifest::parse_json;
use crate::sources;

/// What a push is doing, for progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushEvent {
    /// The blob is already in the target repository.
    Exists {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// The blob was mounted from another repository of the same registry.
    Mounted {
        /// Blob digest.
        digest: Digest,
        /// Source repository.
        from: String,
    },
    /// Upload of the blob starts.
    Uploading {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// Bytes of the blob the registry has acknowledged so far (per chunk).
    Progress {
        /// Blob digest.
        digest: Digest,
        /// Bytes acknowledged.
        sent: u64,
        /// Blob size.
        total: u64,
    },
    /// The blob is uploaded.
    Uploaded {
        /// Blob digest.
        digest: Digest,
        /// Blob size.
        size: u64,
    },
    /// An upload failed transiently and is being resumed or restarted.
    Retrying {
        /// Blob digest.
        digest: Digest,
        /// Attempt about to be made (2 = first retry).
        attempt: u32,
        /// What failed.
        reason: String,
    },
    /// A manifest (or index) was stored under `reference`.
    ManifestPushed {
        /// Manifest digest.
        digest: Digest,
        /// Tag or digest it was pushed as.
        reference: String,
    },
}

impl Client {
    /// Pushes the image whose manifest descriptor is given (all blobs from the store) to `target`;
    /// returns the pushed manifest digest. An index pushes each listed manifest first.
    pub async fn push(
        &self,
        store: &Store,
        manifest: &Descriptor,
        target: &Reference,
        progress: &dyn Fn(PushEvent),
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
        progress: &dyn Fn(PushEvent),
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
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        if !media_type::is_manifest(&desc.media_type) {
            return Err(RegistryError::InvalidContent {
                what: format!("manifest {}", desc.digest),
                reason: format!("cannot push media type {:?}", desc.media_type),
            });
        }
        let m: Manifest = parse_json(bytes, &format!("manifest {}", desc.digest))?;
        let mut seen = std::collections::HashSet::new();
        let blobs: Vec<&Descriptor> = std::iter::once(&m.config)
            .chain(&m.layers)
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        futures_util::stream::iter(
            blobs
                .into_iter()
                .map(|d| self.push_blob(store, ep, d, progress)),
        )
        .buffer_unordered(self.inner.parallel)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }

    /// Makes one blob present in the target: already there, mounted, or uploaded.
    async fn push_blob(
        &self,
        store: &Store,
        ep: &Endpoint,
        desc: &Descriptor,
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        let scopes = [ep.scope("pull,push")];
        if self.blob_exists(ep, &scopes, &desc.digest).await? {
            progress(PushEvent::Exists {
                digest: desc.digest.clone(),
                size: desc.size,
            });
        } else {
            let from = sources::mount_source(store, &desc.digest, &ep.registry, &ep.repository);
            match self.start_upload(ep, &desc.digest, from.as_deref()).await? {
                upload::Started::Mounted => progress(PushEvent::Mounted {
                    digest: desc.digest.clone(),
                    from: from.unwrap_or_default(),
                }),
                upload::Started::Session(session) => {
                    progress(PushEvent::Uploading {
                        digest: desc.digest.clone(),
                        size: desc.size,
                    });
                    self.upload(store, ep, desc, session, progress).await?;
                    progress(PushEvent::Uploaded {
                        digest: desc.digest.clone(),
                        size: desc.size,
                    });
                }
            }
        }
        sources::record(store, &desc.digest, &ep.name());
        Ok(())
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
    async fn put_manifest(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        bytes: &[u8],
        reference: &str,
        progress: &dyn Fn(PushEvent),
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
