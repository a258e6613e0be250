//! Pull: manifest negotiation, platform selection, verified streaming of blobs into the store.

use futures_util::{StreamExt, TryStreamExt};
use rbuild_oci::{media_type, Descriptor, ImageConfig, Index, Manifest, Platform, Reference};
use rbuild_store::Store;
use reqwest::Method;

use crate::client::{status_error, Client, Endpoint};
use crate::error::RegistryError;
use crate::manifest::parse_json;
use crate::sink::BlobSink;
use crate::transport::{describe, network_error};
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
        let endpoints = self.pull_endpoints(reference)?;
        let last = endpoints.len().saturating_sub(1);
        for (i, ep) in endpoints.iter().enumerate() {
            match self.pull_from(store, ep, reference, platform).await {
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
    ) -> Result<PulledImage, RegistryError> {
        let scopes = [ep.scope("pull")];
        let target = match (&reference.digest, &reference.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        let top = self
            .get_manifest(ep, &scopes, &target, reference.digest.as_ref())
            .await?;
        let (doc, from_index) = if media_type::is_index(&top.media_type) {
            let index: Index = parse_json(&top.bytes, &format!("index {target}"))?;
            let chosen = platform::select(&index.manifests, want).ok_or_else(|| {
                RegistryError::NoMatchingPlatform {
                    reference: reference.to_string(),
                    platform: want.to_spec(),
                    available: platform::available(&index.manifests),
                }
            })?;
            let m = self
                .get_manifest(
                    ep,
                    &scopes,
                    &chosen.digest.to_string(),
                    Some(&chosen.digest),
                )
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
        let manifest: Manifest = parse_json(&doc.bytes, &format!("manifest {}", doc.digest))?;
        self.fetch_blobs(store, ep, &scopes, &manifest).await?;
        let config: ImageConfig = parse_json(
            &store.read_blob(&manifest.config.digest)?,
            &format!("config {}", manifest.config.digest),
        )?;
        // The manifest goes in last: a stored manifest implies its blobs are there.
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

    /// Downloads config and layers not yet in the store, several at a time.
    async fn fetch_blobs(
        &self,
        store: &Store,
        ep: &Endpoint,
        scopes: &[String],
        m: &Manifest,
    ) -> Result<(), RegistryError> {
        let all: Vec<&Descriptor> = std::iter::once(&m.config).chain(&m.layers).collect();
        let mut seen = std::collections::HashSet::new();
        let missing = all
            .iter()
            .filter(|d| seen.insert(d.digest.clone()) && !store.has_blob(&d.digest))
            .map(|d| self.fetch_blob(store, ep, scopes, d));
        futures_util::stream::iter(missing)
            .buffer_unordered(self.inner.parallel)
            .try_collect::<Vec<()>>()
            .await?;
        for d in all {
            sources::record(store, &d.digest, &ep.name());
        }
        Ok(())
    }

    /// Streams one blob into the store, resuming with `Range` after a broken connection.
    async fn fetch_blob(
        &self,
        store: &Store,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let url = ep.url(&format!("blobs/{}", desc.digest))?;
        let what = format!("blob {} from {}", desc.digest, ep.name());
        let mut sink = BlobSink::new(store)?;
        let mut broken = 0;
        loop {
            let offset = sink.written();
            let resp = self
                .request(ep, scopes, Method::GET, &url, &|rb| {
                    Ok(if offset > 0 {
                        rb.header("range", format!("bytes={offset}-"))
                    } else {
                        rb
                    })
                })
                .await?;
            match resp.status().as_u16() {
                206 if offset > 0 && range_start(&resp) == Some(offset) => {}
                200 if offset > 0 => sink = BlobSink::new(store)?,
                200 => {}
                _ => {
                    return Err(status_error(
                        resp,
                        &Method::GET,
                        ep,
                        &format!("blob {}", desc.digest),
                    )
                    .await)
                }
            }
            match copy_body(resp, &mut sink, desc.size, &what).await {
                Ok(()) => break,
                Err(CopyError::Fatal(e)) => return Err(e),
                Err(CopyError::Broken(reason)) => {
                    broken += 1;
                    if broken >= self.inner.retry.attempts {
                        return Err(network_error("GET", &url, reason));
                    }
                    tokio::time::sleep(self.inner.retry.backoff(broken)).await;
                }
            }
        }
        sink.commit(&desc.digest, desc.size, &what).await
    }
}

enum CopyError {
    /// The connection broke: resume.
    Broken(String),
    /// Anything else: give up.
    Fatal(RegistryError),
}

async fn copy_body(
    resp: reqwest::Response,
    sink: &mut BlobSink,
    size: u64,
    what: &str,
) -> Result<(), CopyError> {
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CopyError::Broken(describe(&e)))?;
        if sink.written() + chunk.len() as u64 > size {
            return Err(CopyError::Fatal(RegistryError::SizeMismatch {
                what: what.to_string(),
                expected: size,
                actual: sink.written() + chunk.len() as u64,
            }));
        }
        sink.write(chunk).await.map_err(CopyError::Fatal)?;
    }
    if sink.written() < size {
        return Err(CopyError::Broken(format!(
            "body ended after {} of {size} bytes",
            sink.written()
        )));
    }
    Ok(())
}

/// The first byte of a 206 response's `Content-Range: bytes <start>-<end>/<total>`.
fn range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get("content-range")?.to_str().ok()?;
    v.trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}
