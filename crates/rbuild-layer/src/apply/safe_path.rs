//! Path handling that can never leave the target directory.
//!
//! Entry names are cleaned lexically with `..` clamped at the root (containerd semantics:
//! `../../etc/x` and `/etc/x` both land on `<target>/etc/x`). Parent directories are then
//! opened with `openat2(RESOLVE_IN_ROOT)`, so symlinks met on the way resolve as if `target`
//! were `/` (`link -> /` then `link/etc/passwd` writes `<target>/etc/passwd`). Where the kernel
//! lacks openat2 (< 5.6) the same resolution is done component by component with O_NOFOLLOW.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Symlinks followed in one resolution before giving up (the kernel's limit too).
const MAX_SYMLINKS: usize = 40;

/// Splits `path` into components: leading `/`, `.` and empty parts dropped, `..` clamped.
pub(crate) fn clean(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}

/// Like [`clean`] but `None` when `..` would climb above the root (used for hardlink targets).
pub(crate) fn clean_strict(path: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c.to_vec()),
        }
    }
    Some(out)
}

/// Joins components back into a relative path (for messages and bookkeeping).
pub(crate) fn join(comps: &[Vec<u8>]) -> Vec<u8> {
    comps.join(&b'/')
}

fn to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

const DIR_PATH: OFlags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC);

/// Opens directory `comps` (resolved inside `root`) as an O_PATH fd.
pub(crate) fn open_dir(root: BorrowedFd<'_>, comps: &[Vec<u8>]) -> io::Result<OwnedFd> {
    if comps.is_empty() {
        return rfs::openat(root, c".", DIR_PATH, Mode::empty()).map_err(to_io);
    }
    let path = join(comps);
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    match rfs::openat2(root, path.as_slice(), DIR_PATH, Mode::empty(), how) {
        Err(Errno::NOSYS) => open_dir_manual(root, comps).map_err(to_io),
        other => other.map_err(to_io),
    }
}

/// A walk of a path inside a root, one component at a time, as `RESOLVE_IN_ROOT` does it: the
/// names left, the directories entered (`T` each), and the symlinks followed so far.
pub(crate) struct InRoot<T> {
    todo: Vec<Vec<u8>>,
    /// The directories entered, the last one innermost.
    pub stack: Vec<T>,
    links: usize,
}

impl<T> InRoot<T> {
    /// A walk of `comps` from the root.
    pub fn new(comps: &[Vec<u8>]) -> Self {
        InRoot {
            todo: comps.iter().rev().cloned().collect(),
            stack: Vec::new(),
            links: 0,
        }
    }

    /// The next name to look up: `.` skipped, `..` leaves the directory last entered (never
    /// above the root).
    pub fn next_name(&mut self) -> Option<Vec<u8>> {
        while let Some(c) = self.todo.pop() {
            match c.as_slice() {
                b"" | b"." => {}
                b".." => {
                    self.stack.pop();
                }
                _ => return Some(c),
            }
        }
        None
    }

    /// Goes on with a symlink's `target` instead of its name: an absolute one from the root.
    pub fn follow(&mut self, target: &[u8]) -> Result<(), Errno> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(Errno::LOOP);
        }
        if target.starts_with(b"/") {
            self.stack.clear();
        }
        self.todo
            .extend(target.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
        Ok(())
    }
}

/// openat2-free equivalent of `RESOLVE_IN_ROOT` resolution of a directory.
pub(crate) fn open_dir_manual(root: BorrowedFd<'_>, comps: &[Vec<u8>]) -> Result<OwnedFd, Errno> {
    let mut walk: InRoot<OwnedFd> = InRoot::new(comps);
    while let Some(c) = walk.next_name() {
        let cur = walk.stack.last().map_or(root, |fd| fd.as_fd());
        let st = rfs::statat(cur, c.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            let target = rfs::readlinkat(cur, c.as_slice(), Vec::new())?.into_bytes();
            walk.follow(&target)?;
            continue;
        }
        let flags = DIR_PATH | OFlags::NOFOLLOW;
        let fd = rfs::openat(cur, c.as_slice(), flags, Mode::empty())?;
        walk.stack.push(fd);
    }
    match walk.stack.pop() {
        Some(fd) => Ok(fd),
        None => rfs::openat(root, c".", DIR_PATH, Mode::empty()),
    }
}

