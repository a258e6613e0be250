//! The remote cache's config document: cache records (key → filesystem state) over one table
//! of layer blobs. A record extends the state of an earlier one (its parent) by the steps and
//! layers after it, so a chain of n steps costs O(n), not O(n²), in the document.

use std::collections::{BTreeMap, HashMap};

use rbuild_oci::Digest;
use rbuild_solver::CacheKey;
use serde::{Deserialize, Serialize};

use crate::image::{FsState, LayerRef, StepRecord};

/// Media type of the config blob of a cache manifest.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.rbuild.buildcache.config.v1+json";
/// `artifactType` of a cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.rbuild.buildcache.v1";
/// The key of an image config under which `--cache-to type=inline` puts the document.
pub const INLINE_KEY: &str = "dev.rbuild.buildcache.v1";
/// The largest config document read.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;
const VERSION: u32 = 1;

/// The config document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheDoc {
    /// Format version (1).
    pub version: u32,
    /// Every layer blob the records use, each once, in the manifest's layer order.
    pub layers: Vec<LayerRef>,
    /// The records, parents before the records that extend them.
    pub records: Vec<Record>,
}

/// One cache record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The cache key, `sha256:<hex>`.
    pub key: String,
    /// The earlier record whose state is the start of this one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<usize>,
    /// Indices into [`CacheDoc::layers`] after the parent's layers.
    pub layers: Vec<usize>,
    /// Steps after the parent's: (made a layer, created).
    pub steps: Vec<(bool, i64)>,
}

/// Why a document is refused.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// Not JSON of this shape.
    #[error("not a cache document: {0}")]
    Json(#[from] serde_json::Error),
    /// Another format version.
    #[error("cache document version {0} (this rbuild reads {VERSION})")]
    Version(u32),
    /// A reference out of range, a bad key, or a parent that is not earlier.
    #[error("record {index}: {what}")]
    Record {
        /// The record's index.
        index: usize,
        /// What is wrong.
        what: String,
    },
}

impl CacheDoc {
    /// The document of `records`.
    pub fn of(records: &BTreeMap<CacheKey, FsState>) -> CacheDoc {
        let mut sorted: Vec<(&CacheKey, &FsState)> = records.iter().collect();
        sorted.sort_by_key(|(k, s)| (s.steps.len(), s.layers.len(), **k));
        let mut doc = CacheDoc {
            version: VERSION,
            ..CacheDoc::default()
        };
        let mut blob_index: HashMap<Digest, usize> = HashMap::new();
        let mut seen: HashMap<Prefix, usize> = HashMap::new();
        for (key, state) in sorted {
            let parent = find_parent(state, &seen);
            let (skip_layers, skip_steps) = parent.map_or((0, 0), |(_, l, s)| (l, s));
            let layers = state.layers[skip_layers..]
                .iter()
                .map(|l| {
                    *blob_index
                        .entry(l.descriptor.digest.clone())
                        .or_insert_with(|| {
                            doc.layers.push(l.clone());
                            doc.layers.len() - 1
                        })
                })
                .collect();
            let steps = state.steps[skip_steps..]
                .iter()
                .map(|s| (s.layer, s.created))
                .collect();
            seen.entry(Prefix::of(state, state.layers.len(), state.steps.len()))
                .or_insert(doc.records.len());
            doc.records.push(Record {
                key: key.to_string(),
                parent: parent.map(|(i, _, _)| i),
                layers,
                steps,
            });
        }
        doc
    }

    /// Parses and checks a document.
    pub fn parse(bytes: &[u8]) -> Result<CacheDoc, DocError> {
        let doc: CacheDoc = serde_json::from_slice(bytes)?;
        if doc.version != VERSION {
            return Err(DocError::Version(doc.version));
        }
        for (index, r) in doc.records.iter().enumerate() {
            let bad = |what: String| DocError::Record { index, what };
            r.key
                .parse::<CacheKey>()
                .map_err(|e| bad(format!("key: {e}")))?;
            if r.parent.is_some_and(|p| p >= index) {
                return Err(bad("its parent is not an earlier record".into()));
            }
            if let Some(l) = r.layers.iter().find(|l| **l >= doc.layers.len()) {
                return Err(bad(format!("layer {l} of {}", doc.layers.len())));
            }
        }
        Ok(doc)
    }

    /// The records by key (the last one wins on a duplicate key).
    pub fn by_key(&self) -> HashMap<CacheKey, usize> {
        let keys = self.records.iter().enumerate();
        keys.filter_map(|(i, r)| Some((r.key.parse().ok()?, i)))
            .collect()
    }

    /// The filesystem state of record `index` (checked by [`CacheDoc::parse`]).
    pub fn state(&self, index: usize) -> FsState {
        let mut chain = Vec::new();
        let mut cur = self.records.get(index);
        while let Some(r) = cur {
            chain.push(r);
            cur = r.parent.and_then(|p| self.records.get(p));
        }
        let mut state = FsState::default();
        for r in chain.into_iter().rev() {
            let layers = r.layers.iter().filter_map(|l| self.layers.get(*l));
            state.layers.extend(layers.cloned());
            let steps = r.steps.iter().map(|(layer, created)| StepRecord {
                layer: *layer,
                created: *created,
            });
            state.steps.extend(steps);
        }
        state
    }
}

/// The longest strict prefix of `state` that is itself a record: (index, layers, steps).
fn find_parent(state: &FsState, seen: &HashMap<Prefix, usize>) -> Option<(usize, usize, usize)> {
    let mut layers = state.layers.len();
    for steps in (0..=state.steps.len()).rev() {
        if steps < state.steps.len() && state.steps[steps].layer {
            // Step `steps` made the layer just below the prefix's top.
            layers = layers.checked_sub(1)?;
        }
        if (steps, layers) == (state.steps.len(), state.layers.len()) {
            continue;
        }
        if let Some(i) = seen.get(&Prefix::of(state, layers, steps)) {
            return Some((*i, layers, steps));
        }
    }
    None
}

/// A state's first layers and steps, as a hash-map key.
#[derive(PartialEq, Eq, Hash)]
struct Prefix(Vec<Digest>, Vec<(bool, i64)>);

impl Prefix {
    fn of(state: &FsState, layers: usize, steps: usize) -> Prefix {
        let l = state.layers[..layers]
            .iter()
            .map(|l| l.descriptor.digest.clone());
        let s = state.steps[..steps].iter().map(|s| (s.layer, s.created));
        Prefix(l.collect(), s.collect())
    }
}

#[cfg(test)]
mod tests;
