//! Tests of the stacked-directory view.

use super::*;
use std::os::unix::fs::symlink;

#[test]
fn clean_clamps_at_root() {
    assert_eq!(clean_components("../../a/./b/../c/"), vec!["a", "c"]);
    assert!(clean_components("/").is_empty());
}

#[test]
fn symlinks_resolve_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("real/dir")).unwrap();
    std::fs::write(t.path().join("real/dir/f"), b"x").unwrap();
    symlink("/real", t.path().join("abs")).unwrap();
    symlink("../../../../real", t.path().join("up")).unwrap();
    let tree = Tree::new(vec![t.path().to_path_buf()]);
    assert_eq!(tree.resolve("abs/dir/f", true).unwrap().rel, "real/dir/f");
    assert_eq!(tree.resolve("up/dir/f", true).unwrap().rel, "real/dir/f");
    assert_eq!(tree.resolve("abs", false).unwrap().rel, "abs");
    assert!(tree.resolve("../../etc/passwd", true).is_none());
}

#[test]
fn root_path_follows_dangling_links_inside_the_root() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("real")).unwrap();
    symlink("../tmp/target", t.path().join("gone")).unwrap();
    symlink("/../../real", t.path().join("abs")).unwrap();
    symlink("loop", t.path().join("loop")).unwrap();
    let tree = Tree::new(vec![t.path().to_path_buf()]);
    let rp = |p: &str| tree.root_path(p);
    assert_eq!(rp("gone").as_deref(), Some("tmp/target"));
    assert_eq!(rp("/gone/a/b").as_deref(), Some("tmp/target/a/b"));
    assert_eq!(rp("abs/x").as_deref(), Some("real/x"));
    assert_eq!(rp("new/dir").as_deref(), Some("new/dir"));
    assert_eq!(rp("loop/x"), None);
}

#[test]
fn upper_layers_shadow_lower_ones() {
    let low = tempfile::tempdir().unwrap();
    let up = tempfile::tempdir().unwrap();
    std::fs::write(low.path().join("a"), b"low").unwrap();
    std::fs::write(low.path().join("b"), b"low").unwrap();
    std::fs::write(up.path().join("a"), b"up").unwrap();
    let tree = Tree::new(vec![up.path().into(), low.path().into()]);
    let a = tree.resolve("a", true).unwrap();
    assert_eq!(std::fs::read(a.real).unwrap(), b"up");
    assert_eq!(
        tree.read_dir(""),
        vec![OsString::from("a"), OsString::from("b")]
    );
}
