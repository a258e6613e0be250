//! Builds the rootfs: overlay, pivot_root, then the mount plan, recording mountpoint stubs.

use crate::error::SetupError;
use crate::plan::{Kind, Step, Stub, StubKind, MS_NODEV, MS_NOSUID, MS_RDONLY};
use crate::spec::InitRequest;
use crate::sys::{FileType, OverlayDirs, Sys};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// A setup step's result.
pub type SetupResult<T> = Result<T, SetupError>;

fn ctx<T>(r: std::io::Result<T>, what: &str, path: &Path) -> SetupResult<T> {
    r.map_err(|e| SetupError::path(what, path, e))
}

/// What was opened before pivot_root, as handles for [`Sys::attach_tree`].
#[derive(Debug, Default)]
pub struct Opened {
    /// Cloned bind sources, by host path.
    pub binds: HashMap<PathBuf, usize>,
    /// Early filesystems, by target.
    pub early: HashMap<String, usize>,
}

/// Mounts the overlay at `req.root_dir` and pivots into it; returns handles of what the steps
/// need from before pivot_root (bind sources, early filesystems).
pub fn enter<S: Sys>(sys: &mut S, req: &InitRequest, steps: &[Step]) -> SetupResult<Opened> {
    let root = Path::new("/");
    let flags = libc::MS_REC | libc::MS_PRIVATE;
    ctx(sys.mount("", root, "", flags, ""), "make private", root)?;
    let lowers = if req.spec.lowers.is_empty() {
        vec![req.empty_lower.clone()]
    } else {
        req.spec.lowers.clone()
    };
    let dirs = OverlayDirs {
        lowers: &lowers,
        upper: &req.spec.upper,
        work: &req.spec.work,
        links: &req.links_dir,
        rootless: req.rootless,
    };
    if let Some(merged) = &req.rootfs_copy {
        let bind = libc::MS_BIND | libc::MS_REC;
        let src = merged.to_string_lossy();
        let r = sys.mount(&src, &req.root_dir, "", bind, "");
        ctx(r, "bind the copied rootfs at", &req.root_dir)?;
    } else {
        let r = sys.mount_overlay(&req.root_dir, &dirs);
        ctx(
            r,
            &format!("mount overlay ({} lowers) at", lowers.len()),
            &req.root_dir,
        )?;
    }
    let mut opened = Opened::default();
    for s in crate::plan::bind_sources(steps) {
        let handle = ctx(sys.clone_tree(&s), "clone bind source", &s)?;
        opened.binds.insert(s, handle);
    }
    for step in steps {
        if let Step::Early {
            fstype,
            target,
            flags,
        } = step
        {
            let what = format!("make {fstype} for");
            let handle = ctx(sys.new_fs(fstype, *flags), &what, Path::new(target))?;
            opened.early.insert(target.clone(), handle);
        }
    }
    ctx(
        sys.pivot_root(&req.root_dir),
        "pivot_root into",
        &req.root_dir,
    )?;
    Ok(opened)
}

/// Runs the post-pivot steps; every mountpoint created on the way is appended to `stubs`.
pub fn apply<S: Sys>(
    sys: &mut S,
    steps: &[Step],
    sources: &Opened,
    stubs: &mut Vec<Stub>,
) -> SetupResult<()> {
    for step in steps {
        apply_one(sys, step, sources, stubs)?;
    }
    Ok(())
}

