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
///
/// Only snapshots the store can vouch for are used: an image's config merely claims its
/// diff_ids, so a layer is unpacked verified against its diff_id before it is cached under
/// the chain id every later build on that chain will run on. A layer a remote cache hit
/// left in the registry is fetched first.
pub fn ensure_snapshots(rt: &Runtime, fs: &FsState) -> Result<Vec<PathBuf>, BuildError> {
    let store = &*rt.store;
    let diff_ids = fs.diff_ids();
    let found: Vec<_> = fs
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, layer)| {
            let chain = chain_id(&diff_ids[..=i])?;
            Some((layer, store.verified_snapshot(&chain), chain))
        })
        .collect();
    // The blobs of the layers to unpack that are still in a registry come in together.
    let missing: Vec<_> = found
        .iter()
        .filter(|(_, dir, _)| dir.is_none())
        .map(|(layer, _, _)| layer.descriptor.clone())
        .collect();
    rt.imported.ensure_all(store, &missing)?;
    let mut dirs = Vec::with_capacity(found.len());
    for (layer, dir, chain) in found {
        dirs.push(match dir {
            Some(dir) => dir,
            None => unpack(store, layer, &chain)?,
        });
    }
    dirs.reverse();
    Ok(dirs)
}

fn unpack(
    store: &Store,
    layer: &LayerRef,
    chain: &rbuild_oci::Digest,
) -> Result<PathBuf, BuildError> {
    let digest = &layer.descriptor.digest;
    let what = format!("layer {digest}");
    let scratch = store.scratch()?;
    let target = scratch.path().join("fs");
    std::fs::create_dir(&target).map_err(|e| layer_error(&what, e))?;
    let blob = store.blob_reader(digest, Some(layer.descriptor.size))?;
    let mut tar = rbuild_layer::decompress(Box::new(std::io::BufReader::new(blob)))
        .map_err(|e| layer_error(&what, e))?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..Default::default()
    };
    // On a mismatch the scratch dir (and everything unpacked) is dropped, never committed.
    rbuild_layer::apply_layer_verified(&mut tar, &target, &opts, &layer.diff_id)
        .map_err(|e| layer_error(&what, e))?;
    Ok(store.commit_verified_snapshot(chain, target, &layer.diff_id)?)
}

/// Turns `dir` (a step's changes, in overlay format) into a layer on top of `parent`.
///
/// No `dir` makes no layer. An empty `dir` makes an empty layer (a tar of nothing): BuildKit
/// exports a layer for every RUN, COPY, ADD and WORKDIR op, whether it changed anything
/// or not (testExportedHistory: `RUN ls` is a layer), and history tools count them.
pub fn commit_layer(
    rt: &Runtime,
    parent: &FsState,
    dir: Option<&Path>,
) -> Result<FsState, BuildError> {
    let mut next = parent.clone();
    let created = rt.step_time();
    let Some(dir) = dir else {
        next.steps.push(StepRecord {
            layer: false,
            created,
        });
        return Ok(next);
    };
    let mut ingest = rt.store.ingest()?;
    let digests = rbuild_layer::write_layer(dir, &rt.layer_options(), &mut ingest)
        .map_err(|e| layer_error(&dir.display().to_string(), e))?;
    let (digest, size) = ingest.commit(Some(&digests.digest), Some(digests.size))?;
    let diff_id = digests.diff_id.clone();
    let descriptor = Descriptor::new(digests.media_type, digest, size);
    next.layers.push(LayerRef {
        descriptor,
        diff_id: digests.diff_id,
    });
    next.steps.push(StepRecord {
        layer: true,
        created,
    });
    // write_layer computed the diff_id from this very directory: it is verified.
    if let Some(chain) = chain_id(&next.diff_ids()) {
        rt.store
            .commit_verified_snapshot(&chain, dir.to_path_buf(), &diff_id)?;
    }
    Ok(next)
}
