//! The kernel seam: every filesystem and mount call of the rootfs setup goes through [`Sys`],
//! every process-level call of the init goes through [`ProcSys`], so the setup logic can run
//! against a fake without root. `sys` and its submodules are the only places with `unsafe`.

pub(crate) mod bpf;
pub(crate) mod cwd;
pub(crate) mod fds;
mod keyring;
pub(crate) mod net;
mod overlay;
pub(crate) mod proc_calls;
mod process;
pub(crate) mod seccomp;

pub use process::ProcSys;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a path is, as far as mountpoints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A directory.
    Dir,
    /// A symlink (only from `lstat`).
    Symlink,
    /// Anything else.
    Other,
}

/// The directories an overlay rootfs is made of; they always travel together.
#[derive(Debug, Clone, Copy)]
pub struct OverlayDirs<'a> {
    /// Mounted in a user namespace: `userxattr` options.
    pub rootless: bool,
    /// Snapshot dirs, top-most first (overlay lowerdir order); never empty.
    pub lowers: &'a [PathBuf],
    /// Fresh, empty upper dir.
    pub upper: &'a Path,
    /// Overlay workdir, on the upper's filesystem.
    pub work: &'a Path,
    /// Dir for short symlinks to the layers, for the legacy mount fallback.
    pub links: &'a Path,
}

/// The filesystem and mount calls used by the rootfs setup.
pub trait Sys {
    /// mount(2); empty strings mean NULL.
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: u64,
        data: &str,
    ) -> io::Result<()>;
    /// The overlay mount of the rootfs at `target`.
    fn mount_overlay(&mut self, target: &Path, dirs: &OverlayDirs) -> io::Result<()>;
    /// Makes `new_root` the root of the mount namespace and detaches the old root.
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()>;
    /// Clones the mount tree at a host path before pivot_root (open_tree); returns a handle.
    fn clone_tree(&mut self, path: &Path) -> io::Result<usize>;
    /// A fresh detached filesystem (fsopen, fsmount) made before pivot_root; returns a handle
    /// for [`Sys::attach_tree`]. `flags` are MS_* flags.
    fn new_fs(&mut self, fstype: &str, flags: u64) -> io::Result<usize>;
    /// Attaches a cloned tree at `target` (move_mount), after pivot_root.
    fn attach_tree(&mut self, handle: usize, target: &Path) -> io::Result<()>;
    /// lstat: None when the path does not exist.
    fn lstat(&mut self, path: &Path) -> io::Result<Option<FileType>>;
    /// stat (follows symlinks): None when the path does not exist.
    fn stat(&mut self, path: &Path) -> io::Result<Option<FileType>>;
    /// Canonical path of an existing path.
    fn canonicalize(&mut self, path: &Path) -> io::Result<PathBuf>;
    /// mkdir with mode 0755.
    fn mkdir(&mut self, path: &Path) -> io::Result<()>;
    /// Creates an empty file with mode 0644.
    fn create_file(&mut self, path: &Path) -> io::Result<()>;
    /// A character device node with mode 0666.
    fn mknod_char(&mut self, path: &Path, major: u32, minor: u32) -> io::Result<()>;
    /// symlink(target, link).
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()>;
    /// Creates `path` (which must not exist) holding `data`, with mode and owner.
    fn write_file(
        &mut self,
        path: &Path,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
    ) -> io::Result<()>;
}

/// The real kernel.
#[derive(Default)]
pub struct RealSys {
    /// Detached mount trees of bind sources, cloned before pivot_root.
    trees: Vec<OwnedFd>,
    /// Use only the legacy overlay mount (tests of the fallback).
    pub legacy_overlay: bool,
    /// The network helper's lifeline, held as long as this process lives.
    pub(crate) net_exit: Option<OwnedFd>,
}

