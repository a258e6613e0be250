//! Reading extended attributes without following symlinks, and the overlay xattr names.

use std::io;
use std::path::Path;

use rustix::io::Errno;

/// Opaque-directory markers (trusted: a root-mounted overlay; user: `userxattr` overlays).
pub(crate) const OPAQUE: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];
/// Overlay features whose upper dirs are not plain change sets.
pub(crate) const REFUSED: [&str; 4] = [
    "trusted.overlay.redirect",
    "user.overlay.redirect",
    "trusted.overlay.metacopy",
    "user.overlay.metacopy",
];
/// Xattr-based whiteouts (kernel ≥ 6.7, used for nested overlays).
pub(crate) const WHITEOUT: [&str; 2] = ["trusted.overlay.whiteout", "user.overlay.whiteout"];

/// Whether an xattr belongs in a layer: not overlay bookkeeping, not the host's SELinux label.
pub(crate) fn is_layer_xattr(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.")
        || name.starts_with(b"user.overlay.")
        || name == b"security.selinux")
}

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Whether the filesystem simply has no xattrs to offer (not an error for reading).
fn unsupported(e: Errno) -> bool {
    e == Errno::OPNOTSUPP || e == Errno::NOTSUP
}

/// Calls `op` with a buffer big enough for its result: first a small one (most files have
/// few or no xattrs: one syscall), then the size `query` reports, retrying if it grew.
fn sized(
    op: &mut dyn FnMut(&mut [u8]) -> Result<usize, Errno>,
    query: &mut dyn FnMut() -> Result<usize, Errno>,
) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; 256];
    loop {
        match op(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => buf.resize(query()?.max(buf.len() * 2), 0),
            Err(e) => return Err(e),
        }
    }
}

/// All xattr names of `path` (not following a final symlink), sorted.
pub(crate) fn list(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let buf = match sized(&mut |b| rustix::fs::llistxattr(path, b), &mut || {
        rustix::fs::llistxattr_query(path)
    }) {
        Ok(buf) => buf,
        Err(e) if unsupported(e) => return Ok(Vec::new()),
        Err(e) => return Err(errno(e)),
    };
    let mut names: Vec<Vec<u8>> = buf
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    names.sort();
    Ok(names)
}

/// The value of xattr `name` of `path`, or `None` if absent.
pub(crate) fn get(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    match sized(&mut |b| rustix::fs::lgetxattr(path, name, b), &mut || {
        rustix::fs::lgetxattr_query(path, name)
    }) {
        Ok(v) => Ok(Some(v)),
        Err(Errno::NODATA) => Ok(None),
        Err(e) if unsupported(e) => Ok(None),
        Err(e) => Err(errno(e)),
    }
}
