//! The differ on hand-made upper dirs: entry listing, whiteouts, opaque dirs, metadata.

mod common;

use std::fs;
use std::os::unix::fs::symlink;

use common::*;
use rbuild_layer::{write_layer, LayerError, WriteOptions};

#[test]
fn sorted_depth_first_with_dirs_slashed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(&d.join("b/z"), b"z");
    write(&d.join("a-b"), b"x");
    write(&d.join("a/c"), b"c");
    fs::create_dir(d.join("empty")).unwrap();
    assert_eq!(paths(d), ["a/", "a/c", "a-b", "b/", "b/z", "empty/"]);
}

#[test]
fn whiteouts_and_opaque_dirs() {
    require_root("mknod 0/0 whiteouts and trusted.overlay.opaque");
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    write(&d.join("etc/keep"), b"k");
    whiteout(&d.join("etc/gone"));
    fs::create_dir(d.join("opq")).unwrap();
    setx(&d.join("opq"), "trusted.overlay.opaque", b"y");
    write(&d.join("opq/!first"), b"1");
    fs::create_dir(d.join("uopq")).unwrap();
    setx(&d.join("uopq"), "user.overlay.opaque", b"y");
    whiteout(&d.join("zz"));
    let listed = list_tar(&layer_tar(d));
    let got: Vec<_> = listed.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        got,
        [
            ".wh.zz",
            "etc/",
            "etc/.wh.gone",
            "etc/keep",
            "opq/",
            "opq/.wh..wh..opq",
            "opq/!first",
            "uopq/",
            "uopq/.wh..wh..opq",
        ]
    );
    // Overlay bookkeeping xattrs never reach the layer.
    assert!(listed.iter().all(|l| l.xattrs.is_empty()), "{listed:?}");
    let wh = &listed[0];
    assert_eq!((wh.kind, wh.data.len(), wh.mtime), ('0', 0, 0));
}

#[test]
fn shared_whiteout_inodes_are_not_hardlinks() {
    require_root("mknod 0/0 whiteouts");
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    whiteout(&d.join("a"));
    fs::hard_link(d.join("a"), d.join("b")).unwrap();
    let listed = list_tar(&layer_tar(d));
    assert_eq!(
        listed
            .iter()
            .map(|l| (l.path.as_str(), l.kind))
            .collect::<Vec<_>>(),
        [(".wh.a", '0'), (".wh.b", '0')]
    );
}

#[test]
fn refuses_redirect_and_metacopy() {
    require_root("trusted.overlay.* xattrs");
    for x in [
        "trusted.overlay.redirect",
        "trusted.overlay.metacopy",
        "user.overlay.redirect",
    ] {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir(t.path().join("d")).unwrap();
        setx(&t.path().join("d"), x, b"/elsewhere");
        let err = write_layer(t.path(), &WriteOptions::default(), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(&err, LayerError::UnsupportedOverlay { xattr, .. } if xattr == x),
            "{err}"
        );
        assert!(err.to_string().contains("redirect_dir"), "{err}");
    }
}

#[test]
fn refuses_real_files_named_like_whiteouts() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join(".wh.x"), b"not a whiteout");
    let err = write_layer(t.path(), &WriteOptions::default(), &mut Vec::new()).unwrap_err();
    assert!(matches!(err, LayerError::ReservedName(_)), "{err}");
}

/// Special modes, dangling and relative symlinks, a file with two more hard links, an xattr.
fn modes_tree(d: &std::path::Path) {
    write(&d.join("bin/su"), b"su");
    chmod(&d.join("bin/su"), 0o4755);
    write(&d.join("bin/sg"), b"sg");
    chmod(&d.join("bin/sg"), 0o2711);
    fs::create_dir(d.join("tmp")).unwrap();
    chmod(&d.join("tmp"), 0o1777);
    symlink("/nowhere/at/all", d.join("dangling")).unwrap();
    symlink("bin/su", d.join("rel")).unwrap();
    write(&d.join("z/orig"), b"same");
    fs::hard_link(d.join("z/orig"), d.join("a-link")).unwrap();
    fs::hard_link(d.join("z/orig"), d.join("m-link")).unwrap();
    setx(&d.join("bin/sg"), "user.note", b"hi\0bin");
}

