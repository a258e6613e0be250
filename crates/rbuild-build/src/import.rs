//! `docker import`: a root filesystem tarball becomes a one-layer image.

use std::io::Read;

use rbuild_layer::{ApplyOptions, WhiteoutMode, WriteOptions};
use rbuild_oci::{chain_id, Descriptor, History, Reference};
use rbuild_store::Store;

use crate::image::{finish_config, write_image, FsState, HistorySlot, LayerRef, StepRecord};
use crate::resolve::BaseImage;
use crate::BuildError;

fn err(what: &str, e: impl std::fmt::Display) -> BuildError {
    BuildError::Image {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Unpacks `tarball` (plain, gzip or zstd), writes it as a normalized layer and tags the image.
pub fn import_rootfs(
    store: &Store,
    tarball: Box<dyn Read + Send>,
    reference: &str,
    created_by: &str,
) -> Result<Descriptor, BuildError> {
    let tag = Reference::parse_tag(reference)
        .map_err(|e| err(reference, e))?
        .familiar();
    let scratch = store.scratch()?;
    let root = scratch.path().join("rootfs");
    std::fs::create_dir(&root).map_err(|e| err(reference, e))?;
    let mut tar = rbuild_layer::decompress(tarball).map_err(|e| err(reference, e))?;
    rbuild_layer::apply_layer(
        &mut tar,
        &root,
        &ApplyOptions {
            whiteouts: WhiteoutMode::Apply,
            ..Default::default()
        },
    )
    .map_err(|e| err(reference, e))?;
    let mut ingest = store.ingest()?;
    let d = rbuild_layer::write_layer(&root, &WriteOptions::default(), &mut ingest)
        .map_err(|e| err(reference, e))?;
    let (digest, size) = ingest.commit(Some(&d.digest), Some(d.size))?;
    let created = crate::time::now_unix();
    let fs = FsState {
        layers: vec![LayerRef {
            descriptor: Descriptor::new(d.media_type, digest, size),
            diff_id: d.diff_id.clone(),
        }],
        steps: vec![StepRecord {
            layer: true,
            created,
        }],
    };
    // write_layer hashed exactly this directory, so the snapshot is verified.
    if let Some(chain) = chain_id(&fs.diff_ids()) {
        store.commit_verified_snapshot(&chain, root, &d.diff_id)?;
    }
    let slots = [HistorySlot::Fs {
        created_by: created_by.to_string(),
        step: 0,
    }];
    let platform = rbuild_oci::Platform::host();
    let mut config = finish_config(BaseImage::scratch(&platform).config, &slots, &fs, None);
    config.history[0] = History {
        comment: Some("Imported from tarball".into()),
        ..config.history[0].clone()
    };
    let manifest = write_image(store, &config, &fs, None)?.manifest;
    store.set_tag(&tag, &manifest)?;
    Ok(manifest)
}
