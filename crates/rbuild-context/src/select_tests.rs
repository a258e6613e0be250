//! Tests of COPY/ADD source selection.

use super::*;

fn ctx() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("src/sub")).unwrap();
    std::fs::write(t.path().join("src/a.txt"), b"a").unwrap();
    std::fs::write(t.path().join("src/sub/b.txt"), b"b").unwrap();
    std::fs::write(t.path().join("top.rs"), b"t").unwrap();
    t
}

fn dests(items: &[CopyItem]) -> Vec<&str> {
    items.iter().map(|i| i.dest.as_str()).collect()
}

#[test]
fn directory_contents_not_the_directory() {
    let t = ctx();
    let tree = Tree::new(vec![t.path().into()]);
    let items = plan(&tree, &["src".into()], "/app/", true, &KeepAll).unwrap();
    assert_eq!(
        dests(&items),
        vec!["app", "app/a.txt", "app/sub", "app/sub/b.txt"]
    );
}

#[test]
fn globs_and_file_destinations() {
    let t = ctx();
    let tree = Tree::new(vec![t.path().into()]);
    let items = plan(&tree, &["*.rs".into()], "/x/main.rs", false, &KeepAll).unwrap();
    assert_eq!(dests(&items), vec!["x/main.rs"]);
    let items = plan(&tree, &["src/*.txt".into()], "/d/", true, &KeepAll).unwrap();
    assert_eq!(dests(&items), vec!["d/a.txt"]);
    // As in BuildKit, a directory cannot follow a file onto a destination that is no
    // directory; the other way round the file goes into the directory the first made.
    let err = plan(
        &tree,
        &["top.rs".into(), "src".into()],
        "/d",
        false,
        &KeepAll,
    );
    assert!(matches!(err, Err(SelectError::DestNotDir(_))));
    let items = plan(
        &tree,
        &["src".into(), "top.rs".into()],
        "/d",
        false,
        &KeepAll,
    );
    assert_eq!(
        dests(&items.unwrap()),
        vec!["d", "d/a.txt", "d/sub", "d/sub/b.txt", "d/top.rs"]
    );
    // Several files onto one name: each replaces the one before (BuildKit).
    let items = plan(
        &tree,
        &["src/*.txt".into(), "top.rs".into()],
        "/f",
        false,
        &KeepAll,
    );
    assert_eq!(dests(&items.unwrap()), vec!["f", "f"]);
    // A wildcard matching nothing is no error; a missing plain path or a wildcard in a
    // missing directory is.
    let items = plan(
        &tree,
        &["top.rs".into(), "*.none".into()],
        "/t",
        false,
        &KeepAll,
    );
    assert_eq!(dests(&items.unwrap()), vec!["t"]);
    assert!(plan(&tree, &["*.none".into()], "/t", false, &KeepAll)
        .unwrap()
        .is_empty());
    assert!(matches!(
        plan(&tree, &["nodir/*.txt".into()], "/t", false, &KeepAll),
        Err(SelectError::NotFound(_))
    ));
    assert!(matches!(
        plan(&tree, &["nope".into()], "/d", false, &KeepAll),
        Err(SelectError::NotFound(_))
    ));
}

#[test]
fn parents_pivot_after_a_wildcard_and_always_make_the_destination() {
    let t = ctx();
    let tree = Tree::new(vec![t.path().into()]);
    let opts = PlanOptions {
        parents: true,
        excludes: None,
    };
    let plan_p = |s: &str| {
        let items = plan_with(&tree, &[s.into()], "/p/", true, &KeepAll, opts).unwrap();
        items.into_iter().map(|i| i.dest).collect::<Vec<_>>()
    };
    // A wildcard pivot has no single directory: the matches make the destination.
    assert_eq!(plan_p("s*/./sub/b.txt"), vec!["p/sub", "p/sub/b.txt"]);
    assert_eq!(plan_p("src/./none*"), vec!["p"]);
    // `**` spans directories under --parents (an include pattern in BuildKit).
    assert_eq!(plan_p("src/./**/b.txt"), vec!["p", "p/sub", "p/sub/b.txt"]);
}

#[test]
fn escapes_are_refused_and_exclusions_apply() {
    let t = ctx();
    let tree = Tree::new(vec![t.path().into()]);
    assert!(matches!(
        plan(&tree, &["../x".into()], "/d", false, &KeepAll),
        Err(SelectError::Outside(_))
    ));
    let items = plan(&tree, &[".".into()], "/", true, &|p: &str| {
        p.starts_with("src")
    })
    .unwrap();
    assert_eq!(dests(&items), vec!["", "top.rs"]);
}

#[test]
fn f7_links_cannot_reach_ignored_files() {
    let t = ctx();
    std::fs::write(t.path().join("secret.txt"), b"s").unwrap();
    std::os::unix::fs::symlink("secret.txt", t.path().join("alias")).unwrap();
    std::os::unix::fs::symlink(".", t.path().join("self")).unwrap();
    std::os::unix::fs::symlink("src", t.path().join("code")).unwrap();
    let tree = Tree::new(vec![t.path().into()]);
    let ignore = Matcher::new(&["secret.txt".to_string(), "src/sub".to_string()]).unwrap();
    for source in [
        "alias",
        "self/secret.txt",
        "self/self/alias",
        "code/sub/b.txt",
    ] {
        assert!(
            matches!(
                plan(&tree, &[source.into()], "/d", false, &ignore),
                Err(SelectError::NotFound(_))
            ),
            "{source} reached an ignored path"
        );
    }
    let items = plan(&tree, &["code/a.txt".into()], "/d", false, &ignore).unwrap();
    assert_eq!(dests(&items), vec!["d"]);
    // An excluded directory with an exception is walked through to the exception.
    let keep = Matcher::new(&["src".to_string(), "!src/a.txt".to_string()]).unwrap();
    let items = plan(&tree, &["code/a.txt".into()], "/d", false, &keep).unwrap();
    assert_eq!(dests(&items), vec!["d"]);
}
