//! Outputs of the root filesystem: `type=local` (a directory) and `type=tar` (a tarball),
//! every layer verified against its blob digest and its diff_id while it is applied.

use std::io::Write;
use std::path::Path;

use rbuild_layer::{ApplyOptions, ApplyStats, Compression, WhiteoutMode, WriteOptions};
use rbuild_oci::{media_type, Descriptor};
use rbuild_store::Store;

use super::{io_at, write_tar, Dest, ExportError};

/// `type=tar`: the root filesystem (each platform's under `<os>_<arch>/` for an index) as a
/// plain tar, written from a scratch unpacking, in the same deterministic order as layers.
pub fn tar_each(store: &Store, desc: &Descriptor, dest: &Dest) -> Result<(), ExportError> {
    let scratch = store.scratch()?;
    let root = scratch.path().join("rootfs");
    unpack_each(store, desc, &root)?;
    let opts = WriteOptions {
        compression: Compression::None,
        source_date_epoch: None,
    };
    write_tar(dest, |w: &mut dyn Write| {
        rbuild_layer::write_layer(&root, &opts, w)
            .map(drop)
            .map_err(|e| rbuild_store::StoreError::ArchiveWrite {
                what: "the root filesystem tar".into(),
                source: std::io::Error::other(e),
            })
    })
}

/// `type=local`: the root filesystem in `dest`, or for an index each platform's in
/// `dest/<os>_<arch>[_<variant>]`, as BuildKit lays them out.
pub fn unpack_each(store: &Store, desc: &Descriptor, dest: &Path) -> Result<(), ExportError> {
    if !media_type::is_index(&desc.media_type) {
        return unpack_rootfs(store, desc, dest).map(drop);
    }
    let bytes = store.read_blob(&desc.digest)?;
    let index: rbuild_oci::Index =
        serde_json::from_slice(&bytes).map_err(|e| ExportError::Image {
            digest: desc.digest.clone(),
            source: Box::new(crate::BuildError::Image {
                what: desc.digest.to_string(),
                message: format!("index is not valid JSON: {e}"),
            }),
        })?;
    for m in &index.manifests {
        let dir = match &m.platform {
            Some(p) => p.to_spec().replace('/', "_"),
            None => m.digest.to_string().replace(':', "_"),
        };
        unpack_rootfs(store, m, &dest.join(dir))?;
    }
    Ok(())
}

/// Unpacks the image's layers, bottom first, into `dir` with whiteouts applied: the final
/// root filesystem as a container would see it. Every layer is verified against its blob
/// digest and the diff_id the config claims for it.
pub fn unpack_rootfs(
    store: &Store,
    manifest: &Descriptor,
    dir: &Path,
) -> Result<ApplyStats, ExportError> {
    let (m, config) =
        crate::image::read_image(store, manifest).map_err(|e| ExportError::Image {
            digest: manifest.digest.clone(),
            source: Box::new(e),
        })?;
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        ..Default::default()
    };
    let mut total = ApplyStats::default();
    for (layer, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
        let layer_err = |source| ExportError::Layer {
            digest: layer.digest.clone(),
            source,
        };
        let blob = store.blob_reader(&layer.digest, Some(layer.size))?;
        let reader = Box::new(std::io::BufReader::with_capacity(1 << 20, blob));
        let mut tar = rbuild_layer::decompress(reader).map_err(layer_err)?;
        let stats =
            rbuild_layer::apply_layer_verified(&mut tar, dir, &opts, diff_id).map_err(layer_err)?;
        total.entries += stats.entries;
        total.bytes += stats.bytes;
    }
    Ok(total)
}
