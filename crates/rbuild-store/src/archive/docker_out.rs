//! Export as a docker-archive (`docker load`): `manifest.json` + config + layer blobs.

use std::collections::BTreeSet;
use std::io::Write;

use rbuild_oci::{media_type, Descriptor, Digest, Index, Manifest, Platform, Reference};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::ocilayout::{blob_entry, TarOut};
use crate::Store;

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DockerEntry {
    /// Path of the config JSON.
    #[serde(rename = "Config")]
    pub config: String,
    /// `name:tag` references.
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// Paths of the layer tars (possibly compressed), bottom first.
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// The `name:tag` form `docker load` accepts for a stored tag.
fn repo_tag(tag: &str) -> Result<String> {
    let r = Reference::parse(tag).map_err(|source| StoreError::RepoTag {
        tag: tag.to_string(),
        source: Some(source),
    })?;
    match (&r.tag, &r.digest) {
        (Some(_), None) => Ok(r.familiar()),
        _ => Err(StoreError::RepoTag {
            tag: tag.to_string(),
            source: None,
        }),
    }
}

impl Store {
    /// The image manifest for `desc`: itself, or the host platform's (else the first) entry
    /// of an index.
    pub fn image_manifest(&self, desc: &Descriptor) -> Result<(Digest, Manifest)> {
        if !media_type::is_index(&desc.media_type) {
            return Ok((desc.digest.clone(), self.read_json(&desc.digest)?));
        }
        let index: Index = self.read_json(&desc.digest)?;
        let host = Platform::host();
        let pick = index
            .manifests
            .iter()
            .filter(|d| media_type::is_manifest(&d.media_type))
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
            })
            .or_else(|| {
                index
                    .manifests
                    .iter()
                    .find(|d| media_type::is_manifest(&d.media_type))
            });
        match pick {
            Some(d) => Ok((d.digest.clone(), self.read_json(&d.digest)?)),
            None => Err(StoreError::NoImageManifest(desc.digest.clone())),
        }
    }

    /// Reads and parses a JSON blob.
    pub(crate) fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest) -> Result<T> {
        serde_json::from_slice(&self.read_blob(digest)?).map_err(|source| StoreError::Json {
            what: format!("blob {digest}"),
            source,
        })
    }

    /// Writes the refs as a docker-archive tar stream, one `manifest.json` entry per image
    /// (refs to the same image share it). Layers are written as stored (gzip or not):
    /// `docker load` accepts both.
    pub fn export_docker_archive(
        &self,
        refs: &[(String, Descriptor)],
        out: &mut dyn Write,
    ) -> Result<()> {
        let (entries, blobs) = self.docker_entries(refs)?;
        if let Some(d) = blobs.iter().find(|d| !self.has_blob(d)) {
            return Err(StoreError::BlobNotFound(d.clone()));
        }
        let json = serde_json::to_vec(&entries).map_err(|source| StoreError::Json {
            what: "manifest.json".into(),
            source,
        })?;
        let mut tar = TarOut::new(out);
        tar.dir("blobs/")?;
        tar.dir("blobs/sha256/")?;
        for digest in &blobs {
            tar.blob(self, digest, &blob_entry(digest))?;
        }
        tar.bytes("manifest.json", &json)?;
        tar.finish()
    }

    /// The `manifest.json` entries of the refs (one per image) and every blob they name.
    fn docker_entries(
        &self,
        refs: &[(String, Descriptor)],
    ) -> Result<(Vec<DockerEntry>, BTreeSet<Digest>)> {
        let mut entries: Vec<(Digest, DockerEntry)> = Vec::new();
        let mut blobs = BTreeSet::new();
        for (tag, desc) in refs {
            let (digest, manifest) = self.image_manifest(desc)?;
            let tags: Vec<String> = if tag.is_empty() {
                vec![]
            } else {
                vec![repo_tag(tag)?]
            };
            if let Some((_, e)) = entries.iter_mut().find(|(d, _)| *d == digest) {
                e.repo_tags.get_or_insert_with(Vec::new).extend(tags);
                continue;
            }
            blobs.insert(manifest.config.digest.clone());
            blobs.extend(manifest.layers.iter().map(|l| l.digest.clone()));
            let layers = manifest.layers.iter().map(|l| blob_entry(&l.digest));
            let entry = DockerEntry {
                config: blob_entry(&manifest.config.digest),
                repo_tags: Some(tags),
                layers: layers.collect(),
            };
            entries.push((digest, entry));
        }
        Ok((entries.into_iter().map(|(_, e)| e).collect(), blobs))
    }
}
