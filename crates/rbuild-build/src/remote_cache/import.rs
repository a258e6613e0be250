//! Reading caches at the start of a build, answering the solver's lookups from them, and
//! recording every record this build hits or makes (for the export).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use std::collections::HashSet;

use rbuild_oci::{media_type, Descriptor, Digest, Manifest};
use rbuild_solver::CacheKey;
use rbuild_store::Store;

use super::lazy::LazyBlobs;
use super::{backend, chain, BackendError, CacheBackend, CacheBackends, CacheDoc, CacheFrom};
use super::{CONFIG_MEDIA_TYPE, INLINE_KEY, MAX_CONFIG_BYTES};
use crate::image::{FsState, LayerRef};
use crate::progress::{Event, Reporter};
use crate::resolve::BaseResolver;
use crate::BuildError;

/// Layer blobs fetched at once when a step needs several (as a pull does).
pub const PARALLEL_FETCHES: usize = 4;

/// The caches a build reads (`--cache-from`, in the order given).
#[derive(Default)]
pub struct Imported<'r> {
    sources: Vec<Source<'r>>,
    reporter: Option<Arc<dyn Reporter>>,
    hits: AtomicUsize,
    lazy: LazyBlobs,
    /// Fetches the layers of base images it resolved without them.
    resolver: Option<&'r dyn BaseResolver>,
}

struct Source<'r> {
    backend: Box<dyn CacheBackend + 'r>,
    doc: CacheDoc,
    by_key: HashMap<CacheKey, usize>,
}

/// Reads every `--cache-from`; one that cannot be read is a warning, as in BuildKit.
/// `resolver` fetches the layers of base images it resolved without them.
pub fn import_caches<'r>(
    froms: &[CacheFrom],
    registries: &'r dyn CacheBackends,
    resolver: &'r dyn BaseResolver,
    reporter: Arc<dyn Reporter>,
) -> Imported<'r> {
    let note = |s: String| reporter.event(Event::Note(s));
    let mut sources = Vec::new();
    for from in froms {
        let read = backend(&from.place, registries).and_then(|b| Ok((read(&*b)?, b)));
        match read {
            Ok((Some(doc), backend)) => {
                note(format!(
                    "importing cache from {}: {} records",
                    backend.name(),
                    doc.records.len()
                ));
                let by_key = doc.by_key();
                sources.push(Source {
                    backend,
                    doc,
                    by_key,
                });
            }
            Ok((None, backend)) => note(format!("no cache at {} yet", backend.name())),
            Err(e) => note(format!(
                "WARNING: cannot import cache from {}: {}",
                from.place,
                chain(&*e)
            )),
        }
    }
    Imported {
        sources,
        reporter: Some(reporter),
        hits: AtomicUsize::new(0),
        lazy: LazyBlobs::default(),
        resolver: Some(resolver),
    }
}

/// The cache document a backend holds, checked against its manifest.
fn read(backend: &dyn CacheBackend) -> Result<Option<CacheDoc>, BackendError> {
    let Some(bytes) = backend.manifest()? else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)?;
    let config = backend.blob_bytes(&manifest.config, MAX_CONFIG_BYTES)?;
    let config_type = manifest.config.media_type.as_str();
    let doc = match config_type {
        CONFIG_MEDIA_TYPE => CacheDoc::parse(&config)?,
        media_type::OCI_CONFIG | media_type::DOCKER_CONFIG => inline(&config)?,
        other => return Err(format!("not an rbuild build cache (its config is {other})").into()),
    };
    let listed: HashSet<&Digest> = manifest.layers.iter().map(|d| &d.digest).collect();
    let own = |l: &LayerRef| listed.contains(&l.descriptor.digest);
    if !doc.layers.iter().all(own) {
        return Err("its cache records name layers its manifest does not list".into());
    }
    Ok(Some(doc))
}

/// The document an image built with `--cache-to type=inline` carries in its config.
fn inline(config: &[u8]) -> Result<CacheDoc, BackendError> {
    let value: serde_json::Value = serde_json::from_slice(config)?;
    let Some(doc) = value.get(INLINE_KEY) else {
        return Err(
            "an image without an inline cache (not built with --cache-to type=inline)".into(),
        );
    };
    Ok(CacheDoc::parse(&serde_json::to_vec(doc)?)?)
}

