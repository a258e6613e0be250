//! Builds the rootfs: overlay, pivot_root, then the mount plan, recording mountpoint stubs.

use crate::error::SetupError;
use crate::plan::{Kind, Step, Stub, MS_NODEV, MS_NOSUID, MS_RDONLY};
use crate::spec::InitRequest;
use crate::sys::{FileType, OverlayDirs, Sys};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

mod mountpoint;

pub use mountpoint::ensure_mountpoint;

#[cfg(test)]
mod tests;
