//! The image being built: filesystem state (layers) plus config, and writing it to the store.

use rbuild_oci::{
    media_type, to_canonical_json, Descriptor, Digest, History, ImageConfig, Manifest,
};
use std::collections::BTreeMap;

use rbuild_store::Store;
use serde::{Deserialize, Serialize};

use crate::time::rfc3339;
use crate::BuildError;

/// One layer of an image: its blob descriptor and its uncompressed digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// The compressed blob.
    pub descriptor: Descriptor,
    /// The diff ID (sha256 of the uncompressed tar).
    pub diff_id: Digest,
}

/// What one filesystem step did, for history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Whether the step produced a layer.
    pub layer: bool,
    /// When the step ran (seconds since the epoch; clamped by SOURCE_DATE_EPOCH).
    pub created: i64,
}

/// The filesystem after a step: the value the solver computes and caches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsState {
    /// Layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// Filesystem steps since the base image, in order.
    pub steps: Vec<StepRecord>,
}

impl FsState {
    /// Diff IDs of all layers.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }
}

/// A history entry whose time and emptiness are known only after the build ran.
#[derive(Clone, Debug)]
pub enum HistorySlot {
    /// From the base image, as it was.
    Base(History),
    /// A metadata instruction, made after `steps_before` filesystem steps.
    Meta {
        /// The instruction text.
        created_by: String,
        /// Filesystem steps before it (for its timestamp).
        steps_before: usize,
    },
    /// A filesystem step (RUN, COPY, ADD): index into [`FsState::steps`].
    Fs {
        /// The instruction text.
        created_by: String,
        /// Its index.
        step: usize,
    },
}

/// Fills history and rootfs of `config` from the final filesystem state.
pub fn finish_config(
    mut config: ImageConfig,
    slots: &[HistorySlot],
    fs: &FsState,
    base_created: Option<&str>,
) -> ImageConfig {
    let time_of = |n: usize| -> Option<String> {
        n.checked_sub(1)
            .and_then(|i| fs.steps.get(i))
            .map(|s| rfc3339(s.created))
    };
    let mut latest = base_created.map(str::to_string);
    config.history = slots
        .iter()
        .map(|slot| {
            let h = history_entry(slot, fs, &time_of, base_created);
            if h.created > latest {
                latest.clone_from(&h.created);
            }
            h
        })
        .collect();
    fill_created(&mut config.history);
    config.rootfs.diff_ids = fs.diff_ids();
    config.created = latest;
    config
}

/// Gives every history entry a time, as BuildKit's exporter does (containerimage
/// normalizeLayersAndHistory): an entry without one takes the latest time seen before it once
/// an entry without a time was met, and entries before any time take the first time that
/// follows an untimed entry (or, if every entry has one, nothing changes).
fn fill_created(history: &mut [History]) {
    let mut created: Option<String> = None;
    let mut untimed = false;
    for h in history.iter() {
        match &h.created {
            Some(t) => {
                created = Some(t.clone());
                if untimed {
                    break;
                }
            }
            None => untimed = true,
        }
    }
    untimed = false;
    for h in history.iter_mut() {
        match &h.created {
            Some(t) if untimed => created = Some(t.clone()),
            Some(_) => {}
            None => {
                untimed = true;
                h.created.clone_from(&created);
            }
        }
    }
}

fn history_entry(
    slot: &HistorySlot,
    fs: &FsState,
    time_of: &dyn Fn(usize) -> Option<String>,
    base_created: Option<&str>,
) -> History {
    let comment = Some("rbuild.dockerfile.v0".to_string());
    match slot {
        HistorySlot::Base(h) => h.clone(),
        HistorySlot::Meta {
            created_by,
            steps_before,
        } => History {
            created: time_of(*steps_before).or(base_created.map(str::to_string)),
            created_by: Some(created_by.clone()),
            comment,
            empty_layer: true,
            ..History::default()
        },
        HistorySlot::Fs { created_by, step } => {
            let rec = fs.steps.get(*step);
            History {
                created: rec.map(|r| rfc3339(r.created)),
                created_by: Some(created_by.clone()),
                comment,
                empty_layer: !rec.is_some_and(|r| r.layer),
                ..History::default()
            }
        }
    }
}

