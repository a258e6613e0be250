//! Copying one entry's metadata (owner, mode, xattrs, times) and its overlay markers.

use crate::error::SandboxError;
use rustix::fs::{self as rfs, AtFlags, Timespec, Timestamps, CWD};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

fn errno(e: rustix::io::Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

/// Opaque markers a lower may carry (root mounts read trusted.*, user namespaces user.*).
const OPAQUE: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// True when the directory `p` is marked opaque.
pub fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    OPAQUE
        .iter()
        .any(|name| rfs::lgetxattr(p, *name, &mut buf).is_ok_and(|n| &buf[..n] == b"y"))
}

/// Marks the directory `p` opaque, in the namespace the overlay of this process would read.
pub fn set_opaque(p: &Path) -> Result<(), SandboxError> {
    let name = if crate::rootless::in_user_namespace() {
        OPAQUE[1]
    } else {
        OPAQUE[0]
    };
    rfs::lsetxattr(p, name, b"y", rfs::XattrFlags::empty())
        .map_err(|e| SandboxError::io("mark opaque", p)(errno(e)))
}

/// Gives `dst` the owner, mode, xattrs (but overlay's own) and times of `src`, whose metadata
/// is `m`. Owner first: chown clears setuid bits and file capabilities.
pub fn copy(src: &Path, dst: &Path, m: &std::fs::Metadata) -> Result<(), SandboxError> {
    let fail = |op: &'static str| move |e: rustix::io::Errno| SandboxError::io(op, dst)(errno(e));
    let (uid, gid) = (rfs::Uid::from_raw(m.uid()), rfs::Gid::from_raw(m.gid()));
    rfs::chownat(CWD, dst, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(fail("chown"))?;
    let link = m.file_type().is_symlink();
    if !link {
        rfs::chmod(dst, rfs::Mode::from_raw_mode(m.mode() & 0o7777)).map_err(fail("chmod"))?;
    }
    copy_xattrs(src, dst)?;
    let t = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: t(m.atime(), m.atime_nsec()),
        last_modification: t(m.mtime(), m.mtime_nsec()),
    };
    rfs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(fail("set times of"))
}

fn copy_xattrs(src: &Path, dst: &Path) -> Result<(), SandboxError> {
    let mut names = vec![0u8; 4096];
    let n = match rfs::llistxattr(src, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(SandboxError::io("list xattrs of", src)(errno(e))),
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let text = String::from_utf8_lossy(name);
        if text.starts_with("trusted.overlay.") || text.starts_with("user.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        let Ok(len) = rfs::lgetxattr(src, name, &mut value) else {
            continue;
        };
        rfs::lsetxattr(dst, name, &value[..len], rfs::XattrFlags::empty())
            .map_err(|e| SandboxError::io("set an xattr of", dst)(errno(e)))?;
    }
    Ok(())
}

/// Removes whatever is at `p` (a directory with its contents); nothing there is fine.
pub fn remove_any(p: &Path) -> Result<(), SandboxError> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SandboxError::io("stat", p)(e)),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).map_err(SandboxError::io("remove", p)),
        Ok(_) => std::fs::remove_file(p).map_err(SandboxError::io("remove", p)),
    }
}
