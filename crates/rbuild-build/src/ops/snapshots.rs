//! Unpacked snapshots for a layer stack, and committing a step's upper dir as a layer.

use std::path::{Path, PathBuf};

use rbuild_layer::{ApplyOptions, WhiteoutMode};
use rbuild_oci::{chain_id, Descriptor};
use rbuild_store::Store;

use crate::image::{FsState, LayerRef, StepRecord};
use crate::ops::Runtime;
use crate::BuildError;

fn layer_error(what: &str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Image {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Makes sure every layer of `fs` is unpacked; returns the snapshot dirs top-most first.
pub fn ensure_snapshots(store: &Store, fs: &FsState) -> Result<Vec<PathBuf>, BuildError> {
    let diff_ids = fs.diff_ids();
    let mut dirs = Vec::with_capacity(diff_ids.len());
    for (i, layer) in fs.layers.iter().enumerate() {
        let Some(chain) = chain_id(&diff_ids[..=i]) else {
            continue;
        };
        let dir = match store.snapshot(&chain) {
            Some(dir) => dir,
            None => unpack(store, &layer.descriptor, &chain)?,
        };
        dirs.push(dir);
    }
    dirs.reverse();
    Ok(dirs)
}

fn unpack(
    store: &Store,
    layer: &Descriptor,
    chain: &rbuild_oci::Digest,
) -> Result<PathBuf, BuildError> {
    let what = layer.digest.to_string();
    let scratch = store.scratch()?;
    let target = scratch.path().join("fs");
    std::fs::create_dir(&target).map_err(|e| layer_error(&what, e))?;
    let blob = store.open_blob(&layer.digest)?;
    let mut tar = rbuild_layer::decompress(Box::new(std::io::BufReader::new(blob)))
        .map_err(|e| layer_error(&what, e))?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..Default::default()
    };
    rbuild_layer::apply_layer(&mut tar, &target, &opts).map_err(|e| layer_error(&what, e))?;
    Ok(store.commit_snapshot(chain, target)?)
}

/// Turns `dir` (a step's changes, in overlay format) into a layer on top of `parent`.
///
/// An empty `dir` makes no layer; BuildKit likewise records such steps as empty layers.
pub fn commit_layer(rt: &Runtime, parent: &FsState, dir: &Path) -> Result<FsState, BuildError> {
    let mut next = parent.clone();
    let created = rt.step_time();
    if is_empty_dir(dir).map_err(|e| layer_error(&dir.display().to_string(), e))? {
        next.steps.push(StepRecord {
            layer: false,
            created,
        });
        return Ok(next);
    }
    let mut ingest = rt.store.ingest()?;
    let digests = rbuild_layer::write_layer(dir, &rt.layer_options, &mut ingest)
        .map_err(|e| layer_error(&dir.display().to_string(), e))?;
    let (digest, size) = ingest.commit(Some(&digests.digest), Some(digests.size))?;
    let descriptor = Descriptor::new(digests.media_type, digest, size);
    next.layers.push(LayerRef {
        descriptor,
        diff_id: digests.diff_id,
    });
    next.steps.push(StepRecord {
        layer: true,
        created,
    });
    if let Some(chain) = chain_id(&next.diff_ids()) {
        rt.store.commit_snapshot(&chain, dir.to_path_buf())?;
    }
    Ok(next)
}

fn is_empty_dir(dir: &Path) -> std::io::Result<bool> {
    Ok(std::fs::read_dir(dir)?.next().is_none())
}