#[test]
fn modes_symlinks_hardlinks_xattrs() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    modes_tree(d);
    let listed = list_tar(&layer_tar(d));
    let find = |p: &str| {
        listed
            .iter()
            .find(|l| l.path == p)
            .unwrap_or_else(|| panic!("{p} not in {listed:#?}"))
            .clone()
    };
    assert_eq!(find("bin/su").mode, 0o4755);
    assert_eq!(find("bin/sg").mode, 0o2711);
    assert_eq!(find("tmp/").mode, 0o1777);
    assert_eq!(find("dangling").link.as_deref(), Some("/nowhere/at/all"));
    assert_eq!(find("dangling").kind, '2');
    assert_eq!(find("rel").link.as_deref(), Some("bin/su"));
    // First path in walk order carries the data; later ones are hardlinks to it.
    assert_eq!(
        (find("a-link").kind, find("a-link").data.as_slice()),
        ('0', &b"same"[..])
    );
    assert_eq!(
        (find("m-link").kind, find("m-link").link.as_deref()),
        ('1', Some("a-link"))
    );
    assert_eq!(
        (find("z/orig").kind, find("z/orig").link.as_deref()),
        ('1', Some("a-link"))
    );
    assert_eq!(
        find("bin/sg").xattrs,
        [("user.note".to_string(), b"hi\0bin".to_vec())]
    );
    let su = find("bin/su");
    assert_eq!((su.uid, su.gid), (0, 0));
}

/// VFS_CAP_REVISION_2, cap_net_raw permitted+effective.
const CAP_NET_RAW: [u8; 20] = [
    0, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// An owned file, a file with a capability, two device nodes and a FIFO (root only).
fn special_tree(d: &std::path::Path) {
    use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};
    write(&d.join("owned"), b"o");
    std::os::unix::fs::lchown(d.join("owned"), Some(1234), Some(5678)).unwrap();
    write(&d.join("ping"), b"elf");
    setx(&d.join("ping"), "security.capability", &CAP_NET_RAW);
    let mode = Mode::from_raw_mode(0o640);
    let mk = |name: &str, ft, dev| mknodat(CWD, d.join(name), ft, mode, dev).unwrap();
    mk("null", FileType::CharacterDevice, makedev(1, 3));
    mk("sda", FileType::BlockDevice, makedev(8, 0));
    mk("pipe", FileType::Fifo, 0);
}

#[test]
fn owners_devices_fifos_capabilities() {
    require_root("chown, mknod and security.capability");
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    special_tree(d);
    let listed = list_tar(&layer_tar(d));
    let find = |p: &str| listed.iter().find(|l| l.path == p).unwrap().clone();
    assert_eq!((find("owned").uid, find("owned").gid), (1234, 5678));
    assert_eq!(
        find("ping").xattrs,
        [("security.capability".to_string(), CAP_NET_RAW.to_vec())]
    );
    assert_eq!((find("null").kind, find("null").mode), ('3', 0o640));
    assert_eq!(find("sda").kind, '4');
    assert_eq!(find("pipe").kind, '6');
    let raw = layer_tar(d);
    let mut ar = tar::Archive::new(raw.as_slice());
    let null = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().header().clone())
        .find(|h| h.path_bytes().as_ref() == b"null")
        .unwrap();
    assert_eq!(
        (null.device_major().unwrap(), null.device_minor().unwrap()),
        (Some(1), Some(3))
    );
}

#[test]
fn long_names_use_pax() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(200));
    write(&d.join(&long), b"deep");
    symlink("t".repeat(150), d.join("l")).unwrap();
    let listed = list_tar(&layer_tar(d));
    assert_eq!(listed[1].path, long);
    assert_eq!(listed[1].data, b"deep");
    assert_eq!(listed[2].link.as_deref(), Some("t".repeat(150).as_str()));
}

#[test]
fn headers_are_normalized() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("f"), b"x");
    let raw = layer_tar(t.path());
    let h = tar::Header::from_byte_slice(&raw[..512]);
    assert_eq!(h.username_bytes(), Some(&b""[..]));
    assert_eq!(h.groupname_bytes(), Some(&b""[..]));
    assert!(h.as_ustar().is_some());
    // Two zero blocks end the archive; nothing else follows.
    assert_eq!(raw.len(), 512 * 2 + 1024);
}