/// Opens directory `comps` inside `root`, creating missing directories (mode 0755, root-owned
/// like containerd) on the way.
pub(crate) fn ensure_dir(root: BorrowedFd<'_>, comps: &[Vec<u8>]) -> io::Result<OwnedFd> {
    match open_dir(root, comps) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let mut parent = open_dir(root, &[])?;
    for i in 0..comps.len() {
        match open_dir(root, &comps[..=i]) {
            Ok(fd) => parent = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let mode = Mode::from_raw_mode(0o755);
                match rfs::mkdirat(&parent, comps[i].as_slice(), mode) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(to_io(e)),
                }
                parent = open_dir(root, &comps[..=i])?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(parent)
}

/// Removes `name` in `dir`, recursively if it is a directory; never follows symlinks.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(to_io(e)),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rfs::unlinkat(dir, name, AtFlags::empty()).map_err(to_io);
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::openat(dir, name, flags, Mode::empty()).map_err(to_io)?;
    clear_dir(fd.as_fd(), &|_| false)?;
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR).map_err(to_io)
}

/// Removes every child of the (readable) directory `fd` for which `keep` is false.
pub(crate) fn clear_dir(fd: BorrowedFd<'_>, keep: &dyn Fn(&[u8]) -> bool) -> io::Result<()> {
    let mut names = Vec::new();
    let mut d = rfs::Dir::read_from(fd).map_err(to_io)?;
    while let Some(ent) = d.read() {
        let ent = ent.map_err(to_io)?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." && !keep(name) {
            names.push(name.to_vec());
        }
    }
    for name in names {
        remove_all_at(fd, &name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn clean_clamps_at_root() {
        assert_eq!(clean(b"../../etc/passwd"), comps(&["etc", "passwd"]));
        assert_eq!(clean(b"/abs/./x//y/"), comps(&["abs", "x", "y"]));
        assert_eq!(clean(b"a/../../b"), comps(&["b"]));
        assert_eq!(clean(b"./"), comps(&[]));
    }

    #[test]
    fn strict_refuses_escape() {
        assert_eq!(clean_strict(b"../x"), None);
        assert_eq!(clean_strict(b"a/../../x"), None);
        assert_eq!(clean_strict(b"a/../x"), Some(comps(&["x"])));
        assert_eq!(
            clean_strict(b"/usr/bin/x"),
            Some(comps(&["usr", "bin", "x"]))
        );
    }

    /// The openat2-free resolver must agree with RESOLVE_IN_ROOT on every kind of link.
    #[test]
    fn manual_resolution_matches_openat2() {
        use std::os::unix::fs::{symlink, MetadataExt};
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::fs::create_dir_all(t.path().join("outside/sub")).unwrap();
        symlink("/", root.join("to-root")).unwrap();
        symlink("../../..", root.join("real/up")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink(t.path().join("outside"), root.join("host")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        let rootfd = rfs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let ino = |fd: &OwnedFd| rfs::fstat(fd).unwrap().st_ino;
        let real_sub = std::fs::metadata(root.join("real/sub")).unwrap().ino();
        for path in [
            "real/sub",
            "to-root/real/sub",
            "real/up/real/sub",
            "abs/sub",
            "../real/sub",
        ] {
            let comps = clean(path.as_bytes());
            let a = open_dir(rootfd.as_fd(), &comps).unwrap();
            let b = open_dir_manual(rootfd.as_fd(), &comps).unwrap();
            assert_eq!((ino(&a), ino(&b)), (real_sub, real_sub), "{path}");
        }
        // The host's "outside/sub" is not reachable: /tmp/... does not exist inside the root.
        let comps = clean(b"host/sub");
        assert!(open_dir(rootfd.as_fd(), &comps).is_err());
        assert!(open_dir_manual(rootfd.as_fd(), &comps).is_err());
        assert_eq!(
            open_dir_manual(rootfd.as_fd(), &clean(b"loop")).unwrap_err(),
            Errno::LOOP
        );
    }
}
