//! Loading a docker-archive (`docker save`'s format, legacy or current): `manifest.json` names
//! each image's config and layer tars by path. Configs are checked against the digest their
//! name gives, every layer must uncompress to the diff id its config claims, and only once
//! every image verified do the blobs and the OCI manifests made for them enter the store.

use std::io::{Cursor, Read};
use std::path::PathBuf;

use rbuild_layer::{detect, LayerError, SNIFF_LEN};
use rbuild_oci::{media_type, Descriptor, Digest, ImageConfig, Manifest};

use super::docker_out::DockerEntry;
use crate::blobs::MAX_JSON_BLOB;
use crate::check::hash_reader;
use crate::ocilayout::{parse_member, LayoutError, Source, Stage, TarSource};
use crate::{Store, StoreError};

/// One verified image: its config and layer descriptors, and its names.
struct Image {
    config: Descriptor,
    layers: Vec<Descriptor>,
    tags: Vec<String>,
}

/// Verifies every image of the archive, then stores them; returns (tag, manifest) pairs, one
/// with an empty tag for an image without any.
pub(super) fn import(
    store: &Store,
    mut tar: TarSource,
) -> Result<Vec<(String, Descriptor)>, LayoutError> {
    let json =
        tar.file("manifest.json", MAX_JSON_BLOB)?
            .ok_or_else(|| LayoutError::MemberMissing {
                name: "manifest.json".into(),
            })?;
    let entries: Vec<DockerEntry> =
        parse_member("manifest.json", &json, "docker-archive manifest")?;
    let images = entries
        .into_iter()
        .map(|entry| verify_image(&tar, entry))
        .collect::<Result<Vec<Image>, LayoutError>>()?;
    let mut out = Vec::new();
    for image in images {
        let desc = store_image(store, tar.staged(), &image)?;
        if image.tags.is_empty() {
            out.push((String::new(), desc.clone()));
        }
        out.extend(image.tags.into_iter().map(|t| (t, desc.clone())));
    }
    Ok(out)
}

/// Commits an image's config and layers, then the OCI manifest that lists them.
fn store_image(store: &Store, stage: &mut Stage, image: &Image) -> Result<Descriptor, LayoutError> {
    for d in std::iter::once(&image.config).chain(&image.layers) {
        stage.commit(store, &d.digest)?;
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: image.config.clone(),
        layers: image.layers.clone(),
        annotations: None,
    };
    let bytes = rbuild_oci::to_canonical_json(&manifest);
    let digest = store.put_blob(&bytes)?;
    let size = bytes.len() as u64;
    Ok(Descriptor::new(media_type::OCI_MANIFEST, digest, size))
}

fn verify_image(tar: &TarSource, entry: DockerEntry) -> Result<Image, LayoutError> {
    let (config, diff_ids) = verify_config(tar, &entry.config)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(LayoutError::LayerCount {
            config: config.digest,
            diff_ids: diff_ids.len(),
            layers: entry.layers.len(),
        });
    }
    let mut layers = Vec::new();
    for (path, diff_id) in entry.layers.iter().zip(&diff_ids) {
        let (digest, size) = tar.follow(path)?;
        let mt = verify_layer(tar.stage(), &digest, diff_id)?;
        layers.push(Descriptor::new(mt, digest, size));
    }
    let tags = entry.repo_tags.unwrap_or_default();
    Ok(Image {
        config,
        layers,
        tags,
    })
}

/// The config an image names: size-capped, matching the digest its name gives (legacy
/// `<hex>.json` or `blobs/sha256/<hex>`), parsed; returns it and its diff ids.
fn verify_config(tar: &TarSource, path: &str) -> Result<(Descriptor, Vec<Digest>), LayoutError> {
    let (digest, size) = tar.follow(path)?;
    if size > MAX_JSON_BLOB {
        return Err(LayoutError::TooLarge {
            path: PathBuf::from(path),
            limit: MAX_JSON_BLOB,
        });
    }
    let named = path.rsplit('/').next().unwrap_or("");
    if let Ok(expected) = Digest::from_hex(named.trim_end_matches(".json")) {
        if expected != digest {
            let source = StoreError::DigestMismatch {
                expected,
                actual: digest,
            };
            let path = PathBuf::from(path);
            return Err(LayoutError::Blob { path, source });
        }
    }
    let bytes = match tar.stage().bytes(&digest) {
        Some(read) => read.map_err(|source| LayoutError::Io {
            path: PathBuf::from(path),
            source,
        })?,
        None => return Err(LayoutError::MemberMissing { name: path.into() }),
    };
    let config: ImageConfig = parse_member(path, &bytes, "image config")?;
    let desc = Descriptor::new(media_type::OCI_CONFIG, digest, size);
    Ok((desc, config.rootfs.diff_ids))
}

/// Checks that a staged layer uncompresses to its diff id; returns its media type.
fn verify_layer(
    stage: &Stage,
    digest: &Digest,
    diff_id: &Digest,
) -> Result<&'static str, LayoutError> {
    let (mt, actual) = layer_diff(stage, digest)?;
    if &actual != diff_id {
        return Err(LayoutError::DiffId {
            layer: digest.clone(),
            actual,
            expected: diff_id.clone(),
        });
    }
    Ok(mt)
}

/// A staged layer's media type, sniffed from its content, and its uncompressed digest.
fn layer_diff(stage: &Stage, digest: &Digest) -> Result<(&'static str, Digest), LayoutError> {
    let failed = |source: LayerError| LayoutError::Decompress {
        layer: digest.clone(),
        source,
    };
    let Some(opened) = stage.open(digest) else {
        let name = digest.to_string();
        return Err(LayoutError::MemberMissing { name });
    };
    let mut reader = opened.map_err(|e| failed(LayerError::Read(e)))?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut reader)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| failed(LayerError::Read(e)))?;
    let detected = detect(&head);
    let Some(mt) = detected.layer_media_type() else {
        let layer = digest.clone();
        let format = detected.name();
        return Err(LayoutError::LayerCompression { layer, format });
    };
    if mt == media_type::OCI_LAYER_TAR {
        // An uncompressed layer is its own diff.
        return Ok((mt, digest.clone()));
    }
    let whole = Box::new(Cursor::new(head).chain(reader));
    let tar = rbuild_layer::decompress(whole).map_err(failed)?;
    let (actual, _) = hash_reader(tar).map_err(|e| failed(LayerError::Read(e)))?;
    Ok((mt, actual))
}
