//! `apply_layer`: unpack a (decompressed) layer tar into a directory, never outside it.
//!
//! Path policy (containerd's): entry names are cleaned with `..` clamped at the target root
//! and absolute names taken as relative to it; parent directories resolve with symlinks bound
//! to the root (`RESOLVE_IN_ROOT`). Hardlink targets must stay inside: a link name climbing
//! above the root with `..` is an error. Symlink targets are stored verbatim.

mod create;
mod meta;
pub(crate) mod safe_path;
mod underlay;
mod whiteout;

use std::collections::HashSet;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, OFlags};
use tar::EntryType;

use crate::error::LayerError;
use create::Privilege;
use meta::Attrs;
use safe_path::{clean, clean_strict, join};
pub use underlay::{Beneath, DirMeta, Underlay};

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Keep them in overlay format (0/0 char devices, opaque xattr): for snapshots used as
    /// overlay lowerdirs.
    #[default]
    Overlay,
    /// Delete the whited-out paths in the target: for ADD of an archive or a flattened rootfs.
    Apply,
}

/// How `apply_layer` unpacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Whiteout handling (default: overlay format).
    pub whiteouts: WhiteoutMode,
    /// Owner (uid, gid) given to every entry instead of the tar's: `ADD --chown` of an archive,
    /// which BuildKit applies to the extracted entries since v0.23.
    pub owner: Option<(u32, u32)>,
}

/// What `apply_layer` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Tar entries processed (whiteouts included).
    pub entries: u64,
    /// Regular-file content bytes written.
    pub bytes: u64,
}

const COPY_BUF: usize = 256 * 1024;

