//! Unpacking over an image: ADD unpacks an archive into a step's upper directory, and the
//! image beneath it has symlinks (`var/run -> /run`) and directories the archive's paths go
//! through. BuildKit unpacks in the merged filesystem, chrooted at the destination, so those
//! links lead the way there; here the applier resolves each parent through the upper
//! directory and, where that has nothing, through the image ([`Underlay`]), copying a
//! directory of the image up before writing into it. Resolution stays inside the target:
//! absolute links start again at it and `..` stops at it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::meta::Attrs;
use super::safe_path::{ensure_dir, open_dir, InRoot};
use super::{create, to_io, Applier};

const DIR_PATH: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

/// What the image holds beneath the directory an archive is unpacked into.
pub trait Underlay {
    /// The image's entry at `rel` (components relative to the target, none of them a
    /// symlink of the image), if it has one.
    fn entry(&self, rel: &[Vec<u8>]) -> Option<Beneath>;
}

/// An entry of the image beneath the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beneath {
    /// A directory, with what a copy of it keeps.
    Dir(DirMeta),
    /// A symlink and its target.
    Symlink(Vec<u8>),
    /// Anything else: nothing can be written beneath it.
    Other,
}

/// The metadata a directory of the image keeps when it is copied up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirMeta {
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Modification time, nanoseconds.
    pub mtime_nsec: u32,
}

impl DirMeta {
    fn attrs(&self) -> Attrs {
        Attrs {
            mode: self.mode & 0o7777,
            uid: self.uid,
            gid: self.gid,
            mtime: self.mtime,
            mtime_nsec: self.mtime_nsec,
            xattrs: Vec::new(),
        }
    }
}

/// One resolved directory on the way: its fd, its name, and whether the image's entries
/// beneath it show through (it is a directory of the image, not one hiding a link or file).
struct Step {
    fd: OwnedFd,
    name: Vec<u8>,
    image_below: bool,
}

impl Applier<'_> {
    /// Opens the directory `comps` of the target, creating missing ones (0755, root's, as
    /// [`ensure_dir`]) if `create`; through the image beneath when there is one.
    pub(super) fn dir_at(&mut self, comps: &[Vec<u8>], create: bool) -> io::Result<OwnedFd> {
        let Some(below) = self.below else {
            let root = self.root.as_fd();
            return if create {
                ensure_dir(root, comps)
            } else {
                open_dir(root, comps)
            };
        };
        let mut copied = Vec::new();
        let fd = self.resolve_over(below, comps, create, &mut copied);
        // Directories copied up take their image mtime back once their children are written.
        self.dir_times.extend(copied);
        fd
    }

    fn resolve_over(
        &self,
        below: &dyn Underlay,
        comps: &[Vec<u8>],
        create: bool,
        copied: &mut Vec<(Vec<Vec<u8>>, Attrs)>,
    ) -> io::Result<OwnedFd> {
        let mut walk: InRoot<Step> = InRoot::new(comps);
        while let Some(c) = walk.next_name() {
            let stack = &walk.stack;
            let (cur, image_ok) = match stack.last() {
                Some(s) => (s.fd.as_fd(), s.image_below),
                None => (self.root.as_fd(), true),
            };
            let mut path: Vec<Vec<u8>> = stack.iter().map(|s| s.name.clone()).collect();
            path.push(c.clone());
            let image = if image_ok { below.entry(&path) } else { None };
            let here = file_type_at(cur, &c)?;
            let link = match (here, &image) {
                (Some(FileType::Symlink), _) => Some(read_link_at(cur, &c)?),
                (None, Some(Beneath::Symlink(t))) => Some(t.clone()),
                _ => None,
            };
            if let Some(target) = link {
                walk.follow(&target).map_err(to_io)?;
                continue;
            }
            match (here, &image) {
                (Some(FileType::Directory), _) => {}
                (Some(_), _) | (None, Some(Beneath::Other)) => return Err(to_io(Errno::NOTDIR)),
                (None, Some(Beneath::Dir(meta))) if create => {
                    let attrs = meta.attrs();
                    create::dir(&self.priv_, cur, &c, &attrs)?;
                    copied.push((path.clone(), attrs));
                }
                (None, None) if create => {
                    match rfs::mkdirat(cur, c.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(to_io(e)),
                    }
                }
                (None, _) => return Err(to_io(Errno::NOENT)),
            }
            let fd = rfs::openat(cur, c.as_slice(), DIR_PATH, Mode::empty()).map_err(to_io)?;
            let image_below = image_ok && matches!(image, Some(Beneath::Dir(_)));
            walk.stack.push(Step {
                fd,
                name: c,
                image_below,
            });
        }
        match walk.stack.pop() {
            Some(s) => Ok(s.fd),
            None => open_dir(self.root.as_fd(), &[]),
        }
    }
}

/// The type of `name` in `dir`, `None` if it does not exist.
fn file_type_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(to_io(e)),
    }
}

fn read_link_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let target = rfs::readlinkat(dir, name, Vec::new()).map_err(to_io)?;
    Ok(target.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{apply_layer_over, ApplyOptions};
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;

    /// An image given as a map from path to entry.
    struct Image(HashMap<&'static str, Beneath>);

    impl Underlay for Image {
        fn entry(&self, rel: &[Vec<u8>]) -> Option<Beneath> {
            let p = String::from_utf8(rel.join(&b'/')).ok()?;
            self.0.get(p.as_str()).cloned()
        }
    }

    fn dir(mode: u32) -> Beneath {
        let (uid, gid) = (rustix::process::geteuid(), rustix::process::getegid());
        Beneath::Dir(DirMeta {
            mode,
            uid: uid.as_raw(),
            gid: gid.as_raw(),
            mtime: 1_000_000,
            mtime_nsec: 0,
        })
    }

    fn archive(files: &[&str], link: Option<(&str, &str)>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for f in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, f, &b"x"[..]).unwrap();
        }
        if let Some((name, target)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn image_links_lead_and_image_dirs_are_copied_up_inside_the_target() {
        let t = tempfile::tempdir().unwrap();
        let image = Image(HashMap::from([
            ("var", dir(0o711)),
            ("var/run", Beneath::Symlink(b"/run".to_vec())),
            ("run", dir(0o755)),
            ("up", Beneath::Symlink(b"../../../../host".to_vec())),
            ("file", Beneath::Other),
        ]));
        let tar = archive(
            &["var/run/x/f", "up/pwned"],
            Some(("var/run/x/g", "var/run/x/f")),
        );
        apply_layer_over(&mut &tar[..], t.path(), &ApplyOptions::default(), &image).unwrap();
        let f = std::fs::metadata(t.path().join("run/x/f")).unwrap();
        let g = std::fs::metadata(t.path().join("run/x/g")).unwrap();
        assert_eq!(
            f.ino(),
            g.ino(),
            "the hardlink's target resolved the same way"
        );
        let var = std::fs::metadata(t.path().join("var")).unwrap();
        assert_eq!((var.mode() & 0o7777, var.mtime()), (0o711, 1_000_000));
        assert!(
            !t.path().join("var/run").exists(),
            "the image's link is not replaced"
        );
        // `..` stops at the target: the link cannot lead out of it.
        assert!(t.path().join("host/pwned").is_file());
        let bad = archive(&["file/x"], None);
        assert!(
            apply_layer_over(&mut &bad[..], t.path(), &ApplyOptions::default(), &image).is_err()
        );
    }
}
