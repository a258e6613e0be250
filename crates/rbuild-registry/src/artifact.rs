//! Pushing arbitrary OCI artifacts (the remote build cache's manifests and indexes): a manifest
//! whose config and layers, or an index whose entries, are blobs of any media type already in
//! the store (or mountable from another repository), with annotations, under a tag or by
//! digest only.

use std::collections::{BTreeMap, HashSet};

use rbuild_oci::{media_type, to_canonical_json, Descriptor, Digest, Reference};
use rbuild_store::Store;
use reqwest::Method;

use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::manifest::MANIFEST_ACCEPT;
use crate::push::Progress;
use crate::sources;

/// A manifest or index to push, described by its parts; its JSON is made here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// `application/vnd.oci.image.manifest.v1+json` or `…index.v1+json` (Docker's also work).
    pub media_type: String,
    /// The OCI `artifactType`, if any.
    pub artifact_type: Option<String>,
    /// A manifest's config blob (any media type); `None` for an index.
    pub config: Option<Descriptor>,
    /// A manifest's layers, or an index's entries. Index entries of a manifest media type
    /// must already be in the repository; any other entry is pushed as a blob.
    pub blobs: Vec<Descriptor>,
    /// Annotations of the manifest or index itself.
    pub annotations: BTreeMap<String, String>,
}

/// The JSON form: field order and omissions as in the OCI image spec.
#[derive(serde::Serialize)]
struct Doc<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layers: Option<&'a [Descriptor]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<&'a [Descriptor]>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

impl Artifact {
    /// An OCI image manifest with this config and these layers.
    pub fn manifest(config: Descriptor, layers: Vec<Descriptor>) -> Artifact {
        Artifact {
            media_type: media_type::OCI_MANIFEST.to_string(),
            artifact_type: None,
            config: Some(config),
            blobs: layers,
            annotations: BTreeMap::new(),
        }
    }

    /// An OCI index with these entries.
    pub fn index(entries: Vec<Descriptor>) -> Artifact {
        Artifact {
            media_type: media_type::OCI_INDEX.to_string(),
            artifact_type: None,
            config: None,
            blobs: entries,
            annotations: BTreeMap::new(),
        }
    }

    /// The document's bytes; refuses a manifest without config or an index with one.
    pub fn to_json(&self) -> Result<Vec<u8>, RegistryError> {
        let is_index = media_type::is_index(&self.media_type);
        let shape_ok = match (&self.config, is_index) {
            (Some(_), false) => media_type::is_manifest(&self.media_type),
            (None, true) => true,
            _ => false,
        };
        if !shape_ok {
            return Err(RegistryError::InvalidContent {
                what: format!("artifact of media type {:?}", self.media_type),
                reason: "a manifest needs a config, an index has none".to_string(),
            });
        }
        let blobs = Some(self.blobs.as_slice());
        Ok(to_canonical_json(&Doc {
            schema_version: 2,
            media_type: &self.media_type,
            artifact_type: self.artifact_type.as_deref(),
            config: self.config.as_ref(),
            layers: blobs.filter(|_| !is_index),
            manifests: blobs.filter(|_| is_index),
            annotations: &self.annotations,
        }))
    }

    /// The descriptor of the document [`Artifact::to_json`] makes.
    pub fn descriptor(&self) -> Result<Descriptor, RegistryError> {
        let bytes = self.to_json()?;
        Ok(Descriptor::new(
            &self.media_type,
            Digest::of(&bytes),
            bytes.len() as u64,
        ))
    }
}

impl Client {
    /// Pushes `artifact` to `repository` (its tag and digest are ignored): blobs first (already
    /// there, mounted from a repository the store knows holds them, or uploaded from the store),
    /// then the document under `tag`, or by digest only when `tag` is `None`. The document is
    /// also stored locally. Returns its descriptor.
    pub async fn push_artifact(
        &self,
        store: &Store,
        artifact: &Artifact,
        repository: &Reference,
        tag: Option<&str>,
        progress: Progress<'_>,
    ) -> Result<Descriptor, RegistryError> {
        let none = HashSet::new();
        self.push_artifact_over(store, artifact, repository, tag, &none, progress)
            .await
    }

