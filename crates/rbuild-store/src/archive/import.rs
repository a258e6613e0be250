//! Load an OCI layout tar or a docker-archive into the store, verifying every digest.

use std::io::{self, Read};

use rbuild_oci::{media_type, Descriptor, Digest, ImageConfig, Index, Manifest, Reference};

use super::docker::DockerEntry;
use super::members::Loaded;
use super::staged::Staged;
use crate::blobs::MAX_JSON_BLOB;
use crate::check::hash_reader;
use crate::error::{Result, StoreError};
use crate::tags::REF_NAME;
use crate::Store;

/// containerd's (and Docker 25's) full-name annotation in `index.json`.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

pub(super) fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::Archive(msg.into())
}

pub(super) fn io_bad(what: &str, e: io::Error) -> StoreError {
    bad(format!("reading {what}: {e}"))
}

impl Store {
    /// Loads a docker-archive or OCI layout tar stream, tags what it names and returns every
    /// image as (tag, descriptor); the tag is empty for unnamed images (which are not tagged).
    pub fn import_archive(&self, reader: &mut dyn Read) -> Result<Vec<(String, Descriptor)>> {
        let loaded = self.load_members(reader)?;
        let images = if loaded.members.contains_key("manifest.json") {
            self.import_docker(&loaded)?
        } else if loaded.members.contains_key("index.json") {
            self.import_oci(&loaded)?
        } else {
            return Err(bad(
                "neither manifest.json (docker-archive) nor index.json (OCI layout) found",
            ));
        };
        for (tag, desc) in &images {
            if !tag.is_empty() {
                self.set_tag(tag, desc)?;
            }
        }
        Ok(images)
    }

    fn import_oci(&self, loaded: &Loaded) -> Result<Vec<(String, Descriptor)>> {
        let index: Index = self.small_json(loaded, "index.json")?;
        let staged = Staged {
            store: self,
            loaded,
        };
        let mut out = Vec::new();
        for desc in index.manifests {
            let reach = staged.verify_closure(&desc)?;
            staged.store(&reach)?;
            let mut clean = desc.clone();
            let name = oci_name(&mut clean);
            out.push((name, clean));
        }
        Ok(out)
    }

    fn import_docker(&self, loaded: &Loaded) -> Result<Vec<(String, Descriptor)>> {
        let entries: Vec<DockerEntry> = self.small_json(loaded, "manifest.json")?;
        let mut out = Vec::new();
        for entry in entries {
            let desc = self.import_docker_image(loaded, &entry)?;
            let tags = entry.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                out.push((String::new(), desc.clone()));
            }
            out.extend(tags.into_iter().map(|t| (t, desc.clone())));
        }
        Ok(out)
    }

    fn import_docker_image(&self, loaded: &Loaded, entry: &DockerEntry) -> Result<Descriptor> {
        let (cd, csize) = self.docker_config(loaded, &entry.config)?;
        let config: ImageConfig = self.read_json(&cd)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != entry.layers.len() {
            return Err(bad(format!(
                "config {cd} lists {} diff ids but the archive has {} layers",
                diff_ids.len(),
                entry.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(diff_ids) {
            let (ld, lsize) = self.materialize(loaded, path)?;
            let mt = self.verify_layer(&ld, diff_id)?;
            layers.push(Descriptor::new(mt, ld, lsize));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_string()),
            config: Descriptor::new(media_type::OCI_CONFIG, cd, csize),
            layers,
            annotations: None,
        };
        let bytes = rbuild_oci::to_canonical_json(&manifest);
        let md = self.put_blob(&bytes)?;
        Ok(Descriptor::new(
            media_type::OCI_MANIFEST,
            md,
            bytes.len() as u64,
        ))
    }

    /// Stores a docker-archive's config, checking it against the digest its name gives and
    /// the JSON size cap.
    fn docker_config(&self, loaded: &Loaded, path: &str) -> Result<(Digest, u64)> {
        let (cd, csize) = self.materialize(loaded, path)?;
        if csize > MAX_JSON_BLOB {
            return Err(StoreError::BlobTooLarge {
                digest: cd,
                size: csize,
                limit: MAX_JSON_BLOB,
            });
        }
        let named = path
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".json");
        match Digest::from_hex(named) {
            Ok(expected) if expected != cd => Err(StoreError::DigestMismatch {
                expected,
                actual: cd,
            }),
            _ => Ok((cd, csize)),
        }
    }

    /// Checks that a layer blob uncompresses to its diff id; returns its media type.
    fn verify_layer(&self, digest: &Digest, diff_id: &Digest) -> Result<&'static str> {
        let path = self.blob_path(digest);
        let mut head = [0u8; rbuild_layer::SNIFF_LEN];
        let n = read_prefix(&mut self.open_blob(digest)?, &mut head)
            .map_err(|e| io_bad(&path.display().to_string(), e))?;
        let detected = rbuild_layer::detect(&head[..n]);
        let mt = detected.layer_media_type().ok_or_else(|| {
            bad(format!(
                "layer {digest} is compressed with {}, which images cannot use",
                detected.name()
            ))
        })?;
        let file = Box::new(io::BufReader::new(self.open_blob(digest)?));
        let (actual, _) = rbuild_layer::decompress(file)
            .map_err(|e| e.to_string())
            .and_then(|r| hash_reader(r).map_err(|e| e.to_string()))
            .map_err(|e| bad(format!("decompressing layer {digest}: {e}")))?;
        if &actual != diff_id {
            return Err(bad(format!(
                "layer {digest} uncompresses to {actual}, but the config's diff id is {diff_id}"
            )));
        }
        Ok(mt)
    }
}

/// Reads up to `buf.len()` bytes, fewer only at end of file.
fn read_prefix(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Takes the image name out of an `index.json` entry's annotations.
fn oci_name(desc: &mut Descriptor) -> String {
    let Some(ann) = desc.annotations.as_mut() else {
        return String::new();
    };
    let full = ann.remove(CONTAINERD_NAME);
    let short = ann.remove(REF_NAME);
    if ann.is_empty() {
        desc.annotations = None;
    }
    let familiar = full
        .and_then(|f| Reference::parse(&f).ok())
        .map(|r| r.familiar());
    familiar.or(short).unwrap_or_default()
}
