//! The overlay rootfs mount: the new mount API (one `lowerdir+` per layer), else mount(2) with
//! short names relative to a links dir; and attaching detached mounts.

use super::{OverlayDirs, RealSys, Sys};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// The overlay mount through the new mount API: one `lowerdir+` per layer, no length limit.
pub fn new_api(target: &Path, dirs: &OverlayDirs) -> io::Result<()> {
    use rustix::mount::*;
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in dirs.lowers {
        fsconfig_set_string(fs.as_fd(), "lowerdir+", l.as_path())?;
    }
    fsconfig_set_string(fs.as_fd(), "upperdir", dirs.upper)?;
    fsconfig_set_string(fs.as_fd(), "workdir", dirs.work)?;
    for opt in crate::plan::overlay_options(dirs.rootless) {
        match opt.split_once('=') {
            Some((k, v)) => fsconfig_set_string(fs.as_fd(), k, v)?,
            None => fsconfig_set_flag(fs.as_fd(), *opt)?,
        }
    }
    fsconfig_create(fs.as_fd())?;
    let mnt = fsmount(
        fs.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?;
    attach_at(mnt.as_fd(), target)
}

/// A fresh detached filesystem without options (proc, sysfs), with MS_* `flags` as mount
/// attributes.
pub fn new_fs(fstype: &str, flags: u64) -> io::Result<std::os::fd::OwnedFd> {
    use rustix::mount::*;
    let fs = fsopen(fstype, FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(fs.as_fd())?;
    let attrs = [
        (libc::MS_RDONLY, MountAttrFlags::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MountAttrFlags::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MountAttrFlags::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MountAttrFlags::MOUNT_ATTR_NOEXEC),
    ]
    .into_iter()
    .filter(|(ms, _)| flags & ms != 0)
    .fold(MountAttrFlags::empty(), |a, (_, attr)| a | attr);
    Ok(fsmount(fs.as_fd(), FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
}

/// Attaches a detached mount (from fsmount or open_tree) at `target`.
pub fn attach_at(mnt: BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    let flags = MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH;
    move_mount(mnt, "", rustix::fs::CWD, target, flags)?;
    Ok(())
}

/// The legacy overlay mount with short relative names: symlinks in `links` to every layer.
pub fn legacy(sys: &mut RealSys, target: &Path, dirs: &OverlayDirs) -> io::Result<()> {
    let links = dirs.links;
    std::fs::create_dir_all(links)?;
    for (i, l) in dirs.lowers.iter().enumerate() {
        std::os::unix::fs::symlink(l, links.join(crate::plan::short_name(i)))?;
    }
    std::os::unix::fs::symlink(dirs.upper, links.join("U"))?;
    std::os::unix::fs::symlink(dirs.work, links.join("W"))?;
    let old = std::env::current_dir()?;
    std::env::set_current_dir(links)?;
    let options = crate::plan::legacy_overlay_options(dirs.lowers.len(), dirs.rootless);
    let r = sys.mount("overlay", target, "overlay", 0, &options);
    std::env::set_current_dir(old)?;
    r
}