/// An image written to the store.
#[derive(Clone, Debug)]
pub struct Written {
    /// Its manifest.
    pub manifest: Descriptor,
    /// Its config's digest (the "image ID").
    pub config: Digest,
}

/// Writes config and OCI manifest blobs (with `annotations` in the manifest); returns both
/// digests (each computed once).
pub fn write_image(
    store: &Store,
    config: &ImageConfig,
    fs: &FsState,
    annotations: Option<BTreeMap<String, String>>,
) -> Result<Written, BuildError> {
    let config_bytes = to_canonical_json(config);
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: Descriptor::new(
            media_type::OCI_CONFIG,
            config_digest.clone(),
            config_bytes.len() as u64,
        ),
        layers: fs.layers.iter().map(|l| l.descriptor.clone()).collect(),
        annotations,
    };
    let bytes = to_canonical_json(&manifest);
    let digest = store.put_blob(&bytes)?;
    Ok(Written {
        manifest: Descriptor::new(media_type::OCI_MANIFEST, digest, bytes.len() as u64),
        config: config_digest,
    })
}

/// Writes an OCI index (with `annotations`) of per-platform images; returns its descriptor.
pub fn write_index(
    store: &Store,
    images: &[(rbuild_oci::Platform, Written)],
    annotations: Option<BTreeMap<String, String>>,
) -> Result<Descriptor, BuildError> {
    let manifests = images
        .iter()
        .map(|(platform, w)| {
            let mut d = w.manifest.clone();
            d.platform = Some(platform.clone());
            d
        })
        .collect();
    let index = rbuild_oci::Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.to_string()),
        manifests,
        annotations,
    };
    let bytes = to_canonical_json(&index);
    let digest = store.put_blob(&bytes)?;
    Ok(Descriptor::new(
        media_type::OCI_INDEX,
        digest,
        bytes.len() as u64,
    ))
}

/// Reads an image (manifest + config) from the store.
pub fn read_image(
    store: &Store,
    manifest: &Descriptor,
) -> Result<(Manifest, ImageConfig), BuildError> {
    let bad = |message: String| BuildError::Image {
        what: manifest.digest.to_string(),
        message,
    };
    let m: Manifest = serde_json::from_slice(&store.read_blob(&manifest.digest)?)
        .map_err(|e| bad(format!("manifest is not valid JSON: {e}")))?;
    let c: ImageConfig = serde_json::from_slice(&store.read_blob(&m.config.digest)?)
        .map_err(|e| bad(format!("config is not valid JSON: {e}")))?;
    if c.rootfs.diff_ids.len() != m.layers.len() {
        return Err(bad(format!(
            "config lists {} diff_ids but the manifest has {} layers",
            c.rootfs.diff_ids.len(),
            m.layers.len()
        )));
    }
    Ok((m, c))
}

#[cfg(test)]
#[allow(non_snake_case)] // test names carry BuildKit's Go test names
mod tests {
    use super::*;

    fn entries(times: &[Option<&str>]) -> Vec<History> {
        times
            .iter()
            .map(|t| History {
                created: t.map(str::to_string),
                ..History::default()
            })
            .collect()
    }

    fn times(h: &[History]) -> Vec<Option<&str>> {
        h.iter().map(|h| h.created.as_deref()).collect()
    }

    #[test]
    fn untimed_entries_take_buildkits_times__buildkit_testSourceDateEpochWithoutExporter() {
        let mut h = entries(&[None, Some("t1")]);
        fill_created(&mut h);
        assert_eq!(times(&h), [Some("t1"), Some("t1")]);
        let mut h = entries(&[Some("t0"), None, Some("t2"), None]);
        fill_created(&mut h);
        assert_eq!(times(&h), [Some("t0"), Some("t2"), Some("t2"), Some("t2")]);
        let mut h = entries(&[None, None]);
        fill_created(&mut h);
        assert_eq!(times(&h), [None, None]);
    }
}
