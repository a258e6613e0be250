//! Replacing a mount: its lock is taken without waiting (a mount a build is using is not
//! replaced), the new instance is built in a scratch directory of `tmp/` (swept after a
//! crash), and put in place by one rename, or an atomic exchange with the old instance,
//! which then goes with the scratch directory.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use rustix::fs::{renameat_with, RenameFlags, CWD};

use super::error::{At, CacheMountError};
use super::{key_of, still_named};
use crate::lock::{open_lock, rename_noreplace, try_exclusive};
use crate::{ScratchDir, Store};

/// A mount being replaced: its lock held, its new instance being built.
pub(crate) struct Claimed<'s> {
    store: &'s Store,
    key: String,
    _lock: File,
    scratch: ScratchDir,
}

impl<'s> Claimed<'s> {
    /// Takes the mount's lock (failing if a build holds it) and prepares an empty instance.
    pub fn new(store: &'s Store, id: &str) -> Result<Self, CacheMountError> {
        let dir = store.cache_mounts_dir();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .at(&dir)?;
        let key = key_of(id);
        let lock_path = dir.join(format!("{key}.lock"));
        let lock = loop {
            let lock = open_lock(&lock_path)?;
            if !try_exclusive(&lock).at(&lock_path)? {
                return Err(CacheMountError::Busy(id.to_string()));
            }
            // A prune removed the lock file we opened: lock the current one.
            if still_named(&lock, &lock_path) {
                break lock;
            }
        };
        let scratch = store.scratch()?;
        let instance = scratch.path().join("m");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&instance)
            .at(&instance)?;
        fs::write(instance.join("id"), id).at(&instance)?;
        let data = instance.join("data");
        fs::DirBuilder::new().mode(0o755).create(&data).at(&data)?;
        Ok(Claimed {
            store,
            key,
            _lock: lock,
            scratch,
        })
    }

    /// The directory to restore into.
    pub fn data(&self) -> PathBuf {
        self.scratch.path().join("m").join("data")
    }

    /// Puts the new instance in place; whether it replaced one.
    pub fn commit(self) -> Result<bool, CacheMountError> {
        let from = self.scratch.path().join("m");
        let to = self.store.cache_mounts_dir().join(&self.key);
        match rename_noreplace(&from, &to) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                renameat_with(CWD, &from, CWD, &to, RenameFlags::EXCHANGE).at(&to)?;
                Ok(true)
            }
            Err(e) => Err(e).at(&to),
        }
    }
}
