//! Reading what a built image holds: modes, owners, file text, link targets.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The permission bits (with setuid/setgid/sticky) of `p` under `root`, not following a link.
pub fn mode(root: &Path, p: &str) -> u32 {
    std::fs::symlink_metadata(root.join(p)).unwrap().mode() & 0o7777
}

/// The (uid, gid) of `p` under `root`, not following a link.
pub fn owner(root: &Path, p: &str) -> (u32, u32) {
    let m = std::fs::symlink_metadata(root.join(p)).unwrap();
    (m.uid(), m.gid())
}

/// The text of the file `p` under `root`.
pub fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The target of the symlink `p` under `root`.
pub fn link(root: &Path, p: &str) -> String {
    let target = std::fs::read_link(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    target.to_string_lossy().into_owned()
}
