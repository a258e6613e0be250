//! The remote build cache (`--cache-to`, `--cache-from`): cache records and their layer blobs
//! as one OCI image manifest in a registry or an OCI layout directory, so that ephemeral CI
//! runners share what one of them built. Format: docs/ARCHITECTURE.md, "Remote cache".
//!
//! Import reads only the manifest and its config (the records); a layer blob is fetched when
//! something needs the bytes of a record that was hit (a step that missed unpacks it, an
//! exporter writes it), and verified against its digest on the way in. Export
//! writes the records this build found or made, by `mode=`, after the images are written.

mod convert;
mod doc;
mod export;
mod import;
mod lazy;
mod local;
mod mounts;
mod spec;

pub(crate) use crate::error::chain;
pub use doc::{CacheDoc, DocError, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, INLINE_KEY, MAX_CONFIG_BYTES};
pub use export::{export_caches, inline_doc};
pub use import::{import_caches, Imported, Recorder};
pub use local::LocalDir;
pub use mounts::{export_mounts, mounts_tag, restore_mounts, MountsWritten};
pub use spec::{parse_cache_from, parse_cache_to, CacheFrom, CacheSpecError, CacheTo, Mode, Place};

use std::collections::HashSet;
use std::sync::Arc;

use rbuild_oci::Descriptor;
use rbuild_store::Store;

/// An error of a backend (registry client, file system), kept whole for the message.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// The largest cache manifest read.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// One place a cache is read from or written to.
pub trait CacheBackend: Send + Sync {
    /// How messages name it (`registry.example/app:cache`, `/ci/cache (latest)`).
    fn name(&self) -> String;
    /// The cache manifest's bytes (at most [`MAX_MANIFEST_BYTES`]); `None` when there is none.
    fn manifest(&self) -> Result<Option<Vec<u8>>, BackendError>;
    /// A small blob (the config), checked against `desc`, refused above `limit` bytes.
    fn blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, BackendError>;
    /// Fetches a layer blob into the store, checked against `desc`, unless it is there.
    fn fetch_blob(&self, store: &Store, desc: &Descriptor) -> Result<(), BackendError>;
    /// The registry host this cache is in; `None` for other places.
    fn registry(&self) -> Option<String> {
        None
    }
    /// Notes in the store that this cache holds `desc`, so that a push to another
    /// repository of its registry mounts the blob without fetching it.
    fn note_source(&self, _store: &Store, _desc: &Descriptor) {}
    /// Starts sending a layer blob a step just made, while the build goes on (export during
    /// the build); [`CacheBackend::write`] waits for it. A backend without a remote does nothing.
    fn send_early(&self, _store: &Arc<Store>, _desc: &Descriptor) {}
    /// Writes the manifest of `config` (already in the store, like every layer) and `layers`
    /// under this backend's name, replacing what it named before.
    fn write(
        &self,
        store: &Store,
        config: &Descriptor,
        layers: &[Descriptor],
    ) -> Result<(), BackendError>;
    /// Writes the cache mounts `ids` beside this cache (`mounts=true`) under
    /// [`mounts_tag`], sending only what the previous export there lacks.
    fn write_mounts(&self, store: &Store, ids: &[String]) -> Result<MountsWritten, BackendError>;
    /// Restores every cache mount written beside this cache; `None` when there is none.
    fn read_mounts(
        &self,
        store: &Store,
    ) -> Result<Option<Vec<rbuild_store::ImportedMount>>, BackendError>;
}

/// Makes backends for registry references: the registry client the caller owns.
pub trait CacheBackends: Send + Sync {
    /// A backend for the registry reference `reference`.
    fn registry(&self, reference: &str) -> Result<Box<dyn CacheBackend + '_>, BackendError>;
}

