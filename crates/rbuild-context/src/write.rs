//! Writing selected entries into a step's upper dir, with BuildKit's ownership and mode rules.
//!
//! A COPY of a tree writes thousands of files into a few directories, so what an item needs to
//! know about its destination is remembered across the items of one step: how its parent
//! resolves through the image's symlinks ([`DestCache`]) and what the step already made in
//! the upper dir ([`UpperState`]). A regular file then costs its own copy and nothing more.

use std::fs::{self, Metadata};
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{utimensat, AtFlags, CWD};

use super::chmod::Chmod;
use super::dest::DestCache;
use super::fcopy::{copy_file, copy_special, times};
use super::select::CopyItem;
use super::tree::{clean_components, Tree};
use super::upper::{Entry, Known, UpperState};

/// Ownership and mode overrides of a COPY.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    /// Owner for every copied entry (BuildKit: 0:0 unless `--chown`).
    pub owner: (u32, u32),
    /// `--chmod` for every copied entry.
    pub mode: Option<Chmod>,
    /// Copied entries keep their source's owner instead of `owner`: BuildKit's COPY from a
    /// stage or an image without `--chown` (the context's files arrive as root's).
    pub keep_source_owner: bool,
}

/// The mode of a directory a COPY creates that the image does not have, without `--chmod`.
const DEFAULT_DIR_MODE: u32 = 0o755;

impl Attrs {
    /// The mode of the directories the step creates that the image does not have: BuildKit
    /// (fsutil's `MkdirAll`) gives them an octal `--chmod`'s permission bits (setuid, setgid
    /// and sticky dropped), and 0755 without one or with a symbolic one.
    pub fn new_dir_mode(&self) -> u32 {
        match &self.mode {
            Some(Chmod::Octal(m)) => m & 0o777,
            _ => DEFAULT_DIR_MODE,
        }
    }
}

/// Copies `items` into `upper`; parents missing from `upper` take their metadata from `lower`.
pub fn write_items(
    items: &[CopyItem],
    upper: &Path,
    lower: &Tree,
    attrs: &Attrs,
) -> std::io::Result<()> {
    // A step's upper dir starts empty: then nothing in it needs an lstat.
    let fresh = fs::read_dir(upper).is_ok_and(|mut d| d.next().is_none());
    let mut w = Writer::new(upper, lower, fresh, attrs.owner, attrs.new_dir_mode());
    let mut dirs = Vec::new();
    for item in items {
        if item.top && item.source.meta.is_dir() {
            // A directory source: its destination is made (contents follow as items) and,
            // as BuildKit restores it, takes the source's mtime.
            let rel = w.dest_dir(&item.dest);
            w.make_parents(&rel)?;
            if !rel.is_empty() {
                dirs.push((upper.join(&rel), item.source.meta.clone()));
            }
            continue;
        }
        let (rel, parent_in_image) = w.dest_in(&item.dest);
        w.make_parents(parent_of(&rel))?;
        if parent_in_image {
            w.refuse_type_change(&rel, item.source.meta.is_dir())?;
        }
        w.copy_one(item, &rel, attrs)?;
        if item.source.meta.is_dir() {
            dirs.push((upper.join(&rel), item.source.meta.clone()));
        }
    }
    // Directory mtimes last: writing children changes them.
    for (dir, meta) in dirs.iter().rev() {
        set_mtime(dir, meta)?;
    }
    Ok(())
}

/// Creates `rel` and its parents in `upper` (image path resolved through `lower`'s symlinks);
/// new directories take their metadata from `lower` where it has them, else mode 0755 and
/// `owner` (the `--chown` owner, or root): BuildKit's unpacking of an ADD archive makes its
/// destination so, whatever `--chmod` says. Returns the path.
pub fn make_dirs(
    upper: &Path,
    rel: &str,
    lower: &Tree,
    owner: (u32, u32),
) -> std::io::Result<PathBuf> {
    let mut w = Writer::new(upper, lower, false, owner, DEFAULT_DIR_MODE);
    let rel = w.dest(rel);
    w.make_parents(&rel)?;
    Ok(upper.join(rel))
}

fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

/// One step's writes into its upper dir.
struct Writer<'a> {
    upper: &'a Path,
    lower: &'a Tree,
    dests: DestCache,
    state: UpperState,
    /// Owner of directories the step creates that the image does not have: BuildKit gives
    /// them the `--chown` owner (root without it); existing ones keep theirs.
    new_dir_owner: (u32, u32),
    /// Their mode (see [`Attrs::new_dir_mode`]).
    new_dir_mode: u32,
}

impl<'a> Writer<'a> {
    fn new(
        upper: &'a Path,
        lower: &'a Tree,
        fresh: bool,
        new_dir_owner: (u32, u32),
        new_dir_mode: u32,
    ) -> Self {
        Writer {
            upper,
            lower,
            dests: DestCache::new(),
            state: UpperState::new(fresh),
            new_dir_owner,
            new_dir_mode,
        }
    }

    /// Follows symlinks of existing parents in the image, as BuildKit resolves the destination.
    fn dest(&mut self, dest: &str) -> String {
        let lower = self.lower;
        self.dests.resolve(dest, &mut |rel| image_dir(lower, rel))
    }

    /// [`dest`](Self::dest), and whether its parent is a directory of the image.
    fn dest_in(&mut self, dest: &str) -> (String, bool) {
        let lower = self.lower;
        self.dests
            .resolve_in(dest, &mut |rel| image_dir(lower, rel))
    }

