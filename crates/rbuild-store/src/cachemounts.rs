//! Cache mounts (`RUN --mount=type=cache`): directories that live in the store across builds,
//! never part of a layer or a cache key.
//!
//! Each id gets `cachemounts/<h>/` where `<h>` is a digest of the id, so an id can never name a
//! path outside the area (buildah CVE-2024-9675 used `id=../../..`). Inside: `data/` (what the
//! step sees), `id` (the id as given, for `rbuild cache ls`) and, next to the directory, the
//! lock file `<h>.lock`. A user holds a shared lock (`shared`), the exclusive lock (`locked`:
//! concurrent builds wait their turn), or the exclusive lock of its own instance (`private`: a
//! concurrent user gets a fresh `<h>-<n>` copy). Pruning takes the exclusive lock without
//! waiting, so a mount in use is never removed.
//!
//! Several users may find an id new at once (`shared` lets them all in): an instance is built
//! in a scratch directory and renamed into place without replacing, so exactly one creates it
//! and the others use it; nothing in place is ever removed on the way. Whoever locked a lock
//! file a prune has just removed starts over on the current one.
//!
//! Mounts travel as OCI artifacts (`rbuild cache export --mounts` / `import`): see
//! `export`, `import` and docs/ARCHITECTURE.md, "Portable cache mounts".

mod base;
mod chunker;
mod compact;
mod error;
mod export;
mod format;
mod import;
mod layout;
mod pack;
mod parts;
mod plan;
#[cfg(test)]
mod plan_tests;
mod restore;
mod swap;
#[cfg(test)]
mod transfer_tests;
mod walk;

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

use crate::error::{IoContext, Result};
use crate::lock::{rename_noreplace, try_exclusive, unique_name};
use crate::Store;

pub use base::Base;
pub use error::CacheMountError;
pub use export::{CacheExport, ExportedMount, ExportedPart};
pub use format::{
    ANNOTATION_ID, ANNOTATION_PART, CACHE_MOUNTS_ARTIFACT, CACHE_MOUNT_ARTIFACT, CACHE_MOUNT_CHUNK,
    CACHE_MOUNT_CONFIG,
};
pub use import::{ArtifactSource, ImportedMount, SourceError};
pub use layout::CopyReport;
pub use pack::PackStats;

/// How concurrent builds share one cache id (BuildKit's `sharing=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Everyone uses the same directory at once.
    Shared,
    /// One user at a time; the others wait.
    Locked,
    /// A user that finds the directory busy gets a fresh instance of its own.
    Private,
}

/// A cache mount in use; its lock is held until it is dropped.
#[derive(Debug)]
pub struct CacheMount {
    /// The directory the step sees.
    pub data: PathBuf,
    /// Whether this use created it (so the caller seeds it and sets its owner and mode).
    pub created: bool,
    _lock: File,
}

/// One cache mount as `rbuild cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMountInfo {
    /// The id as written in the Dockerfile.
    pub id: String,
    /// Its directory name under `cachemounts/`.
    pub key: String,
    /// Bytes of its files.
    pub size: u64,
    /// Last time a build used it (seconds since the epoch).
    pub last_used: i64,
}

fn key_of(id: &str) -> String {
    Digest::of(id.as_bytes()).to_string()[7..39].to_string()
}

