//! Restoring a checked mount ([`Plan`]) into a fresh directory in one pass: directories
//! first, then every chunk's bytes straight into the files they belong to (several chunks at
//! a time, each chunk and each piece verified before a byte of it is written), then empty files, hardlinks, FIFOs
//! and symlinks, and last owners, modes and mtimes (directories deepest first, so writing
//! into them never changes their mtime again). Nothing is synced, as with the builds that
//! write a cache mount.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rbuild_oci::Digest;
use rustix::fs::{chownat, mknodat, utimensat, AtFlags, FileType, Mode, Timestamps, CWD};
use rustix::fs::{Gid, Timespec, Uid};

use super::error::{At, CacheMountError};
use super::format::{Kind, RootMeta};
use super::plan::Plan;

/// Fetches the verified bytes of chunk `i` of the plan.
pub(crate) type Fetch<'a> = dyn Fn(usize) -> Result<Vec<u8>, CacheMountError> + Sync + 'a;

/// Writes `plan` into `data` (an empty directory of ours) with `workers` threads fetching.
pub(crate) fn restore(
    plan: &Plan,
    data: &Path,
    fetch: &Fetch<'_>,
    workers: usize,
) -> Result<(), CacheMountError> {
    for e in plan.entries.iter().filter(|e| e.kind == Kind::Dir) {
        let path = data.join(&e.path);
        fs::DirBuilder::new().mode(0o700).create(&path).at(&path)?;
    }
    write_chunks(plan, data, fetch, workers)?;
    make_the_rest(plan, data)?;
    set_metadata(plan, data)
}

/// Every chunk into its files, `workers` chunks at a time; the first failure stops them all.
fn write_chunks(
    plan: &Plan,
    data: &Path,
    fetch: &Fetch<'_>,
    workers: usize,
) -> Result<(), CacheMountError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failed = Mutex::new(None);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.chunks.len() || stop.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = fetch(i).and_then(|bytes| write_chunk(plan, data, i, &bytes)) {
            stop.store(true, Ordering::Relaxed);
            let mut slot = failed.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(e);
            return;
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(work);
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes the pieces of one chunk (already verified) where they belong.
fn write_chunk(plan: &Plan, data: &Path, i: usize, bytes: &[u8]) -> Result<(), CacheMountError> {
    for u in &plan.uses[i] {
        let entry = &plan.entries[u.entry];
        let path = data.join(&entry.path);
        // The plan checked that pieces lie inside their chunk, and the chunk its size.
        let piece = &bytes[u.from as usize..(u.from + u.len) as usize];
        if Digest::of(piece) != u.digest {
            return Err(CacheMountError::PieceMismatch {
                id: plan.id.clone(),
                path: entry.path.clone(),
                at: u.at,
                digest: u.digest.clone(),
            });
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .at(&path)?;
        file.write_all_at(piece, u.at).at(&path)?;
    }
    Ok(())
}

/// Empty files, hardlinks, FIFOs and, last, symlinks.
fn make_the_rest(plan: &Plan, data: &Path) -> Result<(), CacheMountError> {
    for e in &plan.entries {
        let path = data.join(&e.path);
        match (e.kind, e.target.as_deref()) {
            (Kind::File, _) if e.size == 0 => {
                let mut new = OpenOptions::new();
                new.write(true).create_new(true).mode(0o600);
                new.open(&path).at(&path).map(drop)?;
            }
            (Kind::Hardlink, Some(target)) => fs::hard_link(data.join(target), &path).at(&path)?,
            (Kind::Fifo, _) => {
                mknodat(CWD, &path, FileType::Fifo, Mode::from(0o600), 0).at(&path)?
            }
            _ => {}
        }
    }
    for e in plan.entries.iter().filter(|e| e.kind == Kind::Symlink) {
        let path = data.join(&e.path);
        let target = e.target.as_deref().unwrap_or_default();
        std::os::unix::fs::symlink(target, &path).at(&path)?;
    }
    Ok(())
}

/// Owners, modes and mtimes: everything but directories, then directories deepest first,
/// then the root.
fn set_metadata(plan: &Plan, data: &Path) -> Result<(), CacheMountError> {
    let meta = |e: &super::format::Entry| RootMeta {
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime,
    };
    let root = rbuild_layer::host_root();
    for e in plan
        .entries
        .iter()
        .filter(|e| !matches!(e.kind, Kind::Dir | Kind::Hardlink))
    {
        apply(&data.join(&e.path), &meta(e), e.kind == Kind::Symlink, root)?;
    }
    for e in plan.entries.iter().rev().filter(|e| e.kind == Kind::Dir) {
        apply(&data.join(&e.path), &meta(e), false, root)?;
    }
    apply(data, &plan.root, false, root)
}

/// Sets one entry's owner (when allowed: only root may give files away), mode (not a
/// symlink's: chmod would follow it) and mtime.
fn apply(path: &Path, m: &RootMeta, symlink: bool, root: bool) -> Result<(), CacheMountError> {
    let (uid, gid) = (Uid::from_raw(m.uid), Gid::from_raw(m.gid));
    match chownat(CWD, path, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::PERM) if !root => {}
        other => other.at(path)?,
    }
    if !symlink {
        fs::set_permissions(path, fs::Permissions::from_mode(m.mode)).at(path)?;
    }
    let t = Timespec {
        tv_sec: m.mtime[0],
        tv_nsec: m.mtime[1],
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).at(path)
}
