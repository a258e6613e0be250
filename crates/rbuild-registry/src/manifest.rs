//! Fetching manifests and indexes: content negotiation, size limit, digest checks (pure parts
//! separate from the request).

use rbuild_oci::{media_type, Digest};
use reqwest::{Method, Response, Url};

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;

/// Every manifest kind we understand, for content negotiation.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";
/// Manifests and indexes larger than this are refused (the distribution spec suggests 4 MiB).
const MANIFEST_LIMIT: u64 = 4 << 20;
/// Image configs larger than this are refused: twice the manifest limit, for long histories.
pub(crate) const CONFIG_LIMIT: u64 = 2 * MANIFEST_LIMIT;

/// A manifest or index as fetched and verified.
pub(crate) struct Fetched {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// A manifest as it arrived, before any check.
struct Raw {
    content_type: Option<String>,
    /// The `Docker-Content-Digest` the registry claims for it.
    claimed: Option<String>,
    bytes: Vec<u8>,
}

impl Client {
    /// GETs a manifest or index with content negotiation and checks its digest against
    /// `pinned`, else against the `Docker-Content-Digest` the registry sent.
    pub(crate) async fn get_manifest(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        target: &str,
        pinned: Option<&Digest>,
    ) -> Result<Fetched, RegistryError> {
        let url = ep.url(&format!("manifests/{target}"))?;
        let raw = self.read_manifest(ep, scopes, &url, target).await?;
        let digest = Digest::of(&raw.bytes);
        let claimed = pinned
            .cloned()
            .or_else(|| raw.claimed.and_then(|h| h.parse().ok()));
        if let Some(expected) = claimed.filter(|c| *c != digest) {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {target} from {}", ep.name()),
                expected,
                actual: digest,
            });
        }
        let media_type = detect_media_type(raw.content_type.as_deref(), &raw.bytes, target)?;
        Ok(Fetched {
            media_type,
            bytes: raw.bytes,
            digest,
        })
    }

    /// GETs the manifest, reading it again when its body breaks off (the request itself is
    /// already retried by the transport).
    async fn read_manifest(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        url: &Url,
        target: &str,
    ) -> Result<Raw, RegistryError> {
        let transport = self.transport();
        let mut attempt = 1;
        loop {
            let resp = self
                .request(ep, scopes, Method::GET, url, &|rb| {
                    Ok(rb.header("accept", MANIFEST_ACCEPT))
                })
                .await?;
            if !resp.status().is_success() {
                let what = format!("manifest {target}");
                return Err(self.status_error(resp, &Method::GET, ep, &what).await);
            }
            match self.read_raw(resp, url).await {
                Ok(raw) => return Ok(raw),
                Err(e) if e.is_transient() && attempt < self.inner.retry.attempts => {
                    attempt += 1;
                    transport.retrying(&format!("manifest {target}"), attempt, e.to_string());
                    tokio::time::sleep(self.inner.retry.backoff(attempt - 1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The body (within [`MANIFEST_LIMIT`]) and the headers that matter of a manifest answer.
    async fn read_raw(&self, resp: Response, url: &Url) -> Result<Raw, RegistryError> {
        let header = |name: &str| {
            let v = resp.headers().get(name)?.to_str().ok()?;
            Some(v.to_string())
        };
        let (content_type, claimed) = (header("content-type"), header("docker-content-digest"));
        let bytes = self
            .transport()
            .read_small(resp, "GET", url, MANIFEST_LIMIT)
            .await?;
        Ok(Raw {
            content_type,
            claimed,
            bytes,
        })
    }
}

/// The media type: the body's own `mediaType`, else `Content-Type`, else sniffed from its shape.
fn detect_media_type(
    ctype: Option<&str>,
    bytes: &[u8],
    target: &str,
) -> Result<String, RegistryError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "schemaVersion", default)]
        schema_version: u32,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let p: Probe = parse_json(bytes, &format!("manifest {target}"))?;
    if p.schema_version == 1 {
        return Err(RegistryError::InvalidContent {
            what: format!("manifest {target}"),
            reason: "Docker schema 1 manifests are not supported; push the image again with a current Docker".into(),
        });
    }
    let ctype = ctype.map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
    let known = |m: &String| media_type::is_manifest(m) || media_type::is_index(m);
    Ok(match (p.media_type.filter(known), ctype.filter(known)) {
        (Some(m), _) | (None, Some(m)) => m,
        _ if p.manifests.is_some() => media_type::OCI_INDEX.to_string(),
        _ if p.config.is_some() => media_type::OCI_MANIFEST.to_string(),
        _ => {
            return Err(RegistryError::InvalidContent {
                what: format!("manifest {target}"),
                reason: "neither a manifest nor an index".into(),
            })
        }
    })
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::InvalidContent {
        what: what.to_string(),
        reason: format!("invalid JSON: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_media_types() {
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert_eq!(
            detect_media_type(None, oci, "t").unwrap(),
            media_type::OCI_INDEX
        );
        let bare = br#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        assert_eq!(
            detect_media_type(Some("application/json"), bare, "t").unwrap(),
            media_type::OCI_MANIFEST
        );
        assert_eq!(
            detect_media_type(
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                bare,
                "t"
            )
            .unwrap(),
            media_type::DOCKER_MANIFEST
        );
        let v1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert!(detect_media_type(None, v1, "t")
            .unwrap_err()
            .to_string()
            .contains("schema 1"));
        assert!(detect_media_type(None, b"{}", "t").is_err());
    }
}
