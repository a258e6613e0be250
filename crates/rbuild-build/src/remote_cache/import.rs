//! Reading caches at the start of a build, answering the solver's lookups from them, and
//! recording every record this build hits or makes (for the export).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use std::collections::HashSet;

use rbuild_oci::{media_type, Digest, Manifest};
use rbuild_solver::CacheKey;
use rbuild_store::Store;

use super::{backend, chain, BackendError, CacheBackend, CacheBackends, CacheDoc, CacheFrom};
use super::{CONFIG_MEDIA_TYPE, INLINE_KEY, MAX_CONFIG_BYTES};
use crate::image::{FsState, LayerRef};
use crate::progress::{Event, Reporter};

/// The caches a build reads (`--cache-from`, in the order given).
#[derive(Default)]
pub struct Imported<'r> {
    sources: Vec<Source<'r>>,
    reporter: Option<Arc<dyn Reporter>>,
    hits: AtomicUsize,
}

struct Source<'r> {
    backend: Box<dyn CacheBackend + 'r>,
    doc: CacheDoc,
    by_key: HashMap<CacheKey, usize>,
}

/// Reads every `--cache-from`; one that cannot be read is a warning, as in BuildKit.
pub fn import_caches<'r>(
    froms: &[CacheFrom],
    registries: &'r dyn CacheBackends,
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

    /// The state recorded under `key` in the first cache that has it and whose layer blobs
    /// can all be fetched into the store (checked against their digests).
    pub fn fetch(&self, store: &Store, key: &CacheKey) -> Option<FsState> {
        for source in &self.sources {
            let Some(i) = source.by_key.get(key) else {
                continue;
            };
            let state = source.doc.state(*i);
            let fetched = state
                .layers
                .iter()
                .try_for_each(|l| source.backend.fetch_blob(store, &l.descriptor));
            match fetched {
                Ok(()) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Some(state);
                }
                Err(e) => self.warn(format!(
                    "WARNING: cache record {} from {} not used: {}",
                    key.short(),
                    source.backend.name(),
                    chain(&*e)
                )),
            }
        }
        None
    }

    fn warn(&self, s: String) {
        match &self.reporter {
            Some(r) => r.event(Event::Note(s)),
            None => tracing::warn!("{s}"),
        }
    }
}

/// Every record this build hit or made, for `--cache-to` (a disabled one keeps nothing).
#[derive(Default)]
pub struct Recorder {
    enabled: bool,
    seen: Mutex<BTreeMap<CacheKey, FsState>>,
}

impl Recorder {
    /// A recorder that keeps what it is given when `enabled`.
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            seen: Mutex::default(),
        }
    }

    /// Notes that `key` holds `state`.
    pub fn record(&self, key: &CacheKey, state: &FsState) {
        if !self.enabled {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.insert(*key, state.clone());
    }

    /// What was recorded.
    pub fn records(&self) -> BTreeMap<CacheKey, FsState> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
