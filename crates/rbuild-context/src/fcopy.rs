//! Copying one regular file into a step's upper dir with few system calls.
//!
//! `std::fs::copy` stats both files, sets a mode we then replace, and the metadata that
//! follows went by path (a lookup each). Here the data moves with `copy_file_range` and the
//! owner, mode and times are set on the open descriptor: two opens, two copy calls, three
//! metadata calls and two closes for a small file.

use std::fs::{File, Metadata, Permissions};
use std::io;
use std::os::unix::fs::{fchown, lchown, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{
    futimens, mknodat, utimensat, AtFlags, FileType, Mode, Timespec, Timestamps, CWD,
};
use rustix::io::Errno;

/// The most one `copy_file_range` call is asked to move (as std does).
const CHUNK: usize = 1 << 30;

/// Creates `target` (which must not exist) as a copy of the regular file `source`, owned by
/// `owner`, with permission bits `mode` and the times of `meta` (the source's lstat).
pub fn copy_file(
    source: &Path,
    target: &Path,
    meta: &Metadata,
    mode: u32,
    owner: (u32, u32),
) -> io::Result<()> {
    // O_NOFOLLOW: the source was listed as a regular file and the target as absent; a symlink
    // appearing at either since is not to be written through.
    let from = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(source)?;
    let to = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(target)?;
    copy_data(&from, &to, meta.len())?;
    fchown(&to, Some(owner.0), Some(owner.1))?;
    // chown clears setuid bits, so the mode goes on after it.
    to.set_permissions(Permissions::from_mode(mode))?;
    futimens(&to, &times(meta))?;
    Ok(())
}

/// Creates `target` (which must not exist) as a copy of the special file described by `meta`:
/// FIFOs and device nodes are made anew (a device with the source's numbers), a socket becomes
/// an empty regular file, as BuildKit makes of one (its context transfer clears the socket
/// bit and sends no data; its copier strips the socket type before `mknod`). Owner, mode
/// and times as [`copy_file`].
pub fn copy_special(
    target: &Path,
    meta: &Metadata,
    mode: u32,
    owner: (u32, u32),
) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let ft = meta.file_type();
    let node = if ft.is_fifo() {
        Some((FileType::Fifo, 0))
    } else if ft.is_char_device() {
        Some((FileType::CharacterDevice, meta.rdev()))
    } else if ft.is_block_device() {
        Some((FileType::BlockDevice, meta.rdev()))
    } else {
        None
    };
    let Some((kind, dev)) = node else {
        let f = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target)?;
        fchown(&f, Some(owner.0), Some(owner.1))?;
        f.set_permissions(Permissions::from_mode(mode))?;
        return Ok(futimens(&f, &times(meta))?);
    };
    mknodat(CWD, target, kind, Mode::from_raw_mode(0o600), dev)?;
    lchown(target, Some(owner.0), Some(owner.1))?;
    // Not through a descriptor: opening a FIFO blocks. chown clears setuid bits: mode last.
    std::fs::set_permissions(target, Permissions::from_mode(mode))?;
    Ok(utimensat(
        CWD,
        target,
        &times(meta),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Moves the data in the kernel, falling back to read/write where it cannot.
fn copy_data(from: &File, to: &File, expected: u64) -> io::Result<()> {
    let mut copied = 0u64;
    loop {
        match rustix::fs::copy_file_range(from, None, to, None, CHUNK) {
            // Some filesystems (procfs-like) report 0 for a file that has data.
            Ok(0) if copied == 0 && expected > 0 => return generic_copy(from, to),
            Ok(0) => return Ok(()),
            Ok(n) => copied += n as u64,
            Err(e) if unsupported(e) => return generic_copy(from, to),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why `copy_file_range` may refuse a pair of files that an ordinary copy handles
/// (old kernels, crossing filesystems, special files).
fn unsupported(e: Errno) -> bool {
    [
        Errno::XDEV,
        Errno::INVAL,
        Errno::NOSYS,
        Errno::OPNOTSUPP,
        Errno::PERM,
        Errno::BADF,
    ]
    .contains(&e)
}

/// Continues from both descriptors' current offsets.
fn generic_copy(mut from: &File, mut to: &File) -> io::Result<()> {
    io::copy(&mut from, &mut to).map(|_| ())
}

/// Access and modification times both set to the source's modification time, as BuildKit.
pub fn times(meta: &Metadata) -> Timestamps {
    let t = Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec() as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_data_mode_and_times() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        std::fs::write(&src, &data).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::new(1_000_000, 5);
        File::options()
            .write(true)
            .open(&src)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let meta = std::fs::symlink_metadata(&src).unwrap();
        let dst = t.path().join("dst");
        let me = (meta.uid(), meta.gid());
        copy_file(&src, &dst, &meta, 0o640, me).unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), data);
        let got = std::fs::symlink_metadata(&dst).unwrap();
        assert_eq!(got.mode() & 0o7777, 0o640);
        assert_eq!((got.mtime(), got.mtime_nsec()), (1_000_000, 5));
        // The target must not exist: nothing is overwritten or written through.
        assert!(copy_file(&src, &dst, &meta, 0o640, me).is_err());
    }
}
