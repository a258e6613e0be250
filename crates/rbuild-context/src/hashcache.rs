//! Content digests of selected context entries, with a persistent stat cache so unchanged
//! files are not read again: (dev, inode, size, mtime, ctime) → digest, in the store's kv
//! namespace `ctxhash`, one record per context directory.
//!
//! ctime is in the key because it cannot be set from user space: `touch -d` can put an
//! mtime back after a content change, but the change still moved ctime, so the old entry
//! never matches again. Files changed within [`RACY_NS`] of being hashed are not cached (the
//! kernel's timestamps are coarse, so a later write could keep the same times).
//!
//! The record format is in [`statkey`](super::statkey).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rbuild_store::Store;

use super::hash::{file_digest, item_digest};
use super::select::CopyItem;
use super::statkey::{key_hash, Known, ENTRY_LEN};
pub use super::statkey::{Digest, StatKey};

/// The kv namespace of the stat cache.
pub const NAMESPACE: &str = rbuild_store::NS_CTXHASH;

/// How recent a change must be for its digest not to be remembered (50 ms).
const RACY_NS: i128 = 50_000_000;

/// Above this many remembered entries per entry still in use, unused ones are dropped.
const KEEP_FACTOR: usize = 4;

/// A selected entry reduced to what its digest needs: a walk of a large context keeps one
/// per file, so it holds much less than a [`CopyItem`].
pub struct Prepared {
    rel: String,
    kind: Kind,
}

enum Kind {
    /// A regular file: looked up in the cache, read if unknown.
    File {
        key: StatKey,
        mode: u32,
        real: PathBuf,
    },
    /// Anything else, digested when prepared.
    Done(Digest),
    /// Digesting it failed.
    Failed(std::io::Error),
}

impl Prepared {
    /// Reduces `item`; a directory or link is digested now (links are read).
    pub fn of(item: CopyItem) -> Prepared {
        let kind = if item.source.meta.is_file() {
            Kind::File {
                key: StatKey::of(&item.source.meta),
                mode: item.source.meta.mode(),
                real: item.source.real,
            }
        } else {
            match item_digest(&item) {
                Ok(d) => Kind::Done(d),
                Err(e) => Kind::Failed(e),
            }
        };
        Prepared {
            rel: item.source.rel,
            kind,
        }
    }

    /// The entry's path relative to its tree's root.
    pub fn rel(&self) -> &str {
        &self.rel
    }
}

/// The entry whose digest failed (relative path) and why.
pub type HashError = (String, std::io::Error);

#[derive(Default)]
struct State {
    loaded: bool,
    /// Whether a record in the current format was found (else a legacy one may remain).
    found: bool,
    known: Arc<Known>,
    /// Hashes of the keys used by this build, for pruning (a collision only keeps an entry).
    used: Vec<u64>,
}

/// The stat cache of one context directory.
pub struct HashCache {
    store: Option<Arc<Store>>,
    record: String,
    /// The record's name in the text format of earlier releases, dropped on the first save.
    legacy: String,
    state: Mutex<State>,
}

impl HashCache {
    /// A cache for `context`, persisted in `store` (none: in memory only).
    pub fn new(store: Option<Arc<Store>>, context: &Path) -> HashCache {
        let dir = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        HashCache {
            store,
            record: format!("v2:{}", dir.display()),
            legacy: format!("v1:{}", dir.display()),
            state: Mutex::new(State::default()),
        }
    }

    /// Loads the remembered digests now (e.g. on another thread while the context is walked).
    pub fn preload(&self) {
        self.snapshot();
    }