impl Store {
    /// The directory holding every cache mount.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root().join("cachemounts")
    }

    /// Takes the cache mount `id` for a step, creating it (empty) when it does not exist yet.
    pub fn cache_mount(&self, id: &str, sharing: Sharing) -> Result<CacheMount> {
        self.cache_mount_init(id, sharing, &|_| Ok(()))
    }

    /// Like [`Store::cache_mount`], with `init` filling a new mount's data directory (seed,
    /// mode, owner) before the mount appears, so a concurrent `sharing=shared` user never sees
    /// it half made. Every user that may create it runs `init` on its own copy; one copy wins.
    pub fn cache_mount_init(
        &self,
        id: &str,
        sharing: Sharing,
        init: &Init<'_>,
    ) -> Result<CacheMount> {
        let dir = self.cache_mounts_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .at(&dir)?;
        let key = key_of(id);
        let lock_path = dir.join(format!("{key}.lock"));
        loop {
            let lock = crate::lock::open_lock(&lock_path)?;
            match sharing {
                Sharing::Shared => lock.lock_shared().at(&lock_path)?,
                Sharing::Locked => lock.lock().at(&lock_path)?,
                Sharing::Private => {
                    if !try_exclusive(&lock).at(&lock_path)? {
                        return self.private_instance(id, &key, init);
                    }
                }
            }
            if still_named(&lock, &lock_path) {
                return self.open_instance(id, &key, lock, init);
            }
            // A prune removed the mount and its lock file while we waited: start over.
        }
    }

    /// A fresh instance for a private user who found the main one busy.
    fn private_instance(&self, id: &str, key: &str, init: &Init<'_>) -> Result<CacheMount> {
        let dir = self.cache_mounts_dir();
        let mut n = 1u64;
        loop {
            let instance = format!("{key}-{n}");
            let lock_path = dir.join(format!("{instance}.lock"));
            let lock = crate::lock::open_lock(&lock_path)?;
            if !try_exclusive(&lock).at(&lock_path)? {
                n += 1;
            } else if still_named(&lock, &lock_path) {
                return self.open_instance(id, &instance, lock, init);
            }
            // Otherwise a prune removed this instance: try the same number again.
        }
    }

    fn open_instance(
        &self,
        id: &str,
        instance: &str,
        lock: File,
        init: &Init<'_>,
    ) -> Result<CacheMount> {
        let root = self.cache_mounts_dir().join(instance);
        let data = root.join("data");
        // Users holding the shared lock (or private users of other instances) may get here
        // at once: creation must be safe against them and must never remove what one of them
        // may already be using, so exactly one creates and the others find its directory.
        let created = !data.is_dir() && self.create_instance(id, &root, init)?;
        // The mtime of `id` says when the mount was last used.
        touch(&root.join("id")).at(&root)?;
        Ok(CacheMount {
            data,
            created,
            _lock: lock,
        })
    }

    /// Makes the instance `root` (its `id` and an empty `data/`) appear at once: it is built in
    /// a scratch directory and renamed into place, never replacing one; whether this call
    /// made it (`false`: a concurrent user did first).
    fn create_instance(&self, id: &str, root: &Path, init: &Init<'_>) -> Result<bool> {
        let scratch = self.scratch()?;
        let fresh = scratch.path().join("m");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&fresh)
            .at(&fresh)?;
        let id_path = fresh.join("id");
        fs::write(&id_path, id).at(&id_path)?;
        let data = fresh.join("data");
        fs::DirBuilder::new().mode(0o755).create(&data).at(&data)?;
        init(&data).at(&data)?;
        match rename_noreplace(&fresh, root) {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at(root),
        }
        // `scratch` (our unused copy) goes on drop. The existing one is normally complete; a
        // crash of an older rbuild may have left it without `data/` or `id`: complete it in
        // place, `mkdir` deciding which of several concurrent users creates `data/`.
        repair_instance(id, root, init)
    }
    /// Every cache mount, with its size and last use.
    pub fn cache_mount_list(&self) -> Result<Vec<CacheMountInfo>> {
        let mut out = Vec::new();
        for (key, path, id) in self.cache_mount_instances()? {
            let last_used = fs::metadata(path.join("id")).map_or(0, |m| m.mtime());
            out.push(CacheMountInfo {
                id,
                key,
                size: tree_size(&path.join("data")),
                last_used,
            });
        }
        out.sort_by(|a, b| (&a.id, &a.key).cmp(&(&b.id, &b.key)));
        Ok(out)
    }

    /// The ids of the cache mounts held, each once, sorted; unlike
    /// [`cache_mount_list`](Self::cache_mount_list) it never walks a mount to size it.
    pub fn cache_mount_ids(&self) -> Result<Vec<String>> {
        let ids: std::collections::BTreeSet<String> = self
            .cache_mount_instances()?
            .into_iter()
            .map(|(_, _, id)| id)
            .collect();
        Ok(ids.into_iter().collect())
    }

    /// (key, directory, id) of every complete cache mount instance.
    fn cache_mount_instances(&self) -> Result<Vec<(String, PathBuf, String)>> {
        let dir = self.cache_mounts_dir();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.at(&dir)?;
            let path = e.path();
            if !path.join("data").is_dir() {
                continue;
            }
            let id = fs::read_to_string(path.join("id")).unwrap_or_default();
            out.push((e.file_name().to_string_lossy().to_string(), path, id));
        }
        Ok(out)
    }

    /// Removes the cache mounts `keep` does not keep and that no build is using; returns them.
    pub fn prune_cache_mounts(
        &self,
        keep: &dyn Fn(&CacheMountInfo) -> bool,
    ) -> Result<Vec<CacheMountInfo>> {
        let dir = self.cache_mounts_dir();
        let mut removed = Vec::new();
        for m in self.cache_mount_list()? {
            if keep(&m) {
                continue;
            }
            let lock_path = dir.join(format!("{}.lock", m.key));
            let lock = crate::lock::open_lock(&lock_path)?;
            if !try_exclusive(&lock).at(&lock_path)? {
                continue;
            }
            let path = dir.join(&m.key);
            fs::remove_dir_all(&path).at(&path)?;
            let _ = fs::remove_file(&lock_path);
            removed.push(m);
        }
        Ok(removed)
    }
}