    /// [`Client::push_artifact`] to a repository known to hold the blobs in `present` (those
    /// its tag's current document lists): they are not even asked about. The registry checks
    /// every blob a manifest names when it is put, so a wrong `present` fails that put.
    pub async fn push_artifact_over(
        &self,
        store: &Store,
        artifact: &Artifact,
        repository: &Reference,
        tag: Option<&str>,
        present: &HashSet<Digest>,
        progress: Progress<'_>,
    ) -> Result<Descriptor, RegistryError> {
        let r = repository;
        let ep = self.endpoint(&r.registry, r.endpoint_host(), &r.repository)?;
        let bytes = artifact.to_json()?;
        let desc = Descriptor::new(&artifact.media_type, Digest::of(&bytes), bytes.len() as u64);
        let (manifests, mut blobs) = artifact_parts(artifact);
        blobs.retain(|b| !present.contains(&b.digest));
        self.require_manifests(&ep, &manifests).await?;
        self.push_blobs(store, &ep, &blobs, progress).await?;
        store.put_blob(&bytes)?;
        let reference = tag.map_or_else(|| desc.digest.to_string(), str::to_string);
        self.put_manifest(&ep, &desc, &bytes, &reference, progress)
            .await?;
        sources::record(store, &desc.digest, &ep.name());
        Ok(desc)
    }

    /// Fails unless the repository holds each of `manifests`.
    async fn require_manifests(
        &self,
        ep: &Endpoint,
        manifests: &[Descriptor],
    ) -> Result<(), RegistryError> {
        let scopes = [ep.scope("pull,push")];
        for m in manifests {
            let url = ep.url(&format!("manifests/{}", m.digest))?;
            // Without Accept, distribution answers 404 for OCI manifests it cannot convert.
            let accept = |rb: reqwest::RequestBuilder| Ok(rb.header("accept", MANIFEST_ACCEPT));
            let resp = self
                .request(ep, &scopes, Method::HEAD, &url, &accept)
                .await?;
            if !resp.status().is_success() {
                let what = format!("manifest {} (push it before the index)", m.digest);
                return Err(self.status_error(resp, &Method::HEAD, ep, &what).await);
            }
        }
        Ok(())
    }
}

/// The manifests an artifact refers to (index entries of a manifest type) and its blobs.
fn artifact_parts(a: &Artifact) -> (Vec<Descriptor>, Vec<Descriptor>) {
    let is_doc = |d: &&Descriptor| {
        media_type::is_index(&a.media_type)
            && (media_type::is_manifest(&d.media_type) || media_type::is_index(&d.media_type))
    };
    let manifests = a.blobs.iter().filter(is_doc).cloned().collect();
    let blobs = a
        .config
        .iter()
        .chain(a.blobs.iter().filter(|d| !is_doc(d)))
        .cloned()
        .collect();
    (manifests, blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(mt: &str, data: &[u8]) -> Descriptor {
        Descriptor::new(mt, Digest::of(data), data.len() as u64)
    }

    #[test]
    fn manifest_and_index_json_have_the_spec_shape() {
        let cfg = blob("application/vnd.buildkit.cacheconfig.v0", b"{}");
        let mut m = Artifact::manifest(cfg.clone(), vec![blob(media_type::OCI_LAYER_GZIP, b"l")]);
        m.artifact_type = Some("application/vnd.rbuild.cache".into());
        m.annotations.insert("k".into(), "v".into());
        let v: serde_json::Value = serde_json::from_slice(&m.to_json().unwrap()).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["artifactType"], "application/vnd.rbuild.cache");
        assert_eq!(v["config"]["mediaType"], cfg.media_type.as_str());
        assert_eq!(v["layers"].as_array().unwrap().len(), 1);
        assert!(v.get("manifests").is_none());
        assert_eq!(v["annotations"]["k"], "v");
        let i = Artifact::index(vec![cfg.clone(), blob(media_type::OCI_MANIFEST, b"m")]);
        let v: serde_json::Value = serde_json::from_slice(&i.to_json().unwrap()).unwrap();
        assert!(v.get("layers").is_none() && v.get("config").is_none());
        let (manifests, blobs) = artifact_parts(&i);
        assert_eq!((manifests.len(), blobs), (1, vec![cfg.clone()]));
        let d = i.descriptor().unwrap();
        assert_eq!(d.digest, Digest::of(&i.to_json().unwrap()));
    }

    #[test]
    fn malformed_artifacts_are_refused() {
        let cfg = blob("x/y", b"{}");
        let mut no_config = Artifact::manifest(cfg.clone(), vec![]);
        no_config.config = None;
        assert!(no_config.to_json().is_err());
        let mut index_with_config = Artifact::index(vec![]);
        index_with_config.config = Some(cfg);
        assert!(index_with_config.to_json().is_err());
    }
}
