//! After the run: what changed in the merged tree, moved into the upper directory as overlayfs
//! would have written it.

use super::meta::{self, set_opaque};
use super::{Manifest, Stamp};
use crate::error::SandboxError;
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

struct Collector<'a> {
    merged: &'a Path,
    upper: &'a Path,
    before: &'a Manifest,
    /// Paths seen in directories that are still the ones stamped.
    seen: HashSet<PathBuf>,
    /// Directories still the ones stamped (their lower entries may need whiteouts).
    kept_dirs: HashSet<PathBuf>,
}

/// Moves new and changed entries of `merged` into `upper`, whiteouts for removed ones, opaque
/// markers on directories that replaced others; `merged` is left partly emptied.
pub fn collect(merged: &Path, before: &Manifest, upper: &Path) -> Result<(), SandboxError> {
    let mut c = Collector {
        merged,
        upper,
        before,
        seen: HashSet::new(),
        kept_dirs: HashSet::new(),
    };
    let root = std::fs::symlink_metadata(merged).map_err(SandboxError::io("stat", merged))?;
    if before
        .entries
        .get(Path::new(""))
        .is_some_and(|s| changed(s, &root))
    {
        meta::copy(merged, upper, &root)?;
    }
    c.kept_dirs.insert(PathBuf::new());
    c.walk(PathBuf::new())?;
    c.whiteouts()
}

fn changed(before: &Stamp, now: &std::fs::Metadata) -> bool {
    before.ctime != (now.ctime(), now.ctime_nsec())
}

impl Collector<'_> {
    fn walk(&mut self, rel: PathBuf) -> Result<(), SandboxError> {
        let dir = self.merged.join(&rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(SandboxError::io("read", &dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(SandboxError::io("read", &dir))?;
        names.sort();
        for name in names {
            let p = rel.join(&name);
            self.seen.insert(p.clone());
            let full = self.merged.join(&p);
            let m = std::fs::symlink_metadata(&full).map_err(SandboxError::io("stat", &full))?;
            match self.before.entries.get(&p) {
                // Same inode and kind: the entry stamped (an inode number reused by a new
                // directory counts as the old one, changed; its old entries get whiteouts).
                Some(old) if old.ino == m.ino() && old.dir && m.is_dir() => {
                    if changed(old, &m) {
                        self.upper_dir(&p)?;
                    }
                    self.kept_dirs.insert(p.clone());
                    self.walk(p)?;
                }
                Some(old) if old.ino == m.ino() && !old.dir && !m.is_dir() => {
                    if changed(old, &m) {
                        self.move_up(&p)?;
                    }
                }
                old => {
                    let replaced_dir = old.is_some_and(|o| o.dir);
                    self.move_up(&p)?;
                    if replaced_dir && m.is_dir() {
                        set_opaque(&self.upper.join(&p))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes `rel` and its parents directories of the upper, with the merged tree's metadata.
    fn upper_dir(&self, rel: &Path) -> Result<(), SandboxError> {
        let mut at = PathBuf::new();
        for part in rel.components() {
            at.push(part);
            let u = self.upper.join(&at);
            if std::fs::symlink_metadata(&u).is_err() {
                let src = self.merged.join(&at);
                let m = std::fs::symlink_metadata(&src).map_err(SandboxError::io("stat", &src))?;
                std::fs::create_dir(&u).map_err(SandboxError::io("create", &u))?;
                meta::copy(&src, &u, &m)?;
            }
        }
        Ok(())
    }

    /// Moves `rel` (with everything below it) from the merged tree into the upper.
    fn move_up(&self, rel: &Path) -> Result<(), SandboxError> {
        if let Some(parent) = rel.parent() {
            self.upper_dir(parent)?;
        }
        let (from, to) = (self.merged.join(rel), self.upper.join(rel));
        std::fs::rename(&from, &to).map_err(SandboxError::io("move into the upper", &to))
    }

    /// A whiteout for every stamped entry gone from a directory that is still the stamped one.
    fn whiteouts(&self) -> Result<(), SandboxError> {
        let mut gone: Vec<&PathBuf> = self
            .before
            .entries
            .keys()
            .filter(|p| !p.as_os_str().is_empty() && !self.seen.contains(*p))
            .filter(|p| p.parent().is_some_and(|d| self.kept_dirs.contains(d)))
            .collect();
        gone.sort();
        for p in gone {
            if let Some(parent) = p.parent() {
                self.upper_dir(parent)?;
            }
            let w = self.upper.join(p);
            let dev = rustix::fs::makedev(0, 0);
            let kind = rustix::fs::FileType::CharacterDevice;
            rustix::fs::mknodat(rustix::fs::CWD, &w, kind, rustix::fs::Mode::empty(), dev)
                .map_err(|e| {
                    SandboxError::io("whiteout", &w)(std::io::Error::from_raw_os_error(
                        e.raw_os_error(),
                    ))
                })?;
        }
        Ok(())
    }
}