    fn snapshot(&self) -> Arc<Known> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.loaded {
            st.loaded = true;
            let bytes = self
                .store
                .as_ref()
                .and_then(|s| s.kv_get(NAMESPACE, &self.record).ok().flatten());
            st.found = bytes.is_some();
            st.known = Arc::new(Known::new(bytes.unwrap_or_default()));
        }
        st.known.clone()
    }

    /// The digest of each entry, reading (in parallel) only files the cache does not know.
    pub fn digests(&self, entries: &[Prepared]) -> Result<Vec<Digest>, HashError> {
        let known = self.snapshot();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i128)
            * 1_000_000_000;
        let mut out = vec![Digest::default(); entries.len()];
        let mut used = Vec::with_capacity(entries.len());
        let mut unknown = Vec::new();
        // A known file is one lookup: a no-op rebuild stays on this thread.
        for (i, entry) in entries.iter().enumerate() {
            match &entry.kind {
                Kind::Done(d) => out[i] = *d,
                Kind::Failed(e) => {
                    let e = std::io::Error::new(e.kind(), e.to_string());
                    return Err((entry.rel.clone(), e));
                }
                Kind::File { key, mode, real } => {
                    used.push(key_hash(key));
                    match known.get(key) {
                        Some(d) => out[i] = d,
                        None => unknown.push((i, *key, *mode, real.as_path())),
                    }
                }
            }
        }
        let hashed: Vec<_> = if unknown.is_empty() {
            Vec::new()
        } else {
            unknown
                .par_iter()
                .map(|&(_, key, mode, real)| file_digest(real, mode, key))
                .collect()
        };
        let mut fresh = Vec::new();
        for (&(i, key, _, _), result) in unknown.iter().zip(hashed) {
            let (d, stable) = result.map_err(|e| (entries[i].rel.clone(), e))?;
            out[i] = d;
            if stable && key.ctime_total() < started - RACY_NS {
                fresh.push((key, d));
            }
        }
        self.remember(used, fresh);
        Ok(out)
    }

    /// Records use and new digests; persists only when something new was learnt.
    fn remember(&self, used: Vec<u64>, fresh: Vec<(StatKey, Digest)>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.used.extend(used);
        if fresh.is_empty() {
            return;
        }
        let mut map: HashMap<StatKey, Digest> = st.known.entries().collect();
        map.extend(fresh);
        if map.len() > KEEP_FACTOR * st.used.len() + 1000 {
            let used: HashSet<u64> = st.used.iter().copied().collect();
            map.retain(|k, _| used.contains(&key_hash(k)));
        }
        let mut bytes = Vec::with_capacity(map.len() * ENTRY_LEN);
        for (k, d) in &map {
            k.encode(d, &mut bytes);
        }
        st.known = Arc::new(Known::new(bytes.clone()));
        if let Some(store) = &self.store {
            let entry = vec![(self.record.clone(), bytes)];
            if let Err(e) = store.kv_put_many(NAMESPACE, &entry) {
                tracing::warn!("cannot record context digests: {e}");
            }
            // A large stale value slows every lookup in the store's table: remove it.
            if !st.found {
                st.found = true;
                if let Err(e) = store.kv_delete(NAMESPACE, &self.legacy) {
                    tracing::warn!("cannot remove old context digests: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(dir: &Path) -> Vec<Prepared> {
        use super::super::select::{plan_map, KeepAll, PlanOptions};
        let tree = super::super::tree::Tree::new(vec![dir.to_path_buf()]);
        let opts = PlanOptions::default();
        plan_map(
            &tree,
            &[".".into()],
            "/",
            true,
            &KeepAll,
            opts,
            &Prepared::of,
        )
        .unwrap()
    }

    fn digest_of(cache: &HashCache, dir: &Path, rel: &str) -> Digest {
        let entries = prepared(dir);
        let digests = cache.digests(&entries).unwrap();
        let i = entries.iter().position(|e| e.rel() == rel).unwrap();
        digests[i]
    }

    #[test]
    fn settled_files_are_remembered_and_changes_always_seen() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, b"one").unwrap();
        std::os::unix::fs::symlink("f", t.path().join("l")).unwrap();
        let cache = HashCache::new(None, t.path());
        let first = digest_of(&cache, t.path(), "f");
        // Just written: too recent to be trusted, so not remembered yet.
        assert!(cache.snapshot().is_empty());
        // The build's start time is taken in whole seconds: wait past the next one.
        std::thread::sleep(std::time::Duration::from_millis(
            1000 + 2 * (RACY_NS / 1_000_000) as u64,
        ));
        assert_eq!(digest_of(&cache, t.path(), "f"), first);
        assert_eq!(cache.snapshot().len(), 1);
        // Touching changes the stat key but not the digest; new content changes it.
        let old = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old + std::time::Duration::from_secs(1))
            .unwrap();
        assert_eq!(digest_of(&cache, t.path(), "f"), first);
        std::fs::write(&f, b"two").unwrap();
        assert_ne!(digest_of(&cache, t.path(), "f"), first);
        // A link is digested by its target, not the file it points to.
        let link = digest_of(&cache, t.path(), "l");
        assert_ne!(link, first);
        std::fs::remove_file(t.path().join("l")).unwrap();
        std::os::unix::fs::symlink("g", t.path().join("l")).unwrap();
        assert_ne!(digest_of(&cache, t.path(), "l"), link);
    }
}
