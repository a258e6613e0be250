//! Pull: manifest negotiation, platform selection, verified streaming of blobs into the store.

mod blob;

use rbuild_oci::{media_type, Descriptor, ImageConfig, Index, Manifest, Platform, Reference};
use rbuild_store::Store;

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::manifest::{parse_json, Fetched, CONFIG_LIMIT};
use crate::progress::PullEvent;
use crate::{platform, sources};

/// An image pulled into the store.
#[derive(Clone, Debug)]
pub struct PulledImage {
    /// The single-platform manifest, stored as a blob.
    pub manifest: Descriptor,
    /// The image config.
    pub config: ImageConfig,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

impl Client {
    /// Resolves `reference` (tag or digest) for `platform`, downloads manifest, config and missing
    /// layers into the store, verifying every digest while streaming; layers fetched in parallel.
    /// Tags the result in the store under `reference.familiar()` when pulled by tag.
    pub async fn pull(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<PulledImage, RegistryError> {
        let img = self.fetch(store, reference, platform).await?;
        if reference.digest.is_none() && reference.tag.is_some() {
            store.set_tag(&reference.familiar(), &img.manifest)?;
        }
        Ok(img)
    }

    /// Like [`Client::pull`] but sets no tag (for base images resolved during a build).
    pub async fn fetch(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<PulledImage, RegistryError> {
        self.fetch_from_endpoints(store, reference, platform, true)
            .await
    }

    /// Like [`Client::fetch`] but downloads only the manifest and the config: the layers
    /// stay in the registry, recorded as blob sources (`pull_blob` or a push's mount gets
    /// them later). The manifest is stored, so a store holding it may lack its layers.
    pub async fn fetch_lazily(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<PulledImage, RegistryError> {
        self.fetch_from_endpoints(store, reference, platform, false)
            .await
    }

    async fn fetch_from_endpoints(
        &self,
        store: &Store,
        reference: &Reference,
        platform: &Platform,
        layers: bool,
    ) -> Result<PulledImage, RegistryError> {
        let endpoints = self.pull_endpoints(reference)?;
        let last = endpoints.len().saturating_sub(1);
        for (i, ep) in endpoints.iter().enumerate() {
            self.report(PullEvent::Resolving {
                reference: reference.to_string(),
                host: ep.host.clone(),
            });
            match self.pull_from(store, ep, reference, platform, layers).await {
                // A mirror that fails for any reason but bad content gives way to the next.
                Err(e)
                    if i < last
                        && !matches!(
                            e,
                            RegistryError::DigestMismatch { .. }
                                | RegistryError::SizeMismatch { .. }
                        ) =>
                {
                    continue
                }
                other => return other,
            }
        }
        Err(RegistryError::Protocol {
            host: reference.registry.clone(),
            reason: "no endpoint to pull from".to_string(),
        })
    }

    async fn pull_from(
        &self,
        store: &Store,
        ep: &Endpoint,
        reference: &Reference,
        want: &Platform,
        layers: bool,
    ) -> Result<PulledImage, RegistryError> {
        let scopes = [ep.scope("pull")];
        let (doc, from_index) = self.resolve(ep, &scopes, reference, want).await?;
        let manifest: Manifest = parse_json(&doc.bytes, &format!("manifest {}", doc.digest))?;
        check_config_size(&manifest, reference)?;
        self.fetch_blobs(store, ep, &scopes, &manifest, layers)
            .await?;
        let config: ImageConfig = parse_json(
            &store.read_blob(&manifest.config.digest)?,
            &format!("config {}", manifest.config.digest),
        )?;
        // The manifest goes in last: a stored manifest implies its blobs are there, or (lazily)
        // that their sources are recorded.
        store.put_blob(&doc.bytes)?;
        sources::record(store, &doc.digest, &ep.name());
        let mut desc = Descriptor::new(&doc.media_type, doc.digest, doc.bytes.len() as u64);
        desc.platform = from_index.or_else(|| {
            Some(Platform {
                architecture: config.architecture.clone(),
                os: config.os.clone(),
                variant: config.variant.clone(),
            })
        });
        Ok(PulledImage {
            manifest: desc,
            config,
            layers: manifest.layers,
        })
    }

    /// The single-platform manifest for `want` (through the index, if the reference names
    /// one), verified, with the platform the index gave it.
    async fn resolve(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        reference: &Reference,
        want: &Platform,
    ) -> Result<(Fetched, Option<Platform>), RegistryError> {
        let target = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        let pin = reference.digest.as_ref();
        let top = self.get_manifest(ep, scopes, &target, pin).await?;
        let (doc, from_index) = if media_type::is_index(&top.media_type) {
            let index: Index = parse_json(&top.bytes, &format!("index {target}"))?;
            let chosen = platform::select(&index.manifests, want).ok_or_else(|| {
                RegistryError::NoMatchingPlatform {
                    reference: reference.to_string(),
                    platform: want.to_spec(),
                    available: platform::available(&index.manifests),
                }
            })?;
            let digest = &chosen.digest;
            let m = self
                .get_manifest(ep, scopes, &digest.to_string(), Some(digest))
                .await?;
            (m, chosen.platform.clone())
        } else {
            (top, None)
        };
        if !media_type::is_manifest(&doc.media_type) {
            return Err(RegistryError::InvalidContent {
                what: format!("{reference}"),
                reason: format!("unsupported manifest media type {:?}", doc.media_type),
            });
        }
        Ok((doc, from_index))
    }
}

/// Refuses a config the manifest says is larger than [`CONFIG_LIMIT`], before downloading it:
/// it is read into memory whole.
fn check_config_size(m: &Manifest, reference: &Reference) -> Result<(), RegistryError> {
    if m.config.size <= CONFIG_LIMIT {
        return Ok(());
    }
    Err(RegistryError::TooLarge {
        what: format!(
            "config {} of {reference} ({} bytes)",
            m.config.digest, m.config.size
        ),
        limit: CONFIG_LIMIT,
    })
}
