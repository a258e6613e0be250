//! Content digests of selected context entries, with a persistent stat cache so unchanged
//! files are not read again: (dev, inode, size, mtime, ctime) → digest, in the store's kv
//! namespace `ctxhash`, one record per context directory.
//!
//! ctime is in the key because it cannot be set from user space: `touch -d` can put an
//! mtime back after a content change, but the change still moved ctime, so the old entry
//! never matches again. Files changed within [`RACY_NS`] of being hashed are not cached (the
//! kernel's timestamps are coarse, so a later write could keep the same times).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rbuild_store::Store;

use super::hash::{file_digest, item_digest};
use super::select::CopyItem;

/// The kv namespace of the stat cache.
pub const NAMESPACE: &str = "ctxhash";

/// How recent a change must be for its digest not to be remembered (50 ms).
const RACY_NS: i128 = 50_000_000;

/// Above this many remembered entries per entry still in use, unused ones are dropped.
const KEEP_FACTOR: usize = 4;

/// The stat fields that identify one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i128,
    ctime: i128,
}

impl StatKey {
    /// The key of a file's current metadata.
    pub fn of(meta: &std::fs::Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }

    fn encode(&self, digest: &str) -> String {
        let StatKey {
            dev,
            ino,
            size,
            mtime,
            ctime,
        } = self;
        format!("{dev} {ino} {size} {mtime} {ctime} {digest}\n")
    }

    fn decode(line: &str) -> Option<(StatKey, String)> {
        let mut f = line.split(' ');
        let key = StatKey {
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            size: f.next()?.parse().ok()?,
            mtime: f.next()?.parse().ok()?,
            ctime: f.next()?.parse().ok()?,
        };
        let digest = f.next()?;
        (digest.len() == 64 && f.next().is_none()).then(|| (key, digest.to_string()))
    }
}

/// An entry's digest, its stat key (regular files), and whether it may be remembered.
type Hashed = (String, Option<StatKey>, bool);

/// The entry whose digest failed (relative path) and why.
pub type HashError = (String, std::io::Error);

#[derive(Default)]
struct State {
    loaded: bool,
    known: Arc<HashMap<StatKey, String>>,
    used: HashSet<StatKey>,
}

/// The stat cache of one context directory.
pub struct HashCache {
    store: Option<Arc<Store>>,
    record: String,
    state: Mutex<State>,
}

impl HashCache {
    /// A cache for `context`, persisted in `store` (none: in memory only).
    pub fn new(store: Option<Arc<Store>>, context: &Path) -> HashCache {
        let dir = std::fs::canonicalize(context).unwrap_or_else(|_| context.to_path_buf());
        HashCache {
            store,
            record: format!("v1:{}", dir.display()),
            state: Mutex::new(State::default()),
        }
    }

    fn snapshot(&self) -> Arc<HashMap<StatKey, String>> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.loaded {
            st.loaded = true;
            let bytes = self
                .store
                .as_ref()
                .and_then(|s| s.kv_get(NAMESPACE, &self.record).ok().flatten())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            st.known = Arc::new(text.lines().filter_map(StatKey::decode).collect());
        }
        st.known.clone()
    }

    /// The digest of each item (hex), hashing in parallel only files the cache does not know.
    pub fn digests(&self, items: &[CopyItem]) -> Result<Vec<String>, HashError> {
        let known = self.snapshot();
        let started = crate::time::now_unix() as i128 * 1_000_000_000;
        let results: Vec<Result<Hashed, HashError>> = items
            .par_iter()
            .map(|item| {
                let meta = &item.source.meta;
                if !meta.is_file() {
                    let d = item_digest(item).map_err(|e| (item.source.rel.clone(), e))?;
                    return Ok((d, None, false));
                }
                let key = StatKey::of(meta);
                if let Some(d) = known.get(&key) {
                    return Ok((d.clone(), Some(key), false));
                }
                let (d, stable) = file_digest(item).map_err(|e| (item.source.rel.clone(), e))?;
                let fresh = stable && key.ctime < started - RACY_NS;
                Ok((d, Some(key), fresh))
            })
            .collect();
        let mut out = Vec::with_capacity(items.len());
        let mut used = Vec::new();
        let mut fresh = Vec::new();
        for r in results {
            let (d, key, new) = r?;
            if let Some(k) = key {
                used.push(k);
                if new {
                    fresh.push((k, d.clone()));
                }
            }
            out.push(d);
        }
        self.remember(used, fresh);
        Ok(out)
    }

    /// Records use and new digests; persists when something new was learnt.
    fn remember(&self, used: Vec<StatKey>, fresh: Vec<(StatKey, String)>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.used.extend(used);
        if fresh.is_empty() {
            return;
        }
        let mut map: HashMap<StatKey, String> = (*st.known).clone();
        map.extend(fresh);
        if map.len() > KEEP_FACTOR * st.used.len() + 1000 {
            let used = &st.used;
            map.retain(|k, _| used.contains(k));
        }
        let mut text = String::with_capacity(map.len() * 100);
        for (k, d) in &map {
            text.push_str(&k.encode(d));
        }
        st.known = Arc::new(map);
        if let Some(store) = &self.store {
            let entry = vec![(self.record.clone(), text.into_bytes())];
            if let Err(e) = store.kv_put_many(NAMESPACE, &entry) {
                tracing::warn!("cannot record context digests: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_keys_round_trip() {
        let k = StatKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime: 4_000_000_005,
            ctime: -6,
        };
        let line = k.encode(&"a".repeat(64));
        assert_eq!(StatKey::decode(line.trim_end()), Some((k, "a".repeat(64))));
        assert_eq!(StatKey::decode("1 2 3 4 5 short"), None);
        assert_eq!(StatKey::decode("garbage"), None);
    }
}
