//! Exporters: where a built image goes (`--output`), spelled as buildx spells them.
//!
//! * `type=image` (the default): tags in the store; with `push=true` (or `type=registry`,
//!   or `--push`) also pushed to each name's registry through a [`Pusher`].
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
use rbuild_oci::{media_type, Descriptor, Digest};
use rbuild_store::{OutputFile, Store, StoreError};

pub use spec::{layer_compression, parse_output, Dest, Output, OutputSpec, SpecError};

/// Pushes an image from the store to a registry: the registry client the caller owns.
pub trait Pusher: Send + Sync {
    /// Pushes `manifest` (and the blobs it needs) as `name`; returns the digest the
    /// registry stored it under.
    fn push(
        &self,
        store: &Store,
        manifest: &Descriptor,
        name: &str,
    ) -> Result<Digest, Box<dyn std::error::Error + Send + Sync>>;
}

/// What one export did.
#[derive(Debug, Default)]
pub struct Exported {
    /// Tags set in the store.
    pub tagged: Vec<String>,
    /// Names pushed, with the digest each registry stored.
    pub pushed: Vec<(String, Digest)>,
}

/// Why an export failed or an `--output` value is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The `--output` text is malformed or asks for something unsupported.
    #[error("--output {spec:?}")]
    Spec {
        /// The value as given.
        spec: String,
        /// What is wrong.
        #[source]
        source: SpecError,
    },
    /// Two outputs ask for different layer compressions.
    #[error("outputs ask for different layer compressions ({0:?} and {1:?}); one build makes one set of layers")]
    Conflict(Compression, Compression),
    /// A docker archive holds images of one platform each, not an index.
    #[error("type=docker holds one platform's image; export a multi-platform build with type=oci")]
    NotOneImage,
    /// A pushing output has no name to push to.
    #[error("nothing to push to: give -t NAME or name=NAME")]
    NoName,
    /// Writing the destination failed.
    #[error("cannot write {path}")]
    Io {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image in the store is malformed.
    #[error("image {digest}")]
    Image {
        /// The manifest.
        digest: Digest,
        /// What is wrong.
        #[source]
        source: Box<crate::BuildError>,
    },
    /// A layer could not be unpacked.
    #[error("unpacking layer {digest}")]
    Layer {
        /// The layer blob.
        digest: Digest,
        /// Why.
        #[source]
        source: LayerError,
    },
    /// Pushing a name failed.
    #[error("pushing {name}")]
    Push {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs one export of the image `manifest`; `tags` are the build's `-t` values, `pusher`
/// pushes for outputs that ask for it.
pub fn export(
    store: &Store,
    manifest: &Descriptor,
    output: &Output,
    tags: &[String],
    pusher: &dyn Pusher,
) -> Result<Exported, ExportError> {
    let given = output.names();
    let names = if given.is_empty() { tags } else { given };
    let refs = || -> Vec<(String, Descriptor)> {
        if names.is_empty() {
            return vec![(String::new(), manifest.clone())];
        }
        names
            .iter()
            .map(|t| (t.clone(), manifest.clone()))
            .collect()
    };
    let mut done = Exported::default();
    match output {
        Output::Image { push, .. } => {
            if *push && names.is_empty() {
                return Err(ExportError::NoName);
            }
            for tag in names {
                store.set_tag(tag, manifest)?;
                done.tagged.push(tag.clone());
            }
            for name in names.iter().filter(|_| *push) {
                let digest =
                    pusher
                        .push(store, manifest, name)
                        .map_err(|source| ExportError::Push {
                            name: name.clone(),
                            source,
                        })?;
                done.pushed.push((name.clone(), digest));
            }
        }
        Output::Oci {
            dest: Dest::File(dir),
            tar: false,
            ..
        } => store.export_oci_dir(&refs(), dir)?,
        Output::Oci { dest, .. } => write_tar(dest, |w| store.export_oci_archive(&refs(), w))?,
        Output::Docker { .. } if media_type::is_index(&manifest.media_type) => {
            return Err(ExportError::NotOneImage);
        }
        Output::Docker { dest, .. } => {
            write_tar(dest, |w| store.export_docker_archive(&refs(), w))?
        }
        Output::Local { dest } => unpack_each(store, manifest, dest)?,
    }
    Ok(done)
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

/// `type=local`: the root filesystem in `dest`, or for an index each platform's in
/// `dest/<os>_<arch>[_<variant>]`, as BuildKit lays them out.
fn unpack_each(store: &Store, desc: &Descriptor, dest: &Path) -> Result<(), ExportError> {
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