/// What the solver's cache consults and feeds beside the store: the imported caches and,
/// when the build exports one, the recorder of every record it hits or makes.
#[derive(Default)]
pub struct Links<'r> {
    /// `--cache-from`.
    pub imported: Imported<'r>,
    /// `--cache-to`.
    pub recorder: Recorder,
    /// The `--cache-to` destinations of the remote kinds, opened at the start of the build.
    pub exports: Vec<Export<'r>>,
    /// The build's SOURCE_DATE_EPOCH, which keys its records (a converted export re-keys).
    pub epoch: Option<i64>,
    /// Identities of the steps that start an exported image ([`Plan::image_chain`]): the
    /// ones whose layers a `mode=min` export holds, so they can go early too.
    ///
    /// [`Plan::image_chain`]: crate::plan::Plan::image_chain
    pub image_steps: HashSet<String>,
}

/// One `--cache-to` of the remote kinds.
pub struct Export<'r> {
    /// Where, as given.
    pub place: Place,
    /// Which records.
    pub mode: Mode,
    /// Whether a failure is only a warning.
    pub ignore_error: bool,
    /// Whether the build's cache mounts go beside it (`mounts=true`).
    pub mounts: bool,
    /// `compression=` other than the build's: its own layers are converted on the way out.
    pub convert: Option<rbuild_layer::Compression>,
    /// Its backend, or why it could not be opened.
    pub backend: Result<Box<dyn CacheBackend + 'r>, String>,
}

impl<'r> Links<'r> {
    /// Reads the `--cache-from` caches and opens the `--cache-to` ones for the build of
    /// `plans`; `resolver` fetches the layers of base images it resolved without them.
    pub fn open(
        req: &crate::BuildRequest,
        plans: &[crate::plan::Plan],
        registries: &'r dyn CacheBackends,
        resolver: &'r dyn crate::resolve::BaseResolver,
        reporter: Arc<dyn crate::progress::Reporter>,
    ) -> Links<'r> {
        let exports = req.cache_to.iter().filter_map(|to| match to {
            CacheTo::Remote {
                place,
                mode,
                ignore_error,
                mounts,
                compression,
            } => Some(Export {
                place: place.clone(),
                mode: *mode,
                ignore_error: *ignore_error,
                mounts: *mounts,
                convert: compression.filter(|c| *c != req.compression),
                backend: backend(place, registries).map_err(|e| chain(&*e)),
            }),
            CacheTo::Inline => None,
        });
        Links {
            imported: import_caches(&req.cache_from, registries, resolver, reporter),
            recorder: Recorder::new(!req.cache_to.is_empty()),
            exports: exports.collect(),
            epoch: req.source_date_epoch,
            image_steps: plans
                .iter()
                .flat_map(|p| p.image_chain())
                .map(str::to_string)
                .collect(),
        }
    }

    /// The step `identity` made `state`: its top layer starts on its way to every
    /// `mode=max` export, and to every `mode=min` one when the step starts an exported image;
    /// converted first for an export with another compression.
    pub fn made(&self, store: &Arc<Store>, identity: &str, state: &crate::image::FsState) {
        let Some(top) = state.layers.last() else {
            return;
        };
        let in_image = self.image_steps.contains(identity);
        let early = |e: &&Export<'_>| e.mode == Mode::Max || in_image;
        for e in self.exports.iter().filter(early) {
            let Ok(b) = &e.backend else {
                continue;
            };
            let Some(to) = e.convert else {
                b.send_early(store, &top.descriptor);
                continue;
            };
            // The step's own layer in the export's compression (base layers are kept as they
            // are), made now and remembered, so the end finds it; one that cannot be made now
            // is made, or fails, at the end.
            if !state.steps.last().is_some_and(|s| s.layer) {
                continue;
            }
            if let Ok(desc) = convert::converted(store, &self.imported, top, to) {
                b.send_early(store, &desc);
            }
        }
    }
}

/// A backend for `place`.
pub fn backend<'r>(
    place: &Place,
    registries: &'r dyn CacheBackends,
) -> Result<Box<dyn CacheBackend + 'r>, BackendError> {
    match place {
        Place::Registry(r) => registries.registry(r),
        Place::Local { dir, tag } => Ok(Box::new(LocalDir::new(dir, tag))),
    }
}
