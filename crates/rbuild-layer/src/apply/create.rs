//! Creating one filesystem object inside an already-resolved parent directory fd, with its
//! owner, mode, xattrs and mtime. Never follows a symlink at the final component.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::fs::{Gid, Uid, XattrFlags};
use rustix::io::Errno;

use super::meta::Attrs;
use super::safe_path::remove_all_at;

fn to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Per-apply facts that change how failures are judged.
pub(crate) struct Privilege {
    /// Running as euid 0: every owner/xattr failure is an error. Otherwise (rootless), owners
    /// and trusted.* xattrs the kernel refuses are skipped like GNU tar does for non-root.
    pub is_root: bool,
}

impl Privilege {
    fn tolerate(&self, res: Result<(), Errno>) -> io::Result<()> {
        match res {
            Err(Errno::PERM | Errno::INVAL) if !self.is_root => Ok(()),
            other => other.map_err(to_io),
        }
    }

    /// Xattr failures: trusted.*/security.* need root, so rootless skips those.
    fn xattr(&self, name: &[u8], res: Result<(), Errno>) -> io::Result<()> {
        match res {
            Err(Errno::PERM) if !self.is_root && !name.starts_with(b"user.") => Ok(()),
            other => other.map_err(to_io),
        }
    }
}

fn owner(a: &Attrs) -> (Option<Uid>, Option<Gid>) {
    (Some(Uid::from_raw(a.uid)), Some(Gid::from_raw(a.gid)))
}

/// Makes room for a new object at `name`: keeps an existing directory when a directory is
/// wanted, otherwise removes whatever is there (recursively, without following links).
pub(crate) fn prepare(dir: BorrowedFd<'_>, name: &[u8], want_dir: bool) -> io::Result<bool> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(to_io(e)),
        Ok(st) => {
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if is_dir && want_dir {
                return Ok(true);
            }
            remove_all_at(dir, name)?;
            Ok(false)
        }
    }
}

fn times(a: &Attrs) -> Timestamps {
    let t = Timespec {
        tv_sec: a.mtime,
        tv_nsec: a.mtime_nsec.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Owner, then mode (chown clears setuid/setgid), then xattrs (chown clears
/// security.capability) of an open fd.
fn fd_attrs(p: &Privilege, fd: BorrowedFd<'_>, a: &Attrs) -> io::Result<()> {
    let (u, g) = owner(a);
    p.tolerate(rfs::fchown(fd, u, g))?;
    rfs::fchmod(fd, Mode::from_raw_mode(a.mode)).map_err(to_io)?;
    for (name, value) in &a.xattrs {
        p.xattr(
            name,
            rfs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()),
        )?;
    }
    Ok(())
}

/// Creates regular file `name` with exactly `size` bytes from `data`; returns bytes written.
pub(crate) fn file(
    p: &Privilege,
    dir: BorrowedFd<'_>,
    name: &[u8],
    a: &Attrs,
    data: &mut dyn Read,
    buf: &mut [u8],
) -> io::Result<u64> {
    prepare(dir, name, false)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd: OwnedFd = rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600)).map_err(to_io)?;
    let mut f = std::fs::File::from(fd);
    let mut total = 0u64;
    loop {
        let n = match data.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io::Write::write_all(&mut f, &buf[..n])?;
        total += n as u64;
    }
    fd_attrs(p, f.as_fd(), a)?;
    rfs::futimens(&f, &times(a)).map_err(to_io)?;
    Ok(total)
}

