//! Writing selected entries into a step's upper dir, with BuildKit's ownership and mode rules.

use std::fs::{self, Metadata};
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};

use super::chmod::Chmod;
use super::select::CopyItem;
use super::tree::{clean_components, Tree};

/// Ownership and mode overrides of a COPY.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    /// Owner for every copied entry (BuildKit: 0:0 unless `--chown`).
    pub owner: (u32, u32),
    /// `--chmod` for every copied entry.
    pub mode: Option<Chmod>,
}

/// Copies `items` into `upper`; parents missing from `upper` take their metadata from `lower`.
pub fn write_items(
    items: &[CopyItem],
    upper: &Path,
    lower: &Tree,
    attrs: &Attrs,
) -> std::io::Result<()> {
    let mut dirs = Vec::new();
    for item in items {
        let rel = resolve_dest(lower, &item.dest);
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        make_parents(upper, parent, lower)?;
        let target = upper.join(&rel);
        copy_one(item, &target, attrs)?;
        if item.source.meta.is_dir() {
            dirs.push((target, item.source.meta.clone()));
        }
    }
    // Directory mtimes last: writing children changes them.
    for (dir, meta) in dirs.iter().rev() {
        set_mtime(dir, meta)?;
    }
    Ok(())
}

/// Follows symlinks of existing parents in the image, as BuildKit resolves the destination.
fn resolve_dest(lower: &Tree, dest: &str) -> String {
    let comps = clean_components(dest);
    let Some((last, parents)) = comps.split_last() else {
        return String::new();
    };
    let mut prefix = String::new();
    for c in parents {
        let candidate = if prefix.is_empty() {
            c.clone()
        } else {
            format!("{prefix}/{c}")
        };
        prefix = match lower.resolve(&candidate, true) {
            Some(found) if found.meta.is_dir() => found.rel,
            _ => candidate,
        };
    }
    if prefix.is_empty() {
        last.clone()
    } else {
        format!("{prefix}/{last}")
    }
}

/// Creates `rel` and its parents in `upper` (image path resolved through `lower`'s symlinks);
/// new directories take their metadata from `lower` where it has them. Returns the path.
pub fn make_dirs(upper: &Path, rel: &str, lower: &Tree) -> std::io::Result<std::path::PathBuf> {
    let rel = resolve_dest(lower, rel);
    make_parents(upper, &rel, lower)?;
    Ok(upper.join(rel))
}

fn make_parents(upper: &Path, parent: &str, lower: &Tree) -> std::io::Result<()> {
    let mut rel = String::new();
    for c in clean_components(parent) {
        rel = if rel.is_empty() {
            c
        } else {
            format!("{rel}/{c}")
        };
        let path = upper.join(&rel);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        fs::create_dir(&path)?;
        match lower.resolve(&rel, false).filter(|f| f.meta.is_dir()) {
            Some(found) => {
                apply_meta(
                    &path,
                    found.meta.mode() & 0o7777,
                    (found.meta.uid(), found.meta.gid()),
                )?;
                set_mtime(&path, &found.meta)?;
            }
            None => apply_meta(&path, 0o755, (0, 0))?,
        }
    }
    Ok(())
}

fn copy_one(item: &CopyItem, target: &Path, attrs: &Attrs) -> std::io::Result<()> {
    let meta = &item.source.meta;
    let ft = meta.file_type();
    if fs::symlink_metadata(target).is_ok_and(|m| !(m.is_dir() && ft.is_dir())) {
        remove(target)?;
    }
    let mode = match &attrs.mode {
        Some(c) => c.apply(meta.mode() & 0o7777, ft.is_dir()),
        None => meta.mode() & 0o7777,
    };
    if ft.is_dir() {
        if !target.exists() {
            fs::create_dir(target)?;
        }
        apply_meta(target, mode, attrs.owner)
    } else if ft.is_symlink() {
        symlink(fs::read_link(&item.source.real)?, target)?;
        lchown(target, Some(attrs.owner.0), Some(attrs.owner.1))?;
        set_mtime(target, meta)
    } else {
        fs::copy(&item.source.real, target)?;
        apply_meta(target, mode, attrs.owner)?;
        set_mtime(target, meta)
    }
}

fn remove(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

fn apply_meta(path: &Path, mode: u32, owner: (u32, u32)) -> std::io::Result<()> {
    lchown(path, Some(owner.0), Some(owner.1))?;
    // chown clears setuid bits, so the mode goes on after it.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn set_mtime(path: &Path, meta: &Metadata) -> std::io::Result<()> {
    let t = Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec() as _,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(std::io::Error::from)
}
