//! `--cache-to …,compression=` other than the build's: the records go out under the keys a
//! build with that compression looks up (`solve::output_key` of the step's own key), their
//! own layers converted (`rbuild_layer::recompress`, the same compressor a build uses, so a
//! converted layer is the very blob such a build writes). Base image layers are kept as they
//! are, as in images. A converted blob is remembered in the store (`NS_CONVERTED`), so each
//! layer is converted once.

use std::collections::BTreeMap;

use rbuild_layer::Compression;
use rbuild_oci::Descriptor;
use rbuild_solver::CacheKey;
use rbuild_store::{Store, NS_CONVERTED};

use super::{BackendError, Imported, Recorder};
use crate::image::{FsState, LayerRef};
use crate::solve::{compression_name, output_key};

/// `records` (by stored key) as a build writing `to` layers would have stored them.
pub fn convert_records(
    store: &Store,
    imported: &Imported<'_>,
    recorder: &Recorder,
    records: &BTreeMap<CacheKey, FsState>,
    to: Compression,
    epoch: Option<i64>,
) -> Result<BTreeMap<CacheKey, FsState>, BackendError> {
    let mut out = BTreeMap::new();
    for (key, state) in records {
        let Some(plain) = recorder.plain_key(key) else {
            continue;
        };
        let mut state = state.clone();
        let own = state.steps.iter().filter(|s| s.layer).count();
        let first_own = state.layers.len().saturating_sub(own);
        for layer in &mut state.layers[first_own..] {
            layer.descriptor = converted(store, imported, layer, to)?;
        }
        out.insert(output_key(&plain, to, epoch), state);
    }
    Ok(out)
}

/// `layer` compressed as `to`: from the store's memory of an earlier conversion, or now.
pub(super) fn converted(
    store: &Store,
    imported: &Imported<'_>,
    layer: &LayerRef,
    to: Compression,
) -> Result<Descriptor, BackendError> {
    let from = &layer.descriptor;
    let name = format!("{}|{}", from.digest, compression_name(to));
    if let Some(bytes) = store.kv_get(NS_CONVERTED, &name)? {
        if let Ok(desc) = serde_json::from_slice::<Descriptor>(&bytes) {
            if store.has_blob(&desc.digest) {
                return Ok(desc);
            }
        }
    }
    imported.ensure(store, from)?;
    let blob = store.blob_reader(&from.digest, Some(from.size))?;
    let mut ingest = store.ingest()?;
    let made = rbuild_layer::recompress(Box::new(blob), to, &layer.diff_id, &mut ingest)?;
    let (digest, size) = ingest.commit(Some(&made.digest), Some(made.size))?;
    let desc = Descriptor::new(made.media_type, digest, size);
    let refs = [desc.digest.clone(), from.digest.clone()];
    store.kv_put_refs(NS_CONVERTED, &name, &serde_json::to_vec(&desc)?, &refs)?;
    Ok(desc)
}
