//! Writing `--cache-to` caches after the build's images are written.

use std::collections::BTreeMap;

use rbuild_oci::Descriptor;
use rbuild_solver::CacheKey;
use rbuild_store::Store;

use super::convert::convert_records;
use super::CONFIG_MEDIA_TYPE;
use super::{chain, CacheDoc, Imported, Links, Mode, Recorder};
use crate::image::FsState;
use crate::progress::{Event, Reporter};
use crate::BuildError;

/// Writes every `--cache-to` of the remote kinds: the records `links` recorded that each
/// one's mode selects, `finals` being the states of the images the build exports.
pub fn export_caches(
    store: &Store,
    links: &Links<'_>,
    finals: &[FsState],
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let all = links.recorder.records();
    for e in &links.exports {
        let (place, ignore_error) = (&e.place, e.ignore_error);
        let records = select(&all, e.mode, finals);
        let written = match &e.backend {
            Ok(b) => convert(store, links, records, e.convert)
                .and_then(|records| write(store, &records, &**b, &links.imported))
                .map(|(r, l)| (b.name(), r, l)),
            Err(why) => Err(why.clone().into()),
        };
        match written {
            Ok((name, records, layers)) => reporter.event(Event::Note(format!(
                "exported cache to {name}: {records} records, {layers} layers"
            ))),
            Err(e) if ignore_error => reporter.event(Event::Note(format!(
                "WARNING: cache export to {place} failed (ignore-error=true): {}",
                chain(&*e)
            ))),
            Err(source) => {
                return Err(BuildError::CacheExport {
                    what: place.to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// The document `--cache-to type=inline` puts into the config of the image of `fs`: the
/// records of its own chain (`mode=min`), whose layers are all the image's.
pub fn inline_doc(recorder: &Recorder, fs: &FsState) -> CacheDoc {
    CacheDoc::of(&select(
        &recorder.records(),
        Mode::Min,
        std::slice::from_ref(fs),
    ))
}

/// `mode=max`: everything; `mode=min`: the records that are a start of an exported image
/// (its base, its own steps, and what it copied in: not the other stages' steps).
fn select(
    all: &BTreeMap<CacheKey, FsState>,
    mode: Mode,
    finals: &[FsState],
) -> BTreeMap<CacheKey, FsState> {
    let keep = |s: &FsState| mode == Mode::Max || finals.iter().any(|f| is_start_of(s, f));
    all.iter()
        .filter(|(_, s)| keep(s))
        .map(|(k, s)| (*k, s.clone()))
        .collect()
}

fn is_start_of(s: &FsState, f: &FsState) -> bool {
    f.layers.starts_with(&s.layers) && f.steps.starts_with(&s.steps)
}

/// The records as `compression=` asks (the build's own when `to` is `None`).
fn convert(
    store: &Store,
    links: &Links<'_>,
    records: BTreeMap<CacheKey, FsState>,
    to: Option<rbuild_layer::Compression>,
) -> Result<BTreeMap<CacheKey, FsState>, super::BackendError> {
    match to {
        None => Ok(records),
        Some(to) => {
            let (imported, recorder) = (&links.imported, &links.recorder);
            convert_records(store, imported, recorder, &records, to, links.epoch)
        }
    }
}

/// Writes the document and the manifest; (records, layers) written. Layers that hits of
/// `imported` left in a registry are fetched first unless the backend is in that registry
/// (it has them, or mounts them).
fn write(
    store: &Store,
    records: &BTreeMap<CacheKey, FsState>,
    backend: &dyn super::CacheBackend,
    imported: &Imported<'_>,
) -> Result<(usize, usize), super::BackendError> {
    let doc = CacheDoc::of(records);
    let bytes = serde_json::to_vec(&doc)?;
    let digest = store.put_blob(&bytes)?;
    let config = Descriptor::new(CONFIG_MEDIA_TYPE, digest, bytes.len() as u64);
    let layers: Vec<Descriptor> = doc.layers.iter().map(|l| l.descriptor.clone()).collect();
    imported.ensure_for(store, &layers, backend.registry().as_deref())?;
    backend.write(store, &config, &layers)?;
    Ok((doc.records.len(), layers.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::StepRecord;

    fn state(layers: &[&str], steps: usize) -> FsState {
        let layers = layers
            .iter()
            .map(|n| crate::image::LayerRef {
                descriptor: Descriptor::new("t", rbuild_oci::Digest::of(n.as_bytes()), 1),
                diff_id: rbuild_oci::Digest::of(n.as_bytes()),
            })
            .collect();
        let step = StepRecord {
            layer: true,
            created: 0,
        };
        FsState {
            layers,
            steps: vec![step; steps],
        }
    }

    #[test]
    fn mode_min_keeps_the_exported_images_chain_only() {
        let key = |n: u8| CacheKey::from_bytes([n; 32]);
        let all: BTreeMap<_, _> = [
            (key(1), state(&["base", "a"], 1)),
            (key(2), state(&["base", "a", "b"], 2)),
            (key(3), state(&["builder", "x"], 1)),
            (key(4), state(&["base", "c"], 1)),
        ]
        .into();
        let finals = [state(&["base", "a", "b"], 2)];
        let min = select(&all, Mode::Min, &finals);
        assert_eq!(min.keys().copied().collect::<Vec<_>>(), [key(1), key(2)]);
        assert_eq!(select(&all, Mode::Max, &finals).len(), 4);
    }
}
