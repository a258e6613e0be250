//! dir → layer → apply → identical tree, for every compression.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use rbuild_layer::{
    apply_layer, decompress, write_layer, ApplyOptions, Compression, WhiteoutMode, WriteOptions,
};

fn build_tree(d: &Path, privileged: bool) {
    plain_files(d);
    if privileged {
        privileged_files(d);
    }
    // Set mtimes last: creating children moves directory mtimes.
    for p in ["etc/passwd", "bin", "tmp", "empty/dir", "z"] {
        set_times(&d.join(p), 1_000_000, 1_234_567);
    }
}

/// Files, special modes, links, xattrs and long names anyone can create.
fn plain_files(d: &Path) {
    write(&d.join("etc/passwd"), b"root:x:0:0");
    write(&d.join("bin/su"), b"su");
    chmod(&d.join("bin/su"), 0o4755);
    write(&d.join("bin/sg"), b"sg");
    chmod(&d.join("bin/sg"), 0o2711);
    fs::create_dir(d.join("tmp")).unwrap();
    chmod(&d.join("tmp"), 0o1777);
    fs::create_dir_all(d.join("empty/dir")).unwrap();
    symlink("/nowhere", d.join("dangling")).unwrap();
    symlink("../etc/passwd", d.join("bin/pw")).unwrap();
    write(&d.join("z/orig"), b"shared");
    fs::hard_link(d.join("z/orig"), d.join("bin/hl")).unwrap();
    fs::hard_link(d.join("z/orig"), d.join("zz-hl")).unwrap();
    setx(&d.join("etc/passwd"), "user.k", b"v\0\x01");
    let long = format!("{}/{}", "l".repeat(110), "n".repeat(180));
    write(&d.join(long), b"long");
    write(&d.join("big"), &vec![7u8; 3 * 1024 * 1024 + 17]);
}

/// Owners, file capabilities, device nodes, a FIFO, a whiteout and an opaque dir (root only).
fn privileged_files(d: &Path) {
    use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
    std::os::unix::fs::lchown(d.join("etc/passwd"), Some(1000), Some(2000)).unwrap();
    std::os::unix::fs::lchown(d.join("dangling"), Some(3), Some(4)).unwrap();
    let cap: [u8; 20] = [
        0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    setx(&d.join("bin/su"), "security.capability", &cap);
    let m = Mode::from_raw_mode(0o620);
    let mk = |n: &str, ft, dev| mknodat(CWD, d.join(n), ft, m, dev).unwrap();
    mk("dev-null", FileType::CharacterDevice, makedev(1, 3));
    mk("dev-sda", FileType::BlockDevice, makedev(8, 1));
    mk("fifo", FileType::Fifo, 0);
    whiteout(&d.join("etc/deleted"));
    fs::create_dir(d.join("opq")).unwrap();
    setx(&d.join("opq"), "trusted.overlay.opaque", b"y");
    write(&d.join("opq/new"), b"n");
}

/// Sets access and modification times (seconds) without following a symlink.
fn set_times(path: &Path, atime: i64, mtime: i64) {
    use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};
    let at = |tv_sec| Timespec { tv_sec, tv_nsec: 0 };
    let t = Timestamps {
        last_access: at(atime),
        last_modification: at(mtime),
    };
    utimensat(CWD, path, &t, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn roundtrip(compression: Compression, privileged: bool) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    build_tree(src.path(), privileged);
    let mut blob = Vec::new();
    let opts = WriteOptions {
        compression,
        source_date_epoch: None,
    };
    let digests = write_layer(src.path(), &opts, &mut blob).unwrap();
    assert_eq!(digests.size, blob.len() as u64);
    assert_eq!(digests.digest, rbuild_oci::Digest::of(&blob));
    let mut tar = decompress(Box::new(std::io::Cursor::new(blob))).unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut tar, &mut raw).unwrap();
    assert_eq!(digests.diff_id, rbuild_oci::Digest::of(&raw));
    let stats = apply_layer(
        &mut raw.as_slice(),
        dst.path(),
        &ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(stats.entries, digests.entries);
    let (a, b) = (describe(src.path()), describe(dst.path()));
    assert_eq!(a, b);
}

#[test]
fn roundtrip_gzip() {
    roundtrip(Compression::Gzip { level: 6 }, false);
}

#[test]
fn roundtrip_zstd() {
    roundtrip(Compression::Zstd { level: 3 }, false);
}

#[test]
fn roundtrip_plain() {
    roundtrip(Compression::None, false);
}

#[test]
fn roundtrip_privileged() {
    require_root("chown, mknod, whiteouts, trusted.overlay.opaque");
    roundtrip(Compression::default(), true);
}
