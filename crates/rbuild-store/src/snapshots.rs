//! Snapshots (unpacked layer dirs keyed by chain id) and scratch dirs under `tmp/`.
//!
//! A snapshot only ever appears by renaming a whole directory into `snapshots/`, and only
//! disappears by renaming it out into `tmp/` first, so `snapshots/<hex>` is always complete.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rbuild_oci::Digest;

use crate::error::{IoContext, Result, StoreError};
use crate::{lock, Store};

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
