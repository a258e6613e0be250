//! Snapshots (unpacked layer dirs keyed by chain id) and scratch dirs under `tmp/`.
//!
//! A snapshot only ever appears by renaming a whole directory into `snapshots/`, and only
//! disappears by renaming it out into `tmp/` first, so `snapshots/<hex>` is always complete.
//! Builds use only *verified* snapshots (see `verified`): an image's config merely claims its
//! diff_ids, and a snapshot cached under a chain id is what every later build on that chain
//! runs on.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rbuild_oci::Digest;

use crate::error::{IoContext, Result, StoreError};
use crate::verified::{key_of, record_key, record_prefix, summarize, SnapshotRecord, NS_SNAPSHOT};
use crate::{lock, Store};

/// How often a verified commit moves an unverified occupant out of its way before giving up.
const REPLACE_ATTEMPTS: usize = 4;

/// Locks of scratch dirs that were `keep()`-ed, held until committed or released.
pub(crate) type KeptLocks = Arc<Mutex<HashMap<PathBuf, File>>>;

/// A fresh directory under `tmp/`, removed on drop unless kept or committed.
///
/// Its lock keeps the open-time sweep of other processes away from it.
pub struct ScratchDir {
    path: PathBuf,
    lock: Option<File>,
    kept: KeptLocks,
}

impl ScratchDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory past drop; its lock stays held (so no sweep removes it) until
    /// `Store::commit_snapshot` moves it or `Store::release_scratch` is called.
    pub fn keep(mut self) -> PathBuf {
        if let Some(file) = self.lock.take() {
            if let Ok(mut kept) = self.kept.lock() {
                kept.insert(self.path.clone(), file);
            }
        }
        self.path.clone()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.lock.is_some() {
            let _ = lock::remove_any(&self.path);
        }
    }
}

impl Store {
    /// The committed snapshot of a chain id, if any; protects it from a concurrent prune
    /// for the life of this `Store`.
    pub fn snapshot(&self, chain_id: &Digest) -> Option<PathBuf> {
        // Best effort: failing to record the lease only matters if a prune runs right now.
        let _ = self.protect(chain_id);
        let path = self.layout.snapshot(chain_id);
        path.is_dir().then_some(path)
    }

    /// The committed snapshot of a chain id if the store can vouch for it (it was committed
    /// with [`Store::commit_verified_snapshot`]); protects it like [`Store::snapshot`].
    pub fn verified_snapshot(&self, chain_id: &Digest) -> Option<PathBuf> {
        let _ = self.protect(chain_id);
        let path = self.layout.snapshot(chain_id);
        let meta = std::fs::symlink_metadata(&path)
            .ok()
            .filter(|m| m.is_dir())?;
        let key = key_of(chain_id, &meta);
        if self.known_records.contains(&key) {
            return Some(path);
        }
        let bytes = self.kv_get(NS_SNAPSHOT, &key).ok().flatten()?;
        // An unparsable record vouches for nothing.
        serde_json::from_slice::<SnapshotRecord>(&bytes).ok()?;
        self.known_records.insert(key);
        Some(path)
    }

