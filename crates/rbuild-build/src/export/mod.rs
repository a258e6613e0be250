//! Exporters: where a built image goes (`--output`), spelled as buildx spells them.
//!
//! * `type=image` (the default): tags in the store.
//! * `type=oci,dest=FILE` / `type=docker,dest=FILE`: an OCI layout or docker-archive tar
//!   (`dest=-` is stdout; `type=oci,tar=false,dest=DIR` writes the layout as a directory).
//! * `type=local,dest=DIR`: the final root filesystem unpacked into `DIR`.
//!
//! `compression=gzip|zstd|uncompressed` and `compression-level=N` choose how the build's new
//! layers are compressed (see [`layer_compression`]).

mod spec;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rbuild_layer::{ApplyOptions, ApplyStats, Compression, LayerError, WhiteoutMode};
use rbuild_oci::{Descriptor, Digest};
use rbuild_store::{OutputFile, Store, StoreError};

pub use spec::{layer_compression, parse_output, Dest, Output, OutputSpec};

/// Why an export failed or an `--output` value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The `--output` text is malformed or asks for something unsupported.
    #[error("--output {spec:?}: {message}")]
    Spec {
        /// The value as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// Two outputs ask for different layer compressions.
    #[error("outputs ask for different layer compressions ({0:?} and {1:?}); one build makes one set of layers")]
    Conflict(Compression, Compression),
    /// Writing the destination failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The image in the store is malformed.
    #[error("image {digest}: {message}")]
    Image {
        /// The manifest.
        digest: Digest,
        /// What is wrong.
        message: String,
    },
    /// A layer could not be unpacked.
    #[error("unpacking layer {digest}: {source}")]
    Layer {
        /// The layer blob.
        digest: Digest,
        /// Why.
        source: LayerError,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs one export of the image `manifest`; `tags` are the build's `-t` values. Returns the
/// tags set in the store (only `type=image` sets any).
pub fn export(
    store: &Store,
    manifest: &Descriptor,
    output: &Output,
    tags: &[String],
) -> Result<Vec<String>, ExportError> {
    let names = |given: &Vec<String>| {
        if given.is_empty() {
            tags.to_vec()
        } else {
            given.clone()
        }
    };
    let refs = |given: &Vec<String>| -> Vec<(String, Descriptor)> {
        let n = names(given);
        if n.is_empty() {
            return vec![(String::new(), manifest.clone())];
        }
        n.into_iter().map(|t| (t, manifest.clone())).collect()
    };
    match output {
        Output::Image { names: given } => {
            let set = names(given);
            for tag in &set {
                store.set_tag(tag, manifest)?;
            }
            Ok(set)
        }
        Output::Oci {
            dest,
            tar: false,
            names: given,
        } => {
            let Dest::File(dir) = dest else {
                return Err(ExportError::Spec {
                    spec: "type=oci,tar=false,dest=-".into(),
                    message: "tar=false needs a directory dest".into(),
                });
            };
            store.export_oci_dir(&refs(given), dir)?;
            Ok(Vec::new())
        }
        Output::Oci {
            dest, names: given, ..
        } => {
            write_tar(dest, |w| store.export_oci_archive(&refs(given), w))?;
            Ok(Vec::new())
        }
        Output::Docker { dest, names: given } => {
            write_tar(dest, |w| store.export_docker_archive(&refs(given), w))?;
            Ok(Vec::new())
        }
        Output::Local { dest } => {
            unpack_rootfs(store, manifest, dest)?;
            Ok(Vec::new())
        }
    }
}

/// Streams a tar to stdout, or through [`OutputFile`]: a regular file is replaced atomically
/// (a crash never leaves a truncated archive under the asked name), a device or FIFO is
/// written into, a directory is refused.
fn write_tar(
    dest: &Dest,
    write: impl FnOnce(&mut dyn Write) -> Result<(), StoreError>,
) -> Result<(), ExportError> {
    let path = match dest {
        Dest::Stdout => {
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write(&mut out)?;
            return out.flush().map_err(io_at(Path::new("-")));
        }
        Dest::File(p) => p,
    };
    let mut out = OutputFile::create(path)?;
    write(&mut out)?;
    Ok(out.finish()?)
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
            message: e.to_string(),
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
