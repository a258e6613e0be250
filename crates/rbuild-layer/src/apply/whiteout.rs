//! Whiteouts and opaque directories: kept in overlay format for snapshots, or applied
//! (deleting what they hide) for ADD of an archive and flattened root filesystems.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, Mode, OFlags};

use super::safe_path::{self, join};
use super::{create, to_io, Applier, WhiteoutMode};
use crate::writer::OPAQUE_MARKER;

impl Applier<'_> {
    /// Handles the entry `.wh.<wh>` in `parent`: an opaque marker, aufs bookkeeping, or a
    /// whiteout of `wh`.
    pub(super) fn whiteout(&mut self, parent: &[Vec<u8>], wh: &[u8]) -> io::Result<()> {
        if wh == &OPAQUE_MARKER.as_bytes()[4..] {
            return self.opaque(parent);
        }
        if wh.starts_with(b".wh.") || wh.is_empty() {
            return Ok(()); // aufs bookkeeping (.wh..wh.plnk etc.): nothing to apply
        }
        match self.mode {
            WhiteoutMode::Overlay => {
                let pfd = self.dir_at(parent, true)?;
                create::whiteout(pfd.as_fd(), wh).map_err(|e| whiteout_error(e, wh))
            }
            WhiteoutMode::Apply => {
                let mut path = parent.to_vec();
                path.push(wh.to_vec());
                if self.written.contains(&join(&path)) {
                    return Ok(());
                }
                match self.dir_at(parent, false) {
                    Ok(pfd) => safe_path::remove_all_at(pfd.as_fd(), wh),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Marks `dir` opaque (overlay) or empties it of what earlier layers put there (apply).
    fn opaque(&mut self, dir: &[Vec<u8>]) -> io::Result<()> {
        let fd = self.dir_at(dir, true)?;
        match self.mode {
            WhiteoutMode::Overlay => create::opaque(&self.priv_, fd.as_fd()),
            WhiteoutMode::Apply => {
                let prefix = join(dir);
                let written = &self.written;
                let keep = |name: &[u8]| {
                    let mut p = prefix.clone();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(name);
                    written.contains(&p)
                };
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
                let rd = rfs::openat(&fd, c".", flags, Mode::empty()).map_err(to_io)?;
                safe_path::clear_dir(rd.as_fd(), &keep)
            }
        }
    }
}

/// Names the missing capability when creating a whiteout device is refused.
fn whiteout_error(e: io::Error, name: &[u8]) -> io::Error {
    if e.raw_os_error() == Some(libc::EPERM) {
        let name = String::from_utf8_lossy(name);
        return io::Error::new(
            e.kind(),
            format!("creating whiteout device for {name:?} needs CAP_MKNOD (run as root): {e}"),
        );
    }
    e
}
