//! Mountpoints: a target made to exist inside the rootfs, each thing created for it recorded
//! as a stub so that cleanup can take it out of the layer.

use super::{ctx, SetupResult};
use crate::error::SetupError;
use crate::plan::{Kind, Stub, StubKind};
use crate::sys::{FileType, Sys};
use std::path::{Component, Path, PathBuf};

/// Makes sure `target` exists (creating it and missing parents, recorded as stubs) and returns
/// its canonical path inside the rootfs.
pub fn ensure_mountpoint<S: Sys>(
    sys: &mut S,
    target: &str,
    kind: Kind,
    stubs: &mut Vec<Stub>,
) -> SetupResult<PathBuf> {
    let t = Path::new(target);
    if !t.is_absolute() || t.components().any(|c| c == Component::ParentDir) {
        return Err(SetupError::BadTarget(target.to_string()));
    }
    if ctx(sys.stat(t), "stat", t)?.is_some() {
        return ctx(sys.canonicalize(t), "resolve", t);
    }
    // Walk down to the deepest existing ancestor, then create the rest under its real path.
    let comps: Vec<&std::ffi::OsStr> = t.components().skip(1).map(|c| c.as_os_str()).collect();
    let mut existing = PathBuf::from("/");
    let mut i = 0;
    while i < comps.len() && ctx(sys.stat(&existing.join(comps[i])), "stat", t)?.is_some() {
        existing.push(comps[i]);
        i += 1;
    }
    if i < comps.len() && ctx(sys.lstat(&existing.join(comps[i])), "lstat", t)?.is_some() {
        return Err(SetupError::DanglingSymlink {
            target: target.to_string(),
            at: existing.join(comps[i]),
        });
    }
    let cur = ctx(sys.canonicalize(&existing), "resolve", &existing)?;
    record_copied_up(&cur, stubs);
    create_below(sys, cur, &comps[i..], kind, stubs)
}

/// Creates `missing` below the existing directory `cur`, the last one as `kind`, recording stubs.
fn create_below<S: Sys>(
    sys: &mut S,
    mut cur: PathBuf,
    missing: &[&std::ffi::OsStr],
    kind: Kind,
    stubs: &mut Vec<Stub>,
) -> SetupResult<PathBuf> {
    for (n, c) in missing.iter().enumerate() {
        cur.push(c);
        let file = n + 1 == missing.len() && kind == Kind::File;
        let made = if file {
            sys.create_file(&cur)
        } else {
            sys.mkdir(&cur)
        };
        if !made_or_raced(sys, &cur, file, made)? {
            continue;
        }
        stubs.push(Stub {
            path: cur.to_string_lossy().into_owned(),
            kind: if file { StubKind::File } else { StubKind::Dir },
        });
    }
    Ok(cur)
}

/// Whether `made` created `path` (true), or another sandbox did just before: a cache mount is
/// shared by steps running at once, and two of them mounting below it (`/foo/bar` and
/// `/foo/bar/baz`) both create `baz` in it. What the other made is used if it is the kind
/// wanted (not a symlink), and is not ours to remove afterwards (false).
fn made_or_raced<S: Sys>(
    sys: &mut S,
    path: &Path,
    file: bool,
    made: std::io::Result<()>,
) -> SetupResult<bool> {
    let e = match made {
        Ok(()) => return Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => e,
        Err(e) => return Err(SetupError::path("create mountpoint", path, e)),
    };
    let wanted = match ctx(sys.lstat(path), "stat", path)? {
        Some(FileType::Dir) => !file,
        Some(FileType::Symlink) | None => false,
        Some(_) => file,
    };
    if wanted {
        Ok(false)
    } else {
        Err(SetupError::path("create mountpoint", path, e))
    }
}

/// Ancestors that existed already are copied up by overlayfs when we create inside them.
fn record_copied_up(dir: &Path, stubs: &mut Vec<Stub>) {
    let ancestors: Vec<&Path> = dir.ancestors().filter(|a| *a != Path::new("/")).collect();
    // Shallow first, so cleanup (which walks the list backwards) sees children before parents.
    for a in ancestors.into_iter().rev() {
        let path = a.to_string_lossy().into_owned();
        if !stubs.iter().any(|s| s.path == path) {
            stubs.push(Stub {
                path,
                kind: StubKind::CopiedUp,
            });
        }
    }
}