/// Completes an instance directory left without `data/` (or `id`); whether this call created
/// `data/`. Nothing is removed: another user may be completing it at the same time. Only this
/// repair of a crashed rbuild's leftover runs `init` in place.
fn repair_instance(id: &str, root: &Path, init: &Init<'_>) -> Result<bool> {
    let id_path = root.join("id");
    if !id_path.is_file() {
        // Written aside and renamed, so `cache ls` never reads half of it.
        let part = root.join(unique_name(".id-"));
        fs::write(&part, id).at(&part)?;
        fs::rename(&part, &id_path).at(&id_path)?;
    }
    let data = root.join("data");
    match fs::DirBuilder::new().mode(0o755).create(&data) {
        Ok(()) => init(&data).at(&data).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && data.is_dir() => Ok(false),
        Err(e) => Err(e).at(&data),
    }
}

/// Fills a new cache mount's data directory (seed, mode, owner) before anyone can use it.
pub type Init<'a> = dyn Fn(&Path) -> io::Result<()> + 'a;

/// Whether `path` still names the lock file `lock` has open. A prune removes a mount's lock
/// file while holding its lock; whoever locked the removed file after it must not use the
/// mount, or two users could each hold "the" exclusive lock of one mount.
fn still_named(lock: &File, path: &Path) -> bool {
    match (lock.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn touch(path: &Path) -> io::Result<()> {
    let f = fs::OpenOptions::new().append(true).open(path)?;
    f.set_modified(std::time::SystemTime::now())
}

/// Bytes of regular files under `dir` (not following links; unreadable parts count 0).
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_name_paths_outside_the_area() {
        for id in ["../../..", "/etc", "a/../../b", ""] {
            let k = key_of(id);
            assert_eq!(k.len(), 32);
            assert!(k.chars().all(|c| c.is_ascii_hexdigit()), "{k}");
        }
        assert_ne!(key_of("a"), key_of("b"));
    }

    #[test]
    fn shared_and_locked_reuse_private_gets_a_fresh_copy_when_busy() {
        let t = tempfile::tempdir().unwrap();
        let store = Store::open(&t.path().join("s")).unwrap();
        let a = store.cache_mount("apt", Sharing::Locked).unwrap();
        assert!(a.created);
        fs::write(a.data.join("f"), "1").unwrap();
        drop(a);
        let b = store.cache_mount("apt", Sharing::Shared).unwrap();
        assert!(!b.created && b.data.join("f").is_file());
        let p = store.cache_mount("apt", Sharing::Private).unwrap();
        assert!(
            p.created,
            "busy (shared lock held): private gets its own instance"
        );
        assert_ne!(p.data, b.data);
        drop((b, p));
        let q = store.cache_mount("apt", Sharing::Private).unwrap();
        assert!(
            q.data.join("f").is_file(),
            "free again: private uses the main one"
        );
        drop(q);
        let list = store.cache_mount_list().unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        assert!(list.iter().all(|m| m.id == "apt"));
        let held = store.cache_mount("apt", Sharing::Shared).unwrap();
        let gone = store.prune_cache_mounts(&|_| false).unwrap();
        assert_eq!(gone.len(), 1, "the mount in use is kept");
        drop(held);
        assert_eq!(store.prune_cache_mounts(&|_| false).unwrap().len(), 1);
        assert!(store.cache_mount_list().unwrap().is_empty());
    }
}
