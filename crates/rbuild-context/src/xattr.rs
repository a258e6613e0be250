//! The one extended-attribute read the tree view needs.

use std::path::Path;

/// Reads an extended attribute without following symlinks; `None` if absent or unreadable.
pub fn get(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let len = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}
