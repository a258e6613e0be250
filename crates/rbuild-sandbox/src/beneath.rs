//! A directory found inside a root without ever leaving it, held open so that what a bind
//! mount of it shows cannot be changed afterwards (the subpath of a cache mount, `RUN
//! --mount=type=cache,source=SUB`). The lookup is one openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS): `..` and absolute symlinks are resolved as if the root were `/`,
//! as BuildKit's `fs.RootPath` resolves a mount selector. The mount is then made from the
//! descriptor's `/proc/<pid>/fd/<n>` link, which names the directory the lookup found (as
//! BuildKit's `sub` and runc's `WithProcfd` do), so a step that swaps a path component for a
//! symlink afterwards (CVE-2024-23651) cannot redirect it. The sandbox init runs in its own
//! mount namespace, where the builder's mount cannot be cloned (open_tree says EINVAL), so
//! [`held_dir`] opens the same directory there again, by a walk that follows no symlink, and
//! checks that it is the very inode the builder holds.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::sys::cwd::{clean, dir_flags};

/// `sub` as Go's `path.Join("/", sub)` cleans it, without the leading `/`: `.` and empty
/// components dropped, `..` never above the root. Empty for the root itself.
pub fn clean_subpath(sub: &str) -> String {
    clean(sub).join("/")
}

/// Why a subdirectory could not be resolved inside its root.
#[derive(Debug, thiserror::Error)]
#[error("resolve {sub:?} inside {}", root.display())]
pub struct BeneathError {
    /// The root.
    pub root: PathBuf,
    /// The path asked for, relative to the root.
    pub sub: String,
    /// What the kernel said (`ENOENT` for a missing path, `ENOTDIR` for a file).
    #[source]
    pub source: io::Error,
}

/// An open directory beneath a root; the bind source it names stays valid while it lives.
#[derive(Debug)]
pub struct BeneathDir {
    fd: OwnedFd,
    link: PathBuf,
}

impl BeneathDir {
    /// Resolves `sub` (cleaned like Go's `path.Clean`, never above the root) inside `root`.
    pub fn open(root: &Path, sub: &str) -> Result<BeneathDir, BeneathError> {
        let fail = |source: io::Error| BeneathError {
            root: root.to_path_buf(),
            sub: sub.to_string(),
            source,
        };
        let base = rustix::fs::open(root, dir_flags() | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| fail(e.into()))?;
        let rel = match clean_subpath(sub) {
            s if s.is_empty() => ".".to_string(),
            s => s,
        };
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let fd = loop {
            // EAGAIN: a concurrent rename raced the lookup; retrying is safe.
            match rustix::fs::openat2(&base, rel.as_str(), dir_flags(), Mode::empty(), how) {
                Err(Errno::AGAIN) => continue,
                r => break r.map_err(|e| fail(e.into()))?,
            }
        };
        let link = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            fd.as_raw_fd()
        ));
        Ok(BeneathDir { fd, link })
    }

    /// The path a bind mount takes as its source: this process's magic link to the directory.
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// The directory's real location now (for messages and tests).
    pub fn real_path(&self) -> io::Result<PathBuf> {
        std::fs::read_link(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// For a bind source that is a `/proc/<pid>/fd/<n>` link of [`BeneathDir::path`]: the same
/// directory opened in this process's mount namespace (`None` for any other path). Fails if
/// the path the link shows now leads, without symlinks, to another inode.
pub(crate) fn held_dir(source: &Path) -> io::Result<Option<OwnedFd>> {
    if !is_fd_link(source) {
        return Ok(None);
    }
    let held = rustix::fs::open(source, dir_flags(), Mode::empty())?;
    let want = rustix::fs::fstat(&held)?;
    let real = std::fs::read_link(source)?;
    let how = ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let fd = rustix::fs::openat2(rustix::fs::CWD, &real, dir_flags(), Mode::empty(), how)?;
    let got = rustix::fs::fstat(&fd)?;
    if (got.st_dev, got.st_ino) != (want.st_dev, want.st_ino) {
        return Err(io::Error::other(format!(
            "bind source {} moved while the step started",
            real.display()
        )));
    }
    Ok(Some(fd))
}

/// Whether `p` is `/proc/<digits>/fd/<digits>`.
fn is_fd_link(p: &Path) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let s = p.to_string_lossy();
    let parts: Vec<&str> = s.split('/').collect();
    matches!(parts.as_slice(), ["", "proc", pid, "fd", n] if digits(pid) && digits(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_and_dotdot_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("a/up")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).unwrap();
        let real = |sub: &str| BeneathDir::open(&root, sub).unwrap().real_path().unwrap();
        let canon = root.canonicalize().unwrap();
        assert_eq!(real("a/b"), canon.join("a/b"));
        assert_eq!(real("abs"), canon, "`/` is the root");
        assert_eq!(real("a/up"), canon, "`..` stops at the root");
        assert_eq!(real("../../a"), canon.join("a"));
        let err = BeneathDir::open(&root, "out").unwrap_err();
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOENT), "{err}");
        let err = BeneathDir::open(&root, "missing").unwrap_err();
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOENT));
        std::fs::write(root.join("f"), "x").unwrap();
        let err = BeneathDir::open(&root, "f").unwrap_err();
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn the_bind_source_keeps_naming_the_resolved_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/marker"), "inside").unwrap();
        let held = BeneathDir::open(&root, "sub").unwrap();
        // The step swaps the directory for a symlink to the host's root.
        std::fs::rename(root.join("sub"), root.join("moved")).unwrap();
        std::os::unix::fs::symlink("/", root.join("sub")).unwrap();
        let marker = std::fs::read_to_string(held.path().join("marker")).unwrap();
        assert_eq!(marker, "inside");
        let again = held_dir(held.path()).unwrap().unwrap();
        let real = std::fs::read_link(format!("/proc/self/fd/{}", again.as_raw_fd())).unwrap();
        assert_eq!(real, root.canonicalize().unwrap().join("moved"));
        assert!(held_dir(&root.join("moved")).unwrap().is_none());
    }
}
