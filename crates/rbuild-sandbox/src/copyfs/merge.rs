//! The layers copied into one directory, bottom-most first, as overlayfs would show them.

use super::meta::{self, is_opaque, remove_any};
use crate::error::SandboxError;
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Hard links of one layer: (dev, ino) → the first copy made of it.
type Links = HashMap<(u64, u64), PathBuf>;

/// Copies `lowers` (top-most first, overlay's lowerdir order) into the empty `merged`.
pub fn merge(lowers: &[PathBuf], merged: &Path) -> Result<(), SandboxError> {
    for layer in lowers.iter().rev() {
        copy_children(layer, merged, &mut Links::new())?;
    }
    if let Some(top) = lowers.first() {
        let m = std::fs::symlink_metadata(top).map_err(SandboxError::io("stat", top))?;
        meta::copy(top, merged, &m)?;
    }
    Ok(())
}

fn copy_children(src: &Path, dst: &Path, links: &mut Links) -> Result<(), SandboxError> {
    for e in std::fs::read_dir(src).map_err(SandboxError::io("read", src))? {
        let e = e.map_err(SandboxError::io("read", src))?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = std::fs::symlink_metadata(&s).map_err(SandboxError::io("stat", &s))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            // A whiteout: the path is gone from here up.
            remove_any(&d)?;
        } else if ft.is_dir() {
            let keep = std::fs::symlink_metadata(&d).is_ok_and(|dm| dm.is_dir()) && !is_opaque(&s);
            if !keep {
                remove_any(&d)?;
                std::fs::create_dir(&d).map_err(SandboxError::io("create", &d))?;
            }
            copy_children(&s, &d, links)?;
            meta::copy(&s, &d, &m)?;
        } else {
            remove_any(&d)?;
            copy_node(&s, &d, &m, links)?;
        }
    }
    Ok(())
}

/// Copies a file, link or special file; hard links of the layer stay links of each other.
fn copy_node(
    s: &Path,
    d: &Path,
    m: &std::fs::Metadata,
    links: &mut Links,
) -> Result<(), SandboxError> {
    let ft = m.file_type();
    if m.nlink() > 1 && !ft.is_dir() {
        if let Some(first) = links.get(&(m.dev(), m.ino())) {
            return std::fs::hard_link(first, d).map_err(SandboxError::io("link", d));
        }
        links.insert((m.dev(), m.ino()), d.to_path_buf());
    }
    if ft.is_file() {
        std::fs::copy(s, d).map_err(SandboxError::io("copy", d))?;
    } else if ft.is_symlink() {
        let target = std::fs::read_link(s).map_err(SandboxError::io("read link", s))?;
        std::os::unix::fs::symlink(target, d).map_err(SandboxError::io("symlink", d))?;
    } else if ft.is_socket() {
        return Ok(());
    } else {
        let kind = rustix::fs::FileType::from_raw_mode(m.mode());
        let mode = rustix::fs::Mode::from_raw_mode(m.mode() & 0o777);
        let made = rustix::fs::mknodat(rustix::fs::CWD, d, kind, mode, m.rdev());
        match made {
            // A user namespace makes no devices, as when layers are unpacked there.
            Err(rustix::io::Errno::PERM) if !ft.is_fifo() => return Ok(()),
            r => r.map_err(|e| {
                SandboxError::io("mknod", d)(std::io::Error::from_raw_os_error(e.raw_os_error()))
            })?,
        }
    }
    meta::copy(s, d, m)
}
