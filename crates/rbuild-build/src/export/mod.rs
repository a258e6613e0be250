//! Exporters: where a built image goes (`--output`), spelled as buildx spells them.
//!
//! * `type=image` (the default): tags in the store; with `push=true` (or `type=registry`,
//!   or `--push`) also pushed to each name's registry through a [`Pusher`].
//! * `type=oci,dest=FILE` / `type=docker,dest=FILE`: an OCI layout or docker-archive tar
//!   (`dest=-` is stdout; `type=oci,tar=false,dest=DIR` writes the layout as a directory).
//! * `type=docker` without `dest` (`--load`): the docker archive streamed into the docker
//!   engine through a [`Loader`].
//! * `type=local,dest=DIR`: the final root filesystem unpacked into `DIR`.
//! * `type=tar,dest=FILE` (`-o -`): the final root filesystem as one tar.
//!
//! `compression=gzip|zstd|uncompressed` and `compression-level=N` choose how the build's new
//! layers are compressed (see [`layer_compression`]).

mod image;
mod rootfs;
mod spec;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rbuild_layer::{Compression, LayerError};
use rbuild_oci::{media_type, Descriptor, Digest};
use rbuild_store::{OutputFile, Store, StoreError};

pub use rootfs::unpack_rootfs;
pub use spec::{layer_compression, parse_output, Dest, Output, OutputSpec, SpecError};
pub(crate) use spec::{split_csv, take_compression};

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

/// Writes a docker archive into the engine's `docker load`: the daemon client the caller owns.
pub trait Loader: Send + Sync {
    /// Streams the archive `write` produces to the engine; returns what the engine reported
    /// (`Loaded image: NAME`).
    fn load(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> Result<(), StoreError>,
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;
}

/// Fetches the layer blobs of the exported image that remote cache hits left in a registry.
pub trait LayerFetch: Sync {
    /// Fetches those that `registry` does not hold (all of them when `None`); how many.
    fn fetch(&self, registry: Option<&str>) -> Result<usize, crate::BuildError>;
}

/// Where exports send what leaves the machine's files: registries and the docker engine.
#[derive(Clone, Copy)]
pub struct Sinks<'a> {
    /// Pushes to registries.
    pub pusher: &'a dyn Pusher,
    /// Loads into the docker engine.
    pub loader: &'a dyn Loader,
    /// Brings in the layers an export needs the bytes of.
    pub layers: &'a dyn LayerFetch,
}

/// What one export did.
#[derive(Debug, Default)]
pub struct Exported {
    /// Tags set in the store.
    pub tagged: Vec<String>,
    /// Names pushed, with the digest each registry stored.
    pub pushed: Vec<(String, Digest)>,
    /// `NAME@DIGEST` names (`name-canonical=true`).
    pub canonical: Vec<String>,
    /// What the docker engine reported for a `--load`.
    pub loaded: Option<String>,
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
    /// A layer a remote cache hit left in its registry could not be fetched.
    #[error("fetching the image's layers")]
    Fetch(#[source] Box<crate::BuildError>),
    /// Loading into the docker engine failed.
    #[error("loading the image into the docker engine")]
    Load(#[source] Box<dyn std::error::Error + Send + Sync>),
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

pub(crate) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs one export of the image `manifest`; `tags` are the build's `-t` values, `sinks`
/// push and load for outputs that ask for it.
pub fn export(
    store: &Store,
    manifest: &Descriptor,
    output: &Output,
    tags: &[String],
    sinks: Sinks<'_>,
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
    if let Output::Image {
        push,
        store: keep,
        push_by_digest,
        name_canonical,
        ..
    } = output
    {
        let opts = image::ImageOpts {
            push: *push,
            store: *keep,
            by_digest: *push_by_digest,
            canonical: *name_canonical,
        };
        return image::export_image(store, manifest, names, &opts, sinks);
    }
    // Every other output reads the layers' bytes.
    fetch_layers(sinks.layers, None)?;
    export_files(store, manifest, output, &refs(), sinks)
}

/// Writes every output but the image kind: OCI and docker archives or directories, the
/// engine's load, the root filesystem as files or a tar.
fn export_files(
    store: &Store,
    manifest: &Descriptor,
    output: &Output,
    refs: &[(String, Descriptor)],
    sinks: Sinks<'_>,
) -> Result<Exported, ExportError> {
    match output {
        Output::Image { .. } => {}
        Output::Oci {
            dest: Dest::File(dir),
            tar: false,
            ..
        } => store.export_oci_dir(refs, dir)?,
        Output::Oci { dest, .. } => write_tar(dest, |w| store.export_oci_archive(refs, w))?,
        Output::Docker { .. } | Output::Load { .. }
            if media_type::is_index(&manifest.media_type) =>
        {
            return Err(ExportError::NotOneImage);
        }
        Output::Load { .. } => {
            let mut write = |w: &mut dyn Write| store.export_docker_archive(refs, w);
            let said = sinks.loader.load(&mut write).map_err(ExportError::Load)?;
            return Ok(Exported {
                loaded: Some(said),
                ..Exported::default()
            });
        }
        Output::Docker { dest, .. } => write_tar(dest, |w| store.export_docker_archive(refs, w))?,
        Output::Local { dest } => rootfs::unpack_each(store, manifest, dest)?,
        Output::Tar { dest } => rootfs::tar_each(store, manifest, dest)?,
    }
    Ok(Exported::default())
}

/// Fetches the layer blobs not in the store yet that `registry` does not hold (all of them
/// when `None`); how many.
pub(crate) fn fetch_layers(
    layers: &dyn LayerFetch,
    registry: Option<&str>,
) -> Result<usize, ExportError> {
    layers
        .fetch(registry)
        .map_err(|e| ExportError::Fetch(Box::new(e)))
}

/// Streams a tar to stdout, or through [`OutputFile`]: a regular file is replaced atomically
/// (a crash never leaves a truncated archive under the asked name), a device or FIFO is
/// written into, a directory is refused.
pub(crate) fn write_tar(
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