/// Unpacks a (decompressed) tar into `target` safely: never writes outside it (`../`, absolute
/// paths, symlinks in the path, hardlinks to outside are neutralised or refused), keeps
/// owners, modes (incl. setuid/setgid/sticky), xattrs (incl. security.capability), mtimes,
/// hardlinks, device nodes, long names (PAX/GNU).
pub fn apply_layer(
    tar: &mut dyn Read,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, LayerError> {
    apply(tar, target, opts, None)
}

/// [`apply_layer`] into a directory that is an upper layer over an image (ADD of an archive):
/// parents resolve through the image's symlinks and directories where the target has none,
/// never outside the target (see [`Underlay`]).
pub fn apply_layer_over(
    tar: &mut dyn Read,
    target: &Path,
    opts: &ApplyOptions,
    below: &dyn Underlay,
) -> Result<ApplyStats, LayerError> {
    apply(tar, target, opts, Some(below))
}

fn apply(
    tar: &mut dyn Read,
    target: &Path,
    opts: &ApplyOptions,
    below: Option<&dyn Underlay>,
) -> Result<ApplyStats, LayerError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rfs::open(target, flags, Mode::empty())
        .map_err(|e| LayerError::io("opening target", target, to_io(e)))?;
    let mut ap = Applier {
        root,
        below,
        mode: opts.whiteouts,
        owner: opts.owner,
        priv_: Privilege {
            is_root: crate::host_root(),
        },
        dir_times: Vec::new(),
        written: HashSet::new(),
        buf: vec![0; COPY_BUF],
        stats: ApplyStats::default(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(LayerError::Read)? {
        let mut entry = entry.map_err(LayerError::Read)?;
        ap.entry(&mut entry)?;
    }
    ap.finish()?;
    Ok(ap.stats)
}

fn to_io(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// The file type and (major, minor) of a device or FIFO entry.
fn node_of(h: &tar::Header) -> (FileType, (u32, u32)) {
    let ft = match h.entry_type() {
        EntryType::Char => FileType::CharacterDevice,
        EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    (ft, (major, minor))
}

fn shown(comps: &[Vec<u8>]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(&join(comps))).to_path_buf()
}

struct Applier<'a> {
    root: OwnedFd,
    /// The image beneath the target, when the target is an upper layer over it.
    below: Option<&'a dyn Underlay>,
    mode: WhiteoutMode,
    owner: Option<(u32, u32)>,
    priv_: Privilege,
    /// Directory mtimes, applied last (creating children changes them).
    dir_times: Vec<(Vec<Vec<u8>>, Attrs)>,
    /// Paths this layer wrote (Apply mode only): whiteouts and opaque dirs spare them.
    written: HashSet<Vec<u8>>,
    buf: Vec<u8>,
    stats: ApplyStats,
}

impl Applier<'_> {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let kind = e.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let comps = clean(&e.path_bytes());
        let attrs = self.attrs(e)?;
        self.stats.entries += 1;
        let err = |source: io::Error| LayerError::io("unpacking", shown(&comps), source);
        let Some((name, parent)) = comps.split_last() else {
            if kind == EntryType::Directory {
                create::root_dir(&self.priv_, self.root.as_fd(), &attrs).map_err(err)?;
                self.dir_times.push((Vec::new(), attrs));
            }
            return Ok(());
        };
        if let Some(wh) = name.strip_prefix(b".wh.") {
            return self.whiteout(parent, wh).map_err(err);
        }
        if !meta::supported(kind) {
            let why = format!("unsupported entry type {kind:?}");
            return Err(LayerError::bad(shown(&comps), why));
        }
        let pfd = self.dir_at(parent, true).map_err(err)?;
        self.create(e, &comps, pfd.as_fd(), attrs)?;
        if self.mode == WhiteoutMode::Apply {
            self.written.insert(join(&comps));
        }
        Ok(())
    }

    /// The entry's owner, mode, times and xattrs (PAX records included), with `--chown`'s
    /// owner if one is forced.
    fn attrs<R: Read>(&self, e: &mut tar::Entry<'_, R>) -> Result<Attrs, LayerError> {
        let pax: Vec<(Vec<u8>, Vec<u8>)> = match e.pax_extensions().map_err(LayerError::Read)? {
            Some(exts) => exts
                .filter_map(Result::ok)
                .map(|x| (x.key_bytes().to_vec(), x.value_bytes().to_vec()))
                .collect(),
            None => Vec::new(),
        };
        let mut attrs = meta::attrs(e.header(), &pax);
        if let Some((uid, gid)) = self.owner {
            attrs.uid = uid;
            attrs.gid = gid;
        }
        Ok(attrs)
    }

    /// Creates the entry `comps` (its last component in `dir`) as its type says.
    fn create<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        comps: &[Vec<u8>],
        dir: std::os::fd::BorrowedFd<'_>,
        attrs: Attrs,
    ) -> Result<(), LayerError> {
        let err = |source: io::Error| LayerError::io("unpacking", shown(comps), source);
        let (kind, p) = (e.header().entry_type(), &self.priv_);
        let Some(name) = comps.last() else {
            return Ok(());
        };
        match kind {
            EntryType::Directory => {
                create::dir(p, dir, name, &attrs).map_err(err)?;
                self.dir_times.push((comps.to_vec(), attrs));
            }
            EntryType::Symlink => {
                let target = e.link_name_bytes().unwrap_or_default().into_owned();
                create::symlink(p, dir, name, &target, &attrs).map_err(err)?;
            }
            EntryType::Link => self.hardlink(e, comps, dir)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (ft, dev) = node_of(e.header());
                create::node(p, dir, name, ft, dev, &attrs).map_err(err)?;
            }
            _ => {
                let n = create::file(p, dir, name, &attrs, e, &mut self.buf).map_err(err)?;
                self.stats.bytes += n;
            }
        }
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        e: &tar::Entry<'_, R>,
        comps: &[Vec<u8>],
        dir: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), LayerError> {
        let link = e.link_name_bytes().unwrap_or_default().into_owned();
        let escapes = || LayerError::bad(shown(comps), "hardlink target escapes the root");
        let target = clean_strict(&link).ok_or_else(escapes)?;
        let (Some((tname, tparent)), Some(name)) = (target.split_last(), comps.last()) else {
            return Err(escapes()); // a link to the root itself
        };
        if target == comps {
            return Ok(());
        }
        let failed = |source| LayerError::Hardlink {
            path: shown(comps),
            target: shown(&target),
            source,
        };
        let tdir = self.dir_at(tparent, false).map_err(failed)?;
        create::hardlink(tdir.as_fd(), tname, dir, name).map_err(failed)
    }

    fn finish(&mut self) -> Result<(), LayerError> {
        let dir_times = std::mem::take(&mut self.dir_times);
        for (comps, attrs) in dir_times.iter().rev() {
            let err = |source| LayerError::io("setting mtime", shown(comps), source);
            let Some((name, parent)) = comps.split_last() else {
                create::set_mtime(self.root.as_fd(), b"", attrs).map_err(err)?;
                continue;
            };
            match self.dir_at(parent, false) {
                Ok(pfd) => match create::set_mtime(pfd.as_fd(), name, attrs) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    other => other.map_err(err)?,
                },
                // Removed later in the same layer (whiteout/opaque): nothing to date.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }
}