/// Creates (or reuses) directory `name`; its mtime is set later by the caller.
pub(crate) fn dir(p: &Privilege, parent: BorrowedFd<'_>, name: &[u8], a: &Attrs) -> io::Result<()> {
    if !prepare(parent, name, true)? {
        rfs::mkdirat(parent, name, Mode::from_raw_mode(0o700)).map_err(to_io)?;
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::openat(parent, name, flags, Mode::empty()).map_err(to_io)?;
    fd_attrs(p, fd.as_fd(), a)
}

/// Applies attributes to the target root itself (a `./` entry).
pub(crate) fn root_dir(p: &Privilege, root: BorrowedFd<'_>, a: &Attrs) -> io::Result<()> {
    fd_attrs(p, root, a)
}

/// Sets the mtime of `name` in `dir` without following a symlink.
pub(crate) fn set_mtime(dir: BorrowedFd<'_>, name: &[u8], a: &Attrs) -> io::Result<()> {
    let name: &[u8] = if name.is_empty() { b"." } else { name };
    rfs::utimensat(dir, name, &times(a), AtFlags::SYMLINK_NOFOLLOW).map_err(to_io)
}

/// Xattrs of a symlink or device, through the parent fd's /proc alias (no fd can be opened
/// on them for writing xattrs).
fn path_xattrs(p: &Privilege, dir: BorrowedFd<'_>, name: &[u8], a: &Attrs) -> io::Result<()> {
    if a.xattrs.is_empty() {
        return Ok(());
    }
    use std::os::fd::AsRawFd;
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name);
    for (xname, value) in &a.xattrs {
        let res = rfs::lsetxattr(
            path.as_slice(),
            xname.as_slice(),
            value,
            XattrFlags::empty(),
        );
        p.xattr(xname, res)?;
    }
    Ok(())
}

/// Owner (not following), xattrs and mtime of a just-created non-regular object.
fn path_attrs(
    p: &Privilege,
    dir: BorrowedFd<'_>,
    name: &[u8],
    a: &Attrs,
    chmod: bool,
) -> io::Result<()> {
    let (u, g) = owner(a);
    p.tolerate(rfs::chownat(dir, name, u, g, AtFlags::SYMLINK_NOFOLLOW))?;
    if chmod {
        rfs::chmodat(dir, name, Mode::from_raw_mode(a.mode), AtFlags::empty()).map_err(to_io)?;
    }
    path_xattrs(p, dir, name, a)?;
    set_mtime(dir, name, a)
}

/// Creates symlink `name` → `target` (stored verbatim; never followed here).
pub(crate) fn symlink(
    p: &Privilege,
    dir: BorrowedFd<'_>,
    name: &[u8],
    target: &[u8],
    a: &Attrs,
) -> io::Result<()> {
    prepare(dir, name, false)?;
    rfs::symlinkat(target, dir, name).map_err(to_io)?;
    path_attrs(p, dir, name, a, false)
}

/// Creates a device node or fifo `name`.
pub(crate) fn node(
    p: &Privilege,
    dir: BorrowedFd<'_>,
    name: &[u8],
    kind: FileType,
    dev: (u32, u32),
    a: &Attrs,
) -> io::Result<()> {
    prepare(dir, name, false)?;
    let rdev = rfs::makedev(dev.0, dev.1);
    match rfs::mknodat(dir, name, kind, Mode::from_raw_mode(a.mode & 0o777), rdev) {
        // A user namespace may make fifos but no devices: the node is left out, as
        // containers/storage does rootless (a RUN gets its /dev from the sandbox anyway).
        Err(Errno::PERM) if !p.is_root && kind != FileType::Fifo => return Ok(()),
        r => r.map_err(to_io)?,
    }
    path_attrs(p, dir, name, a, true)
}

/// Creates hardlink `name` to `tname` in `tdir` (a symlink target is linked, not followed).
pub(crate) fn hardlink(
    tdir: BorrowedFd<'_>,
    tname: &[u8],
    dir: BorrowedFd<'_>,
    name: &[u8],
) -> io::Result<()> {
    prepare(dir, name, false)?;
    rfs::linkat(tdir, tname, dir, name, AtFlags::empty()).map_err(to_io)
}

/// Creates an overlay whiteout (0/0 character device) at `name`.
pub(crate) fn whiteout(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    prepare(dir, name, false)?;
    let dev = rfs::makedev(0, 0);
    rfs::mknodat(dir, name, FileType::CharacterDevice, Mode::empty(), dev).map_err(to_io)
}

/// Marks the directory `dir` opaque for overlayfs.
pub(crate) fn opaque(p: &Privilege, dir: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rfs::openat(dir, c".", flags, Mode::empty()).map_err(to_io)?;
    // Rootless overlays (userxattr) read the user.* form; a root mount reads trusted.*.
    let name = if p.is_root {
        "trusted.overlay.opaque"
    } else {
        "user.overlay.opaque"
    };
    rfs::fsetxattr(&fd, name, b"y", XattrFlags::empty()).map_err(to_io)
}
