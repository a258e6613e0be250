//! File locks and lock-protected temporary entries.
//!
//! Every partial write (ingest file, scratch dir) is created under a unique name and held
//! under an exclusive `flock` for as long as its owner lives. The sweep on open removes
//! exactly the entries whose lock it can take: their owner died (`kill -9` releases locks).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{IoContext, Result};

/// Opens (creating if needed) a lock file and takes an exclusive lock, blocking.
pub(crate) fn lock_exclusive(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock().at(path)?;
    Ok(file)
}

/// Opens (creating if needed) a lock file and takes a shared lock, blocking.
pub(crate) fn lock_shared(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock_shared().at(path)?;
    Ok(file)
}

/// Opens (creating if needed) a lock file without locking it.
pub(crate) fn open_lock(path: &Path) -> Result<File> {
    open_lock_file(path)
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::layout::FILE_MODE)
        .open(path)
        .at(path)
}

/// Tries to take an exclusive lock without blocking; `false` if someone else holds it.
pub(crate) fn try_exclusive(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// A name no other process or thread will pick: pid, counter and clock.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}", std::process::id())
}

/// Whether `path` still names the inode `file` has open.
fn same_inode(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Creates a new, exclusively locked file under `dir`.
pub(crate) fn create_locked_file(dir: &Path, prefix: &str) -> Result<(PathBuf, File)> {
    loop {
        let path = dir.join(unique_name(prefix));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(crate::layout::FILE_MODE)
            .open(&path)
            .at(&path)?;
        file.lock().at(&path)?;
        // A concurrent sweep may have removed the entry between create and lock.
        if same_inode(&file, &path) {
            return Ok((path, file));
        }
    }
}

/// Creates a new directory under `dir` and holds an exclusive lock on it.
pub(crate) fn create_locked_dir(dir: &Path, prefix: &str) -> Result<(PathBuf, File)> {
    loop {
        let path = dir.join(unique_name(prefix));
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).at(&path),
        }
        // A store opening at this moment sweeps unlocked entries of `dir`: it may remove
        // ours between `mkdir` and `open`/`lock`. Both cases just retry under a new name.
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).at(&path),
        };
        file.lock().at(&path)?;
        if same_inode(&file, &path) {
            return Ok((path, file));
        }
    }
}

/// Removes every entry of `dir` whose lock can be taken (its owner is gone); returns how many.
pub(crate) fn sweep_unlocked(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if sweep_one(&path).unwrap_or(false) {
            removed += 1;
        }
    }
    Ok(removed)
}

fn sweep_one(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    if !try_exclusive(&file)? || !same_inode(&file, path) {
        return Ok(false);
    }
    remove_any(path)?;
    Ok(true)
}

/// Removes a file or a directory tree; a missing path is not an error.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Syncs a directory so renames into it survive a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).at(dir)?.sync_all().at(dir)
}

/// `rename` that fails with `AlreadyExists` instead of replacing an existing target.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOTEMPTY) | Err(rustix::io::Errno::EXIST) => {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        }
        // Filesystems without RENAME_NOREPLACE: check, then rename (racy only there).
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            } else {
                fs::rename(from, to)
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that opens sweeps `tmp/` while other processes create scratch dirs there
    /// (the sweep of a starting build removed a private cache user's scratch dir).
    #[test]
    fn create_locked_dir_survives_a_concurrent_sweep() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sweeper = {
            let (dir, stop) = (dir.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut swept = 0;
                while !stop.load(Ordering::Relaxed) {
                    swept += sweep_unlocked(&dir).unwrap();
                }
                swept
            })
        };
        for _ in 0..10000 {
            let (path, lock) = create_locked_dir(&dir, "s-").unwrap();
            assert!(path.is_dir() && same_inode(&lock, &path), "{path:?}");
        }
        stop.store(true, Ordering::Relaxed);
        assert!(
            sweeper.join().unwrap() > 0,
            "the sweep never ran beside the creation"
        );
    }
}