fn apply_one<S: Sys>(
    sys: &mut S,
    step: &Step,
    sources: &Opened,
    stubs: &mut Vec<Stub>,
) -> SetupResult<()> {
    match step {
        Step::Mount {
            fstype,
            target,
            flags,
            data,
            kind,
        } => {
            let t = ensure_mountpoint(sys, target, *kind, stubs)?;
            ctx(
                sys.mount(fstype, &t, fstype, *flags, data),
                &format!("mount {fstype} on"),
                &t,
            )
        }
        Step::Early { fstype, target, .. } => {
            let t = ensure_mountpoint(sys, target, Kind::Dir, stubs)?;
            let handle = *sources
                .early
                .get(target)
                .ok_or_else(|| SetupError::NotOpened(PathBuf::from(target)))?;
            ctx(
                sys.attach_tree(handle, &t),
                &format!("attach {fstype} on"),
                &t,
            )
        }
        Step::Bind { .. } => apply_bind(sys, step, sources, stubs),
        Step::Mknod { path, major, minor } => ctx(
            sys.mknod_char(Path::new(path), *major, *minor),
            "mknod",
            Path::new(path),
        ),
        Step::Symlink { target, link } => ctx(
            sys.symlink(target, Path::new(link)),
            "symlink",
            Path::new(link),
        ),
        Step::Mask { path } => mask(sys, Path::new(path)),
        Step::ReadOnly { path } => read_only(sys, path),
    }
}

/// Makes `path` read-only by binding it onto itself, if it exists.
fn read_only<S: Sys>(sys: &mut S, path: &str) -> SetupResult<()> {
    let p = Path::new(path);
    match ctx(sys.lstat(p), "stat", p)? {
        None => Ok(()),
        Some(_) => bind(sys, path, p, true),
    }
}

fn apply_bind<S: Sys>(
    sys: &mut S,
    step: &Step,
    sources: &Opened,
    stubs: &mut Vec<Stub>,
) -> SetupResult<()> {
    let Step::Bind {
        source,
        target,
        readonly,
        kind,
    } = step
    else {
        return Ok(());
    };
    let handle = *sources
        .binds
        .get(source)
        .ok_or_else(|| SetupError::NotOpened(source.clone()))?;
    let is_etc_file = target.starts_with("/etc/") && *kind == Kind::File && !*readonly;
    let t = match ensure_mountpoint(sys, target, *kind, stubs) {
        Ok(t) => t,
        // A dangling symlink at /etc/hosts or similar: leave the image's choice alone.
        Err(_)
            if is_etc_file
                && matches!(sys.lstat(Path::new(target)), Ok(Some(FileType::Symlink))) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    ctx(
        sys.attach_tree(handle, &t),
        &format!("bind {} on", source.display()),
        &t,
    )?;
    if *readonly {
        remount_ro(sys, &t)?;
    }
    Ok(())
}

fn bind<S: Sys>(sys: &mut S, source: &str, target: &Path, readonly: bool) -> SetupResult<()> {
    let flags = libc::MS_BIND | libc::MS_REC;
    ctx(
        sys.mount(source, target, "", flags, ""),
        &format!("bind {source} on"),
        target,
    )?;
    if readonly {
        remount_ro(sys, target)?;
    }
    Ok(())
}

/// Read-only, without setuid or device files, but executable: a step may run a script it
/// bind-mounts (`RUN --mount=type=bind,source=run.sh,target=/run.sh /run.sh`), as in
/// BuildKit, whose read-only binds are `rbind,ro`.
fn remount_ro<S: Sys>(sys: &mut S, target: &Path) -> SetupResult<()> {
    let ro = libc::MS_BIND | libc::MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;
    ctx(
        sys.mount("", target, "", ro, ""),
        "remount read-only",
        target,
    )
}

fn mask<S: Sys>(sys: &mut S, p: &Path) -> SetupResult<()> {
    // The plan masks before any mount of the step's, so /dev/null is the node made in the
    // fresh /dev; were it ever a symlink, binding it would expose its target instead.
    let null = Path::new("/dev/null");
    if matches!(
        ctx(sys.lstat(null), "stat", null)?,
        None | Some(FileType::Symlink)
    ) {
        let e = std::io::Error::other("/dev/null is not the node the sandbox made");
        return Err(SetupError::path("mask", p, e));
    }
    match ctx(sys.lstat(p), "stat", p)? {
        None => Ok(()),
        Some(FileType::Dir) => ctx(
            sys.mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0"),
            "mask",
            p,
        ),
        Some(_) => ctx(sys.mount("/dev/null", p, "", libc::MS_BIND, ""), "mask", p),
    }
}

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

#[cfg(test)]
mod tests;