pub(crate) fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn cs(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Turns a raw syscall return (negative on failure, with errno set) into a Result; generic
/// because libc returns `c_int` from most calls but `c_long` from `syscall`.
pub(crate) fn check(rc: impl Into<i64>) -> io::Result<()> {
    if rc.into() < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn file_type(m: &std::fs::Metadata) -> FileType {
    let t = m.file_type();
    if t.is_dir() {
        FileType::Dir
    } else if t.is_symlink() {
        FileType::Symlink
    } else {
        FileType::Other
    }
}

fn missing_as_none(r: io::Result<std::fs::Metadata>) -> io::Result<Option<FileType>> {
    match r {
        Ok(m) => Ok(Some(file_type(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Sys for RealSys {
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: u64,
        data: &str,
    ) -> io::Result<()> {
        let (src, ty, dat) = (cs(source)?, cs(fstype)?, cs(data)?);
        let tgt = cstr(target)?;
        let opt = |c: &CString, s: &str| {
            if s.is_empty() {
                std::ptr::null()
            } else {
                c.as_ptr()
            }
        };
        // SAFETY: all pointers are NUL-terminated strings alive for the call, or NULL.
        let rc = unsafe {
            libc::mount(
                opt(&src, source),
                tgt.as_ptr(),
                opt(&ty, fstype),
                flags,
                opt(&dat, data).cast(),
            )
        };
        check(rc)
    }

    fn mount_overlay(&mut self, target: &Path, dirs: &OverlayDirs) -> io::Result<()> {
        let attempt = if self.legacy_overlay {
            Err(io::Error::other("disabled"))
        } else {
            overlay::new_api(target, dirs)
        };
        match attempt {
            Ok(()) => Ok(()),
            Err(new_err) => overlay::legacy(self, target, dirs).map_err(|old_err| {
                io::Error::other(format!("new mount API: {new_err}; legacy mount: {old_err}"))
            }),
        }
    }

    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        std::env::set_current_dir(new_root)?;
        let dot = cs(".")?;
        // SAFETY: pivot_root(".", ".") stacks the old root on top of the new one; both are valid strings.
        check(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) })?;
        // SAFETY: detaches the old root (now mounted on "."), leaving only the new rootfs.
        check(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) })?;
        std::env::set_current_dir("/")
    }

    fn clone_tree(&mut self, path: &Path) -> io::Result<usize> {
        use rustix::mount::{open_tree, OpenTreeFlags};
        // A bind from a path of the old root fails once it is detached; a cloned tree does not.
        let flags = OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE;
        let tree = match crate::beneath::held_dir(path)? {
            // A directory the builder holds open: cloned from this namespace's own mount.
            Some(dir) => open_tree(&dir, "", flags | OpenTreeFlags::AT_EMPTY_PATH)?,
            // Both calls take `flags`, which hold OPEN_TREE_CLOEXEC (fds.rs scans for it).
            None => open_tree(rustix::fs::CWD, path, flags)?,
        };
        self.trees.push(tree);
        Ok(self.trees.len() - 1)
    }

    fn new_fs(&mut self, fstype: &str, flags: u64) -> io::Result<usize> {
        self.trees.push(overlay::new_fs(fstype, flags)?);
        Ok(self.trees.len() - 1)
    }

    fn attach_tree(&mut self, handle: usize, target: &Path) -> io::Result<()> {
        let tree = self
            .trees
            .get(handle)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        overlay::attach_at(tree.as_fd(), target)
    }

    fn lstat(&mut self, path: &Path) -> io::Result<Option<FileType>> {
        missing_as_none(std::fs::symlink_metadata(path))
    }

    fn stat(&mut self, path: &Path) -> io::Result<Option<FileType>> {
        missing_as_none(std::fs::metadata(path))
    }

    fn canonicalize(&mut self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o755).create(path)
    }

    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map(drop)
    }

    fn mknod_char(&mut self, path: &Path, major: u32, minor: u32) -> io::Result<()> {
        let p = cstr(path)?;
        // SAFETY: p is a valid path string; makedev is a pure computation.
        check(unsafe {
            libc::mknod(
                p.as_ptr(),
                libc::S_IFCHR | 0o666,
                libc::makedev(major, minor),
            )
        })?;
        // The umask may have cleared bits of 0666; device nodes must be world-usable.
        // SAFETY: as above.
        check(unsafe { libc::chmod(p.as_ptr(), 0o666) })
    }

    fn write_file(
        &mut self,
        path: &Path,
        data: &[u8],
        mode: u32,
        owner: (u32, u32),
    ) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        f.write_all(data)?;
        std::os::unix::fs::fchown(&f, Some(owner.0), Some(owner.1))?;
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))
    }

    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }
}