    /// The verification record of the snapshot directory now at `snapshots/<chain hex>`.
    pub(crate) fn snapshot_record(&self, chain_id: &Digest) -> Result<Option<SnapshotRecord>> {
        let path = self.layout.snapshot(chain_id);
        let key = match record_key(chain_id, &path) {
            Ok(key) => key,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(&path),
        };
        let Some(bytes) = self.kv_get(NS_SNAPSHOT, &key)? else {
            return Ok(None);
        };
        // An unparsable record vouches for nothing.
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Commits `dir`, whose content the caller verified against `diff_id` (unpacked with
    /// `rbuild_layer::apply_layer_verified`, or written by `write_layer` which computed it),
    /// as the snapshot of `chain_id`. An unverified snapshot already there is replaced; a
    /// verified one wins and `dir` is removed.
    pub fn commit_verified_snapshot(
        &self,
        chain_id: &Digest,
        dir: PathBuf,
        diff_id: &Digest,
    ) -> Result<PathBuf> {
        let res = self.commit_verified(chain_id, &dir, diff_id);
        self.release_scratch(&dir);
        res
    }

    fn commit_verified(&self, chain_id: &Digest, dir: &Path, diff_id: &Digest) -> Result<PathBuf> {
        if !dir.is_dir() {
            return Err(StoreError::NotADirectory(dir.to_path_buf()));
        }
        // Before the rename: a crash in between leaves a record of a directory that is gone.
        let key = self.record_snapshot(chain_id, dir, diff_id)?;
        let target = self.layout.snapshot(chain_id);
        for _ in 0..REPLACE_ATTEMPTS {
            match lock::rename_noreplace(dir, &target) {
                Ok(()) => {
                    lock::fsync_dir(&self.layout.snapshots_dir())?;
                    // The rename keeps the inode, so the key names the committed directory.
                    self.known_records.insert(key);
                    return Ok(target);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).at(&target),
            }
            if self.snapshot_record(chain_id)?.is_some() {
                self.protect(chain_id)?;
                self.discard_dir(dir)?;
                let _ = self.kv_delete(NS_SNAPSHOT, &key);
                return Ok(target);
            }
            // An unverified occupant: move it out of the way (someone may beat us to it).
            match self.discard_dir(&target) {
                Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Err(StoreError::Io {
            path: target,
            source: io::Error::other("snapshot kept being replaced while committing"),
        })
    }

    /// Writes the record of `dir` (about to become the snapshot of `chain_id`); returns its key.
    fn record_snapshot(&self, chain_id: &Digest, dir: &Path, diff_id: &Digest) -> Result<String> {
        let record = SnapshotRecord {
            diff_id: diff_id.clone(),
            tree: summarize(dir).at(dir)?,
        };
        let key = record_key(chain_id, dir).at(dir)?;
        let json = serde_json::to_vec(&record).map_err(|source| StoreError::Json {
            what: format!("snapshot record {key}"),
            source,
        })?;
        self.kv_put(NS_SNAPSHOT, &key, &json)?;
        Ok(key)
    }

    /// Removes a committed snapshot and its records.
    pub(crate) fn remove_snapshot(&self, chain_id: &Digest) -> Result<()> {
        self.known_records.clear();
        self.discard_dir(&self.layout.snapshot(chain_id))?;
        self.kv_delete_prefix(NS_SNAPSHOT, &record_prefix(chain_id))?;
        Ok(())
    }

    /// Creates a fresh scratch directory under `tmp/` (same filesystem as `snapshots/`).
    pub fn scratch(&self) -> Result<ScratchDir> {
        let (path, file) = lock::create_locked_dir(&self.layout.tmp_dir(), "s-")?;
        Ok(ScratchDir {
            path,
            lock: Some(file),
            kept: self.kept.clone(),
        })
    }

    /// Renames `dir` into `snapshots/<hex>` atomically; if another build committed the same
    /// chain id first, removes `dir` and returns the existing snapshot.
    ///
    /// Records no proof of content: `check` reports such a snapshot as unverified and builds
    /// (which use [`Store::verified_snapshot`]) unpack the layer again. Prefer
    /// [`Store::commit_verified_snapshot`].
    pub fn commit_snapshot(&self, chain_id: &Digest, dir: PathBuf) -> Result<PathBuf> {
        let res = self.rename_into_snapshots(chain_id, &dir);
        self.release_scratch(&dir);
        res
    }

    /// Commits a scratch dir as a snapshot, holding its lock across the rename.
    pub fn commit_scratch(&self, chain_id: &Digest, scratch: ScratchDir) -> Result<PathBuf> {
        let dir = scratch.keep();
        self.commit_snapshot(chain_id, dir)
    }

    /// Drops the lock of a kept scratch dir (after which the next open may sweep it).
    pub fn release_scratch(&self, dir: &Path) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.remove(dir);
        }
    }

    fn rename_into_snapshots(&self, chain_id: &Digest, dir: &Path) -> Result<PathBuf> {
        if !dir.is_dir() {
            return Err(StoreError::NotADirectory(dir.to_path_buf()));
        }
        let target = self.layout.snapshot(chain_id);
        match lock::rename_noreplace(dir, &target) {
            Ok(()) => {
                lock::fsync_dir(&self.layout.snapshots_dir())?;
                Ok(target)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.protect(chain_id)?;
                self.discard_dir(dir)?;
                Ok(target)
            }
            Err(e) => Err(e).at(&target),
        }
    }

    /// Removes a directory by first renaming it into a locked-then-abandoned `tmp/` name, so a
    /// crash mid-removal leaves only sweepable debris.
    pub(crate) fn discard_dir(&self, dir: &Path) -> Result<()> {
        let trash = self.layout.tmp_dir().join(lock::unique_name("trash-"));
        std::fs::rename(dir, &trash).at(dir)?;
        // Best effort: whatever is left is unlocked debris the next open sweeps.
        let _ = lock::remove_any(&trash);
        Ok(())
    }

    /// Chain ids of every committed snapshot.
    pub fn snapshots(&self) -> Result<Vec<Digest>> {
        let dir = self.layout.snapshots_dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).at(&dir)? {
            let entry = entry.at(&dir)?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }
}