    /// BuildKit copies a directory into one only, and a file never replaces a directory:
    /// a symlink or file of the image where a directory goes (`/lib -> usr/lib` under
    /// `COPY rootfs/ /`) fails the copy rather than be replaced ("cannot copy to
    /// non-directory"), and so does a directory of the image where anything else goes
    /// ("cannot replace to directory ... with file"), unless this step already replaced it.
    fn refuse_type_change(&mut self, rel: &str, is_dir: bool) -> std::io::Result<()> {
        if self.entry(rel).is_some() {
            return Ok(());
        }
        match self.lower.resolve(rel, false) {
            Some(f) if is_dir && !f.meta.is_dir() => Err(not_a_dir(rel)),
            Some(f) if !is_dir && f.meta.is_dir() => Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                format!("cannot replace to directory /{rel} with file"),
            )),
            _ => Ok(()),
        }
    }

    /// [`dest`](Self::dest) with the last component followed too.
    fn dest_dir(&mut self, dest: &str) -> String {
        let lower = self.lower;
        self.dests
            .resolve_dir(dest, &mut |rel| image_dir(lower, rel))
    }

    /// What is at `rel` in the upper dir, from memory when the step knows, else from disk.
    fn entry(&mut self, rel: &str) -> Option<Entry> {
        match self.state.get(rel) {
            Known::Present(e) => Some(e),
            Known::Absent => None,
            Known::Unknown => {
                let meta = fs::symlink_metadata(self.upper.join(rel)).ok()?;
                let e = if meta.is_dir() {
                    Entry::Dir
                } else {
                    Entry::Other
                };
                self.state.set(rel, e);
                Some(e)
            }
        }
    }

    fn make_parents(&mut self, parent: &str) -> std::io::Result<()> {
        // Anything the step made or saw as a directory has all its parents.
        if matches!(self.state.get(parent), Known::Present(e) if e.is_dir()) {
            return Ok(());
        }
        let mut rel = String::new();
        for c in clean_components(parent) {
            rel = if rel.is_empty() {
                c
            } else {
                format!("{rel}/{c}")
            };
            if self.entry(&rel).is_some() {
                continue;
            }
            // BuildKit's MkdirAll fails on a file (or a link it could not follow) where a
            // directory is needed; it is not replaced.
            let below = self.lower.resolve(&rel, false);
            if below.as_ref().is_some_and(|f| !f.meta.is_dir()) {
                return Err(not_a_dir(&rel));
            }
            let path = self.upper.join(&rel);
            fs::create_dir(&path)?;
            self.state.set(&rel, Entry::NewDir);
            match below {
                Some(found) => {
                    let meta = &found.meta;
                    apply_meta(&path, meta.mode() & 0o7777, (meta.uid(), meta.gid()))?;
                    set_mtime(&path, meta)?;
                }
                None => apply_meta(&path, self.new_dir_mode, self.new_dir_owner)?,
            }
        }
        Ok(())
    }

    fn copy_one(&mut self, item: &CopyItem, rel: &str, attrs: &Attrs) -> std::io::Result<()> {
        let meta = &item.source.meta;
        let ft = meta.file_type();
        let target = self.upper.join(rel);
        let exists = match self.entry(rel) {
            Some(e) if e.is_dir() && ft.is_dir() => true,
            Some(e) => {
                remove(&target, e)?;
                self.state.removed(rel);
                false
            }
            None => false,
        };
        let mode = match &attrs.mode {
            Some(c) => c.apply(meta.mode() & 0o7777, ft.is_dir()),
            None => meta.mode() & 0o7777,
        };
        let owner = if attrs.keep_source_owner {
            (meta.uid(), meta.gid())
        } else {
            attrs.owner
        };
        if ft.is_dir() {
            if !exists {
                fs::create_dir(&target)?;
                self.state.set(rel, Entry::NewDir);
            }
            return apply_meta(&target, mode, owner);
        }
        if ft.is_symlink() {
            symlink(fs::read_link(&item.source.real)?, &target)?;
            lchown(&target, Some(owner.0), Some(owner.1))?;
            set_mtime(&target, meta)?;
        } else if ft.is_file() {
            copy_file(&item.source.real, &target, meta, mode, owner)?;
        } else {
            copy_special(&target, meta, mode, owner)?;
        }
        self.state.set(rel, Entry::Other);
        Ok(())
    }
}

/// Where the image path `rel` leads (symlinks followed, dangling ones too, never out of the
/// image) and whether that is a directory of the image.
fn image_dir(lower: &Tree, rel: &str) -> Option<(String, bool)> {
    let to = lower.root_path(rel)?;
    let is_dir = lower.resolve(&to, false).is_some_and(|f| f.meta.is_dir());
    Some((to, is_dir))
}

fn not_a_dir(rel: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotADirectory,
        format!("cannot copy to non-directory: /{rel}"),
    )
}

fn remove(path: &Path, entry: Entry) -> std::io::Result<()> {
    if entry.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn apply_meta(path: &Path, mode: u32, owner: (u32, u32)) -> std::io::Result<()> {
    lchown(path, Some(owner.0), Some(owner.1))?;
    // chown clears setuid bits, so the mode goes on after it.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn set_mtime(path: &Path, meta: &Metadata) -> std::io::Result<()> {
    utimensat(CWD, path, &times(meta), AtFlags::SYMLINK_NOFOLLOW).map_err(std::io::Error::from)
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
