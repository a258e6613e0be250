//! Content digests of selected context entries, with a persistent stat cache so unchanged
//! files are not read again: (dev, inode, size, mtime, ctime) → digest, in the store's kv
//! namespace `ctxhash`, one record per context directory.
//!
//! ctime is in the key because it cannot be set from user space: `touch -d` can put an
//! mtime back after a content change, but the change still moved ctime, so the old entry
//! never matches again. Files changed within [`RACY_NS`] of being hashed are not cached (the
//! kernel's timestamps are coarse, so a later write could keep the same times).
//!
//! The record is a flat array of fixed-size binary entries (see [`StatKey::encode`]): a
//! no-op rebuild of a large context loads it on every build, so it must parse fast.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rbuild_store::Store;

use super::hash::{file_digest, item_digest};
use super::select::CopyItem;

/// The kv namespace of the stat cache.
pub const NAMESPACE: &str = "ctxhash";

/// A raw sha256 digest.
pub type Digest = [u8; 32];

/// How recent a change must be for its digest not to be remembered (50 ms).
const RACY_NS: i128 = 50_000_000;

/// Above this many remembered entries per entry still in use, unused ones are dropped.
const KEEP_FACTOR: usize = 4;

/// Bytes of one encoded entry: five u64/i64, two u32 nanoseconds, the digest.
const ENTRY_LEN: usize = 5 * 8 + 2 * 4 + 32;

/// The stat fields that identify one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: u32,
    ctime: i64,
    ctime_ns: u32,
}

impl StatKey {
    /// The key of a file's current metadata.
    pub fn of(meta: &std::fs::Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec() as u32,
            ctime: meta.ctime(),
            ctime_ns: meta.ctime_nsec() as u32,
        }
    }

    /// The change time in nanoseconds since the epoch.
    fn ctime_total(&self) -> i128 {
        self.ctime as i128 * 1_000_000_000 + self.ctime_ns as i128
    }

    /// Appends the entry (little-endian fields, then the digest) to `out`.
    fn encode(&self, digest: &Digest, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
        out.extend_from_slice(digest);
    }

    /// Decodes one entry of exactly [`ENTRY_LEN`] bytes.
    fn decode(entry: &[u8]) -> Option<(StatKey, Digest)> {
        let mut at = 0;
        let mut take = |n: usize| {
            let part = entry.get(at..at + n);
            at += n;
            part
        };
        let u64_at = |b: Option<&[u8]>| Some(u64::from_le_bytes(b?.try_into().ok()?));
        let u32_at = |b: Option<&[u8]>| Some(u32::from_le_bytes(b?.try_into().ok()?));
        let key = StatKey {
            dev: u64_at(take(8))?,
            ino: u64_at(take(8))?,
            size: u64_at(take(8))?,
            mtime: u64_at(take(8))? as i64,
            mtime_ns: u32_at(take(4))?,
            ctime: u64_at(take(8))? as i64,
            ctime_ns: u32_at(take(4))?,
        };
        let digest = take(32)?.try_into().ok()?;
        (entry.len() == ENTRY_LEN).then_some((key, digest))
    }
}

/// Decodes a whole record; a record of the wrong size is ignored (everything is rehashed).
fn decode_record(bytes: &[u8]) -> StatMap {
    if !bytes.len().is_multiple_of(ENTRY_LEN) {
        return StatMap::default();
    }
    let mut map = StatMap::with_capacity_and_hasher(bytes.len() / ENTRY_LEN, Default::default());
    map.extend(bytes.chunks_exact(ENTRY_LEN).filter_map(StatKey::decode));
    map
}

/// Encodes a whole record.
fn encode_record(map: &StatMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(map.len() * ENTRY_LEN);
    for (k, d) in map {
        k.encode(d, &mut out);
    }
    out
}

/// A multiply-rotate hasher for stat keys: they are not attacker-chosen in any way that
/// matters (a context can only slow down its own build), and SipHash showed in profiles.
#[derive(Default, Clone, Copy)]
pub struct StatHasher(u64);

impl Hasher for StatHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// Stat keys to digests.
type StatMap = HashMap<StatKey, Digest, BuildHasherDefault<StatHasher>>;

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
    known: Arc<StatMap>,
    /// Hashes of the keys used by this build, for pruning (a collision only keeps an entry).
    used: Vec<u64>,
}

/// The hash of a key, as remembered in [`State::used`].
fn key_hash(key: &StatKey) -> u64 {
    BuildHasherDefault::<StatHasher>::default().hash_one(key)
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

    fn snapshot(&self) -> Arc<StatMap> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.loaded {
            st.loaded = true;
            let bytes = self
                .store
                .as_ref()
                .and_then(|s| s.kv_get(NAMESPACE, &self.record).ok().flatten());
            st.found = bytes.is_some();
            st.known = Arc::new(decode_record(&bytes.unwrap_or_default()));
        }
        st.known.clone()
    }

    /// The digest of each entry, reading (in parallel) only files the cache does not know.
    pub fn digests(&self, entries: &[Prepared]) -> Result<Vec<Digest>, HashError> {
        let known = self.snapshot();
        let started = crate::time::now_unix() as i128 * 1_000_000_000;
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
                        Some(d) => out[i] = *d,
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
        let mut map: StatMap = (*st.known).clone();
        map.extend(fresh);
        if map.len() > KEEP_FACTOR * st.used.len() + 1000 {
            let used: HashSet<u64> = st.used.iter().copied().collect();
            map.retain(|k, _| used.contains(&key_hash(k)));
        }
        let bytes = encode_record(&map);
        st.known = Arc::new(map);
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

    fn key(ino: u64) -> StatKey {
        StatKey {
            dev: 1,
            ino,
            size: 3,
            mtime: 4,
            mtime_ns: 5,
            ctime: -6,
            ctime_ns: 999_999_999,
        }
    }

    #[test]
    fn stat_keys_round_trip() {
        let mut buf = Vec::new();
        key(2).encode(&[7; 32], &mut buf);
        assert_eq!(buf.len(), ENTRY_LEN);
        assert_eq!(StatKey::decode(&buf), Some((key(2), [7; 32])));
        assert_eq!(StatKey::decode(&buf[1..]), None);
        assert_eq!(key(2).ctime_total(), -5_000_000_001);
    }

    #[test]
    fn records_round_trip_and_bad_sizes_are_empty() {
        let map: StatMap = (0..100).map(|i| (key(i), [i as u8; 32])).collect();
        let bytes = encode_record(&map);
        assert_eq!(decode_record(&bytes), map);
        assert!(decode_record(&bytes[..bytes.len() - 1]).is_empty());
        assert!(decode_record(b"").is_empty());
    }

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

    #[test]
    fn hasher_separates_nearby_keys() {
        let hash = |k: StatKey| {
            let mut h = StatHasher::default();
            std::hash::Hash::hash(&k, &mut h);
            h.finish()
        };
        let hashes: HashSet<u64> = (0..1000).map(|i| hash(key(i))).collect();
        assert_eq!(hashes.len(), 1000);
    }
}
