//! The copy rootfs against what overlayfs would show and write. Whiteouts are device nodes,
//! so these need root (or a user namespace).

use super::*;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

fn need_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "copyfs tests need root: whiteouts are 0/0 character devices"
    );
}

fn whiteout(p: &Path) {
    let kind = rustix::fs::FileType::CharacterDevice;
    let dev = rustix::fs::makedev(0, 0);
    rustix::fs::mknodat(rustix::fs::CWD, p, kind, rustix::fs::Mode::empty(), dev).unwrap();
}

fn is_whiteout(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

/// bottom: a/x a/y a/gone b/z d/k h1=h2 c ; top: whiteout a/y, b/z replaced, d opaque with d/new.
fn layers(t: &Path) -> Vec<PathBuf> {
    let (bottom, top) = (t.join("bottom"), t.join("top"));
    for (p, s) in [
        ("a/x", "x"),
        ("a/y", "y"),
        ("a/gone", "g"),
        ("b/z", "old z"),
        ("d/k", "k"),
        ("c", "c"),
    ] {
        write(&bottom.join(p), s);
    }
    write(&bottom.join("h1"), "linked");
    fs::hard_link(bottom.join("h1"), bottom.join("h2")).unwrap();
    fs::set_permissions(bottom.join("a/x"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::create_dir_all(top.join("a")).unwrap();
    whiteout(&top.join("a/y"));
    write(&top.join("b/z"), "new z");
    write(&top.join("d/new"), "n");
    meta::set_opaque(&top.join("d")).unwrap();
    vec![top, bottom]
}

#[test]
fn layers_merge_as_overlayfs_shows_them() {
    need_root();
    let t = tempfile::tempdir().unwrap();
    let merged = t.path().join("merged");
    fs::create_dir(&merged).unwrap();
    merge(&layers(t.path()), &merged).unwrap();
    let read = |p: &str| fs::read_to_string(merged.join(p)).unwrap();
    assert_eq!(read("a/x"), "x");
    assert_eq!(
        fs::metadata(merged.join("a/x")).unwrap().mode() & 0o7777,
        0o751
    );
    assert!(!merged.join("a/y").exists(), "whited out");
    assert_eq!(read("b/z"), "new z");
    assert_eq!(read("d/new"), "n");
    assert!(
        !merged.join("d/k").exists(),
        "hidden by the opaque directory"
    );
    let (h1, h2) = (
        fs::metadata(merged.join("h1")).unwrap(),
        fs::metadata(merged.join("h2")).unwrap(),
    );
    assert_eq!(h1.ino(), h2.ino(), "hard links stay links");
}

/// The layers merged and stamped: (temp dir, merged, empty upper, stamps).
fn prepared() -> (tempfile::TempDir, PathBuf, PathBuf, Manifest) {
    need_root();
    let t = tempfile::tempdir().unwrap();
    let (merged, upper) = (t.path().join("merged"), t.path().join("upper"));
    fs::create_dir(&merged).unwrap();
    fs::create_dir(&upper).unwrap();
    merge(&layers(t.path()), &merged).unwrap();
    let before = record(&merged, t.path()).unwrap();
    (t, merged, upper, before)
}

#[test]
fn changes_are_collected_as_overlayfs_writes_them() {
    let (_t, merged, upper, before) = prepared();
    // The step: edit, chmod, delete, create, replace a directory, rename.
    fs::write(merged.join("a/x"), "edited").unwrap();
    fs::set_permissions(merged.join("b/z"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(merged.join("a/gone")).unwrap();
    write(&merged.join("n/new"), "fresh");
    fs::remove_dir_all(merged.join("d")).unwrap();
    write(&merged.join("d/q"), "q");
    fs::rename(merged.join("c"), merged.join("c2")).unwrap();
    collect(&merged, &before, &upper).unwrap();

    let read = |p: &str| fs::read_to_string(upper.join(p)).unwrap();
    assert_eq!(read("a/x"), "edited");
    assert_eq!(
        fs::metadata(upper.join("b/z")).unwrap().mode() & 0o777,
        0o600
    );
    assert!(is_whiteout(&upper.join("a/gone")));
    assert_eq!(read("n/new"), "fresh");
    assert_eq!(read("d/q"), "q");
    // The new directory may reuse the old one's inode number: then it counts as the same
    // directory, changed, and the old entry gets a whiteout instead; the view is the same.
    assert!(
        meta::is_opaque(&upper.join("d")) || is_whiteout(&upper.join("d/new")),
        "a replaced directory hides the old one's entries"
    );
    assert!(is_whiteout(&upper.join("c")));
    assert_eq!(read("c2"), "c");
    // Untouched entries stay out of the upper.
    for p in ["h1", "h2", "b/other", "a/y"] {
        assert!(
            fs::symlink_metadata(upper.join(p)).is_err(),
            "{p} is not a change"
        );
    }
}

#[test]
fn an_unchanged_run_leaves_the_upper_empty() {
    let (_t, merged, upper, before) = prepared();
    let _ = fs::read_to_string(merged.join("a/x")).unwrap();
    collect(&merged, &before, &upper).unwrap();
    assert_eq!(fs::read_dir(&upper).unwrap().count(), 0);
}