impl Imported<'_> {
    /// Whether any cache was read.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Records found in the imported caches so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Starts counting hits again (the build runs again).
    pub fn restart(&self) {
        self.hits.store(0, Ordering::Relaxed);
    }

    /// The state recorded under `key` in the first cache that has it and names no layer
    /// found bad in this build. Its layer blobs are not fetched: the ones the store lacks
    /// become pending ([`Imported::ensure`] fetches them when something needs their bytes).
    pub fn fetch(&self, store: &Store, key: &CacheKey) -> Option<FsState> {
        for (index, source) in self.sources.iter().enumerate() {
            let Some(i) = source.by_key.get(key) else {
                continue;
            };
            let state = source.doc.state(*i);
            if state
                .layers
                .iter()
                .any(|l| self.lazy.is_bad(&l.descriptor.digest))
            {
                continue;
            }
            for l in &state.layers {
                let desc = &l.descriptor;
                if !store.has_blob(&desc.digest) && self.lazy.get(&desc.digest).is_none() {
                    // A push to the cache's registry mounts the blob instead of sending it.
                    source.backend.note_source(store, desc);
                    self.lazy.add(index, desc);
                }
            }
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(state);
        }
        None
    }

    /// Makes the layer blob `desc` local when a remote cache hit left it pending (fetched and
    /// checked against its digest) or the resolver resolved its image without it. A pending
    /// blob that fails is marked bad, so that the build can run again without the records
    /// that name it ([`Imported::failures`]). A blob nobody knows is left for the reader.
    pub fn ensure(&self, store: &Store, desc: &Descriptor) -> Result<(), BuildError> {
        if store.has_blob(&desc.digest) {
            return Ok(());
        }
        let lock = self.lazy.lock_for(&desc.digest);
        let _fetching = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if store.has_blob(&desc.digest) {
            return Ok(());
        }
        let Some(p) = self.lazy.get(&desc.digest) else {
            return match self.resolver {
                Some(r) => r.fetch_layer(store, desc).map(drop),
                None => Ok(()),
            };
        };
        let Some(Source { backend, .. }) = self.sources.get(p.source) else {
            return Ok(());
        };
        match backend.fetch_blob(store, &p.desc) {
            Ok(()) => {
                self.lazy.settle(&desc.digest);
                Ok(())
            }
            Err(source) => {
                self.lazy.mark_bad(&desc.digest);
                self.warn(format!(
                    "WARNING: layer {} from {} not used: {}; the steps that made it run again",
                    desc.digest,
                    backend.name(),
                    chain(&*source)
                ));
                Err(BuildError::CacheBlob {
                    digest: desc.digest.clone(),
                    from: backend.name(),
                    source,
                })
            }
        }
    }

    /// [`Imported::ensure`] for each of `layers`, up to [`PARALLEL_FETCHES`] at a time.
    pub fn ensure_all(&self, store: &Store, layers: &[Descriptor]) -> Result<(), BuildError> {
        let absent: Vec<&Descriptor> = layers
            .iter()
            .filter(|d| !store.has_blob(&d.digest))
            .collect();
        if absent.len() < 2 {
            return absent.iter().try_for_each(|d| self.ensure(store, d));
        }
        let next = AtomicUsize::new(0);
        let workers = absent.len().min(PARALLEL_FETCHES);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| loop {
                        let Some(d) = absent.get(next.fetch_add(1, Ordering::Relaxed)) else {
                            return Ok(());
                        };
                        self.ensure(store, d)?;
                    })
                })
                .collect();
            let joined = handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BuildError::general("a layer fetch panicked")))
            });
            joined.collect::<Result<Vec<()>, _>>().map(drop)
        })
    }

    /// Fetches the blobs among `layers` that the store lacks and that no repository of
    /// `registry` is known to hold (a push there finds or mounts those); every missing one
    /// when `registry` is `None`. How many were fetched.
    pub fn ensure_for(
        &self,
        store: &Store,
        layers: &[Descriptor],
        registry: Option<&str>,
    ) -> Result<usize, BuildError> {
        // Where blobs are (a registry cache's and a lazily resolved base's alike) is recorded
        // in the store, and the resolver reads it.
        let held = |desc: &Descriptor| {
            registry
                .zip(self.resolver)
                .is_some_and(|(reg, r)| r.registry_holds(store, &desc.digest, reg))
        };
        let needed: Vec<Descriptor> = layers
            .iter()
            .filter(|d| !store.has_blob(&d.digest) && !held(d))
            .cloned()
            .collect();
        self.ensure_all(store, &needed)?;
        Ok(needed.iter().filter(|d| store.has_blob(&d.digest)).count())
    }

    /// How many pending blobs failed so far: when a build fails after this grew, running it
    /// again does without them.
    pub fn failures(&self) -> usize {
        self.lazy.failures()
    }

    fn warn(&self, s: String) {
        match &self.reporter {
            Some(r) => r.event(Event::Note(s)),
            None => tracing::warn!("{s}"),
        }
    }
}

/// Every record this build hit or made, for `--cache-to` (a disabled one keeps nothing):
/// under its stored key, with the step's own key (before the output keying).
#[derive(Default)]
pub struct Recorder {
    enabled: bool,
    seen: Mutex<BTreeMap<CacheKey, (CacheKey, FsState)>>,
}

impl Recorder {
    /// A recorder that keeps what it is given when `enabled`.
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            seen: Mutex::default(),
        }
    }

    /// Notes that `key` (the step's `plain` key, output-keyed) holds `state`.
    pub fn record(&self, key: &CacheKey, plain: &CacheKey, state: &FsState) {
        if !self.enabled {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.insert(*key, (*plain, state.clone()));
    }

    /// Forgets everything (the build runs again).
    pub fn clear(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.clear();
    }

    /// What was recorded, by stored key.
    pub fn records(&self) -> BTreeMap<CacheKey, FsState> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.iter().map(|(k, (_, s))| (*k, s.clone())).collect()
    }

    /// The step's own key of the record stored under `key`.
    pub fn plain_key(&self, key: &CacheKey) -> Option<CacheKey> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.get(key).map(|(plain, _)| *plain)
    }
}
