//! Shared test helpers: building trees, listing tars, describing trees.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rbuild_layer::{write_layer, Compression, WriteOptions};

/// Requires euid 0 for tests that make device nodes or set trusted.* xattrs.
pub fn require_root(what: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root ({what}); run the tests as root"
    );
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

pub fn setx(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
        .unwrap_or_else(|e| panic!("setxattr {name} on {path:?}: {e}"));
}

/// Makes an overlay whiteout (0/0 char device); fails loudly without CAP_MKNOD.
pub fn whiteout(path: &Path) {
    let dev = rustix::fs::makedev(0, 0);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        dev,
    )
    .unwrap_or_else(|e| panic!("mknod whiteout {path:?} needs CAP_MKNOD (root): {e}"));
}

/// One tar entry as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// Lists an (uncompressed) tar through the `tar` crate.
pub fn list_tar(tar: &[u8]) -> Vec<Listed> {
    let mut ar = tar::Archive::new(tar);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for x in exts {
                let x = x.unwrap();
                if let Some(n) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((n.to_string(), x.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header().clone();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push(Listed {
            path,
            kind: h.entry_type().as_byte() as char,
            mode: h.mode().unwrap(),
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            link,
            data,
            xattrs,
        });
    }
    out
}

/// The uncompressed layer tar of `dir`.
pub fn layer_tar(dir: &Path) -> Vec<u8> {
    let opts = WriteOptions {
        compression: Compression::None,
        source_date_epoch: None,
    };
    let mut out = Vec::new();
    write_layer(dir, &opts, &mut out).unwrap();
    out
}

/// Paths of a layer's entries, in order.
pub fn paths(dir: &Path) -> Vec<String> {
    list_tar(&layer_tar(dir))
        .into_iter()
        .map(|l| l.path)
        .collect()
}

/// A full description of a tree for equality checks (everything a layer must preserve).
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut stack = vec![PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let ft = m.file_type();
            if ft.is_dir() {
                stack.push(p.clone());
            }
            let what = what_is(&p, &m);
            let link = if !ft.is_dir() && m.nlink() > 1 {
                let first = inodes.entry((m.dev(), m.ino())).or_insert(rel.clone());
                format!(" link-group={first}")
            } else {
                String::new()
            };
            let xattrs = list_xattrs(&p);
            let mtime = if ft.is_symlink() || ft.is_dir() || ft.is_file() {
                m.mtime()
            } else {
                0
            };
            let desc = format!(
                "{what} mode={:o} uid={} gid={} mtime={mtime}{link} xattrs={xattrs:?}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            );
            out.insert(rel, desc);
        }
    }
    out
}

/// A file's type and content (or target, or device numbers), for [`describe`].
fn what_is(p: &Path, m: &fs::Metadata) -> String {
    let ft = m.file_type();
    if ft.is_dir() {
        "dir".to_string()
    } else if ft.is_symlink() {
        format!("symlink->{}", fs::read_link(p).unwrap().display())
    } else if ft.is_char_device() || ft.is_block_device() {
        let (major, minor) = (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev()));
        format!("dev {major}:{minor}")
    } else if ft.is_fifo() {
        "fifo".into()
    } else {
        let data = fs::read(p).unwrap();
        format!("file {}", String::from_utf8_lossy(&data))
    }
}

pub fn list_xattrs(p: &Path) -> Vec<(String, String)> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(p, &mut buf[..]).unwrap_or(0);
    let mut out = Vec::new();
    for name in buf[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let mut v = vec![0u8; 4096];
        let k = rustix::fs::lgetxattr(p, name, &mut v[..]).unwrap();
        out.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(&v[..k]).into_owned(),
        ));
    }
    out.sort();
    out
}

pub fn os(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}
