//! Writing items through the memoised destination and upper-dir state.

use super::*;
use crate::tree::Found;
use std::fs::{create_dir_all, symlink_metadata, write};
use std::os::unix::fs::symlink;

fn item(real: &Path, dest: &str) -> CopyItem {
    CopyItem {
        source: Found {
            rel: dest.to_string(),
            real: real.to_path_buf(),
            meta: symlink_metadata(real).unwrap(),
        },
        dest: dest.to_string(),
        top: false,
    }
}

/// The caller's own ids, so the test needs no root.
fn me(p: &Path) -> Attrs {
    let m = symlink_metadata(p).unwrap();
    Attrs {
        owner: (m.uid(), m.gid()),
        mode: None,
        keep_source_owner: false,
    }
}

#[test]
fn parents_resolve_through_image_links_and_take_their_metadata() {
    let t = tempfile::tempdir().unwrap();
    let (low, src, up) = (
        t.path().join("low"),
        t.path().join("src"),
        t.path().join("up"),
    );
    create_dir_all(low.join("usr/lib")).unwrap();
    fs::set_permissions(low.join("usr/lib"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("/usr/lib", low.join("lib")).unwrap();
    create_dir_all(src.join("d")).unwrap();
    create_dir_all(&up).unwrap();
    write(src.join("f"), b"one").unwrap();
    write(src.join("d/g"), b"two").unwrap();
    let items = [
        item(&src.join("f"), "lib/x/f"),
        item(&src.join("d"), "lib/x/d"),
        item(&src.join("d/g"), "lib/x/d/g"),
    ];
    let lower = Tree::new(vec![low.clone()]);
    write_items(&items, &up, &lower, &me(&src)).unwrap();
    assert_eq!(fs::read(up.join("usr/lib/x/f")).unwrap(), b"one");
    assert_eq!(fs::read(up.join("usr/lib/x/d/g")).unwrap(), b"two");
    assert!(symlink_metadata(up.join("lib")).is_err());
    let lib = symlink_metadata(up.join("usr/lib")).unwrap();
    assert_eq!(lib.mode() & 0o7777, 0o750);
    let d = symlink_metadata(up.join("usr/lib/x/d")).unwrap();
    assert_eq!(d.mtime(), symlink_metadata(src.join("d")).unwrap().mtime());
}

#[test]
fn later_sources_replace_earlier_entries() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, up) = (t.path().join("a"), t.path().join("b"), t.path().join("up"));
    create_dir_all(a.join("x")).unwrap();
    write(a.join("x/old"), b"old").unwrap();
    create_dir_all(&b).unwrap();
    create_dir_all(&up).unwrap();
    write(b.join("x"), b"file").unwrap();
    symlink("/etc", b.join("l")).unwrap();
    let items = [
        item(&a.join("x"), "app/x"),
        item(&a.join("x/old"), "app/x/old"),
        item(&a.join("x/old"), "app/l"),
        item(&b.join("x"), "app/x"),
        item(&b.join("l"), "app/l"),
        item(&a.join("x"), "app/x"),
        item(&a.join("x/old"), "app/x/new"),
    ];
    let lower = Tree::new(vec![t.path().join("empty")]);
    write_items(&items, &up, &lower, &me(&a)).unwrap();
    assert_eq!(fs::read(up.join("app/x/new")).unwrap(), b"old");
    assert!(symlink_metadata(up.join("app/x/old")).is_err());
    assert_eq!(fs::read_link(up.join("app/l")).unwrap(), Path::new("/etc"));
}

#[test]
fn an_upper_dir_with_content_is_checked_on_disk() {
    let t = tempfile::tempdir().unwrap();
    let (src, up) = (t.path().join("src"), t.path().join("up"));
    create_dir_all(up.join("app/f")).unwrap();
    create_dir_all(&src).unwrap();
    write(src.join("f"), b"new").unwrap();
    let lower = Tree::new(vec![t.path().join("empty")]);
    write_items(&[item(&src.join("f"), "app/f")], &up, &lower, &me(&src)).unwrap();
    assert_eq!(fs::read(up.join("app/f")).unwrap(), b"new");
    let made = make_dirs(&up, "app/g/h", &lower, (0, 0)).unwrap();
    assert!(made.is_dir() && made.ends_with("app/g/h"));
}

/// BuildKit (fsutil's copyDirectoryOnly and MkdirAll) refuses a directory where the image has
/// a symlink or a file rather than replacing it; a file it replaces.
#[test]
fn a_directory_onto_an_image_link_or_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (low, src) = (t.path().join("low"), t.path().join("src"));
    create_dir_all(low.join("usr/lib")).unwrap();
    symlink("usr/lib", low.join("lib")).unwrap();
    write(low.join("file"), b"f").unwrap();
    create_dir_all(src.join("lib")).unwrap();
    write(src.join("lib/x"), b"x").unwrap();
    let lower = Tree::new(vec![low.clone()]);
    let cases: [&[CopyItem]; 3] = [
        &[
            item(&src.join("lib"), "lib"),
            item(&src.join("lib/x"), "lib/x"),
        ],
        &[item(&src.join("lib/x"), "file/x")],
        &[item(&src.join("lib"), "file")],
    ];
    for (i, items) in cases.iter().enumerate() {
        let up = t.path().join(format!("up{i}"));
        create_dir_all(&up).unwrap();
        let err = write_items(items, &up, &lower, &me(&src)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot copy to non-directory: /"),
            "{err}"
        );
    }
    let up = t.path().join("up-file");
    create_dir_all(&up).unwrap();
    write_items(&[item(&src.join("lib/x"), "lib")], &up, &lower, &me(&src)).unwrap();
    assert_eq!(fs::read(up.join("lib")).unwrap(), b"x");
    // A file onto a directory of the image is refused too (fsutil's ensureEmptyFileTarget).
    let up = t.path().join("up-dir");
    create_dir_all(&up).unwrap();
    let err = write_items(&[item(&src.join("lib/x"), "usr")], &up, &lower, &me(&src));
    assert_eq!(
        err.unwrap_err().to_string(),
        "cannot replace to directory /usr with file"
    );
}
