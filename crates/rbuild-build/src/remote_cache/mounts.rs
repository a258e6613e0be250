//! `mounts=true`: the cache mounts a build uses travel with its remote cache. They are written
//! beside the cache (the same repository or layout directory, tag `<tag>-mounts`) in the
//! format of `rbuild cache export --mounts` (chunked, so a second export sends only what
//! changed), and restored by a `--cache-from …,mounts=true` before the build starts.

use std::collections::BTreeSet;

use rbuild_store::Store;

use super::{backend, chain, CacheBackends, CacheFrom, Links};
use crate::progress::{Event, Reporter};
use crate::BuildError;

/// The tag the cache mounts of the cache tagged `tag` go under.
pub fn mounts_tag(tag: &str) -> String {
    format!("{tag}-mounts")
}

/// What one export of cache mounts moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountsWritten {
    /// Cache mounts written.
    pub mounts: usize,
    /// Blobs sent (new chunks, configs, manifests).
    pub sent: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Blobs the destination already had.
    pub present: u64,
    /// Why what the destination held could not be built upon (everything was sent).
    pub warning: Option<String>,
}

/// Restores the cache mounts stored beside each `--cache-from …,mounts=true`, in order (a
/// later one replaces a mount an earlier one restored). Like a cache import, a failure is a
/// warning: the build runs with the mounts it has.
pub fn restore_mounts(
    froms: &[CacheFrom],
    registries: &dyn CacheBackends,
    store: &Store,
    reporter: &dyn Reporter,
) {
    let note = |s: String| reporter.event(Event::Note(s));
    for from in froms.iter().filter(|f| f.mounts) {
        let restored =
            backend(&from.place, registries).and_then(|b| Ok((b.read_mounts(store)?, b)));
        match restored {
            Ok((Some(mounts), b)) => {
                let bytes: u64 = mounts.iter().map(|m| m.bytes).sum();
                note(format!(
                    "restored {} cache mounts ({bytes} bytes) from {}",
                    mounts.len(),
                    b.name()
                ));
            }
            Ok((None, b)) => note(format!("no cache mounts beside {} yet", b.name())),
            Err(e) => note(format!(
                "WARNING: cannot restore cache mounts from {}: {}",
                from.place,
                chain(&*e)
            )),
        }
    }
}

/// Writes the cache mounts `ids` names (those of the build's RUN steps; ones this store does
/// not hold are left out) beside every `--cache-to …,mounts=true`.
pub fn export_mounts(
    store: &Store,
    links: &Links<'_>,
    ids: &BTreeSet<String>,
    reporter: &dyn Reporter,
) -> Result<(), BuildError> {
    let exports: Vec<_> = links.exports.iter().filter(|e| e.mounts).collect();
    if exports.is_empty() {
        return Ok(());
    }
    let held = store
        .cache_mount_ids()
        .map_err(|e| BuildError::CacheExport {
            what: "cache mounts".into(),
            source: Box::new(e),
        })?;
    let ids: Vec<String> = held.into_iter().filter(|id| ids.contains(id)).collect();
    for e in exports {
        let written = match &e.backend {
            Ok(b) if ids.is_empty() => Ok((b.name(), MountsWritten::default())),
            Ok(b) => b.write_mounts(store, &ids).map(|w| (b.name(), w)),
            Err(why) => Err(why.clone().into()),
        };
        match written {
            Ok((name, w)) => {
                if let Some(why) = &w.warning {
                    reporter.event(Event::Note(format!("WARNING: {why}")));
                }
                reporter.event(Event::Note(format!(
                    "exported {} cache mounts beside {name}: {} blobs ({} bytes) sent, {} already there",
                    w.mounts, w.sent, w.bytes, w.present
                )))
            }
            Err(err) if e.ignore_error => reporter.event(Event::Note(format!(
                "WARNING: cache mount export to {} failed (ignore-error=true): {}",
                e.place,
                chain(&*err)
            ))),
            Err(source) => {
                return Err(BuildError::CacheExport {
                    what: format!("cache mounts beside {}", e.place),
                    source,
                })
            }
        }
    }
    Ok(())
}
