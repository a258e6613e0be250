//! The rootfs without overlayfs: for kernels that refuse overlay mounts in a user namespace
//! (before 5.11) or when asked (`RootfsMode::Copy`). The layers are copied into one merged
//! directory as overlayfs would show them ([`merge`]); after the run, what changed there is
//! moved into the upper directory in overlayfs's own format (whiteouts, opaque directories), so
//! the builder turns it into a layer exactly as it does an overlay's upper ([`collect`]).
//!
//! A change is told by inode and ctime: every write, chmod, chown, link or rename updates the
//! ctime of what it touches, and a replaced file is a new inode. The stamps are taken once the
//! copy is done and the clock has moved past them, so no change of the step can share one.

mod collect;
mod merge;
mod meta;

pub use collect::collect;
pub use merge::merge;

use crate::error::SandboxError;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What identifies an entry of the merged tree before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Inode number.
    pub ino: u64,
    /// Change time (seconds, nanoseconds).
    pub ctime: (i64, i64),
    /// A directory.
    pub dir: bool,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            ino: m.ino(),
            ctime: (m.ctime(), m.ctime_nsec()),
            dir: m.is_dir(),
        }
    }
}

/// Every entry of the merged tree, by path relative to it ("" is its root).
#[derive(Debug, Default)]
pub struct Manifest {
    /// The stamps.
    pub entries: HashMap<PathBuf, Stamp>,
}

/// Stamps every entry below `merged`, then waits until the clock has moved past the newest
/// ctime (file times are coarse: a change in the same tick as the copy would look unchanged).
pub fn record(merged: &Path, scratch: &Path) -> Result<Manifest, SandboxError> {
    let mut m = Manifest::default();
    stamp_tree(merged, PathBuf::new(), &mut m)?;
    let newest = m.entries.values().map(|s| s.ctime).max().unwrap_or((0, 0));
    wait_past(scratch, newest)?;
    Ok(m)
}

fn stamp_tree(root: &Path, rel: PathBuf, m: &mut Manifest) -> Result<(), SandboxError> {
    let path = root.join(&rel);
    let meta = std::fs::symlink_metadata(&path).map_err(SandboxError::io("stat", &path))?;
    m.entries.insert(rel.clone(), Stamp::of(&meta));
    if meta.is_dir() {
        for e in std::fs::read_dir(&path).map_err(SandboxError::io("read", &path))? {
            let e = e.map_err(SandboxError::io("read", &path))?;
            stamp_tree(root, rel.join(e.file_name()), m)?;
        }
    }
    Ok(())
}

/// Touches a probe file in `scratch` until its ctime is later than `newest` (a few ms at most).
fn wait_past(scratch: &Path, newest: (i64, i64)) -> Result<(), SandboxError> {
    let probe = scratch.join(".clock-probe");
    for _ in 0..1000 {
        std::fs::write(&probe, b"").map_err(SandboxError::io("write", &probe))?;
        let m = std::fs::metadata(&probe).map_err(SandboxError::io("stat", &probe))?;
        if (m.ctime(), m.ctime_nsec()) > newest {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::fs::remove_file(&probe).map_err(SandboxError::io("remove", &probe))
}

#[cfg(test)]
mod tests;
