//! Walking a mount for export without ever following a symlink: every directory is opened
//! relative to its parent's descriptor with `O_NOFOLLOW`, so a build that swaps a directory
//! for a link to a host path while the export runs (a `sharing=shared` user may) makes the
//! walk fail or skip, never read the host. Children are visited in byte order of their
//! names, depth first: a directory comes right before what it contains.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{fstat, openat, readlinkat, statat, AtFlags, Dir, FileType, Mode, OFlags, Stat};

use super::error::{At, CacheMountError};
use super::format::{Kind, RootMeta};

/// One entry found by the walk.
pub(crate) struct Node {
    /// Path relative to the mount's root.
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Its permission bits, owner and mtime (for a file, of the descriptor opened to read it).
    pub meta: RootMeta,
    /// A file's size when opened.
    pub size: u64,
    /// A file's device and inode when it has other names (hardlinks).
    pub inode: Option<(u64, u64)>,
    /// A regular file, opened for reading.
    pub file: Option<File>,
    /// A symlink's target.
    pub target: Option<String>,
}

/// A directory being read: its descriptor, path and the names left to visit (reversed).
struct Frame {
    fd: OwnedFd,
    prefix: String,
    names: Vec<String>,
}

/// The permission bits, owner and mtime of a status.
// The field types differ between architectures: the casts are no-ops only on some.
#[allow(clippy::unnecessary_cast)]
fn meta_of(st: &Stat) -> RootMeta {
    RootMeta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: [st.st_mtime as i64, st.st_mtime_nsec as i64],
    }
}

/// Size, and device and inode if the file has several names.
#[allow(clippy::unnecessary_cast)]
fn size_and_inode(st: &Stat) -> (u64, Option<(u64, u64)>) {
    let inode = (st.st_nlink as u64 > 1).then_some((st.st_dev as u64, st.st_ino as u64));
    (st.st_size as u64, inode)
}

/// Visits every entry under `root`; returns the root's metadata and how many entries were
/// skipped (sockets and devices, which a cache has no use for).
pub(crate) fn walk(
    root: &Path,
    visit: &mut dyn FnMut(Node) -> Result<(), CacheMountError>,
) -> Result<(RootMeta, u64), CacheMountError> {
    let fd = openat(rustix::fs::CWD, root, dir_flags(), Mode::empty()).at(root)?;
    let meta = meta_of(&fstat(&fd).at(root)?);
    let first = names(&fd, root)?;
    let mut stack = vec![Frame {
        fd,
        prefix: String::new(),
        names: first,
    }];
    let mut skipped = 0;
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.names.pop() else {
            stack.pop();
            continue;
        };
        let path = format!("{}{name}", top.prefix);
        let here = root.join(&path);
        let st = statat(&top.fd, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).at(&here)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = openat(&top.fd, name.as_str(), dir_flags(), Mode::empty()).at(&here)?;
                let children = names(&fd, &here)?;
                let prefix = format!("{path}/");
                visit(node(path, Kind::Dir, st))?;
                stack.push(Frame {
                    fd,
                    prefix,
                    names: children,
                });
            }
            FileType::RegularFile => visit(open_file(&top.fd, &name, path, &here)?)?,
            FileType::Symlink => {
                let target = readlinkat(&top.fd, name.as_str(), Vec::new()).at(&here)?;
                let target = target
                    .into_string()
                    .map_err(|_| CacheMountError::NotUtf8 { path: here })?;
                let mut n = node(path, Kind::Symlink, st);
                n.target = Some(target);
                visit(n)?;
            }
            FileType::Fifo => visit(node(path, Kind::Fifo, st))?,
            _ => skipped += 1,
        }
    }
    Ok((meta, skipped))
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn node(path: String, kind: Kind, stat: Stat) -> Node {
    Node {
        path,
        kind,
        meta: meta_of(&stat),
        size: 0,
        inode: None,
        file: None,
        target: None,
    }
}

/// Opens a regular file without following links or blocking (it may have become a FIFO).
fn open_file(
    dir: &OwnedFd,
    name: &str,
    path: String,
    here: &Path,
) -> Result<Node, CacheMountError> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty()).at(here)?;
    let st = fstat(&fd).at(here)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        let why = std::io::Error::other("it stopped being a regular file during the export");
        return Err(why).at(here);
    }
    let mut n = node(path, Kind::File, st);
    (n.size, n.inode) = size_and_inode(&st);
    n.file = Some(File::from(fd));
    Ok(n)
}

/// The names in a directory, sorted so the last is visited first (`pop`).
fn names(fd: &OwnedFd, path: &Path) -> Result<Vec<String>, CacheMountError> {
    let mut out = Vec::new();
    for entry in Dir::read_from(fd).at(path)? {
        let entry = entry.at(path)?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = String::from_utf8(name.to_vec()).map_err(|e| CacheMountError::NotUtf8 {
            path: path.join(String::from_utf8_lossy(e.as_bytes()).as_ref()),
        })?;
        out.push(name);
    }
    out.sort_unstable_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    Ok(out)
}
