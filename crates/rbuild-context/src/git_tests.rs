//! Tests of git.rs: source parsing, subdirectories confined to the checkout, typed errors.

use super::*;

#[test]
fn git_sources_are_recognised() {
    let g = parse("https://example.com/r.git#v1:docs/").unwrap();
    assert_eq!(g.url, "https://example.com/r.git");
    assert_eq!(g.reference.as_deref(), Some("v1"));
    assert_eq!(g.subdir.as_deref(), Some("docs"));
    assert_eq!(parse("git@github.com:a/b.git").unwrap().reference, None);
    assert_eq!(
        parse("github.com/a/b").unwrap().url,
        "https://github.com/a/b"
    );
    assert!(parse("https://example.com/file.tar.gz").is_none());
    assert!(parse("src/").is_none());
    let g = parse("http://h/r.git#:sub").unwrap();
    assert_eq!((g.reference, g.subdir.as_deref()), (None, Some("sub")));
}

#[test]
fn subdirs_stay_inside_the_checkout() {
    let base = tempfile::tempdir().unwrap();
    let repo = base.path().join("repo");
    std::fs::create_dir_all(repo.join("docs/inner")).unwrap();
    std::fs::create_dir(base.path().join("outside")).unwrap();
    let link = |target: &str, name: &str| {
        std::os::unix::fs::symlink(target, repo.join(name)).unwrap();
    };
    link("/etc", "abs");
    link("../outside", "rel");
    link("docs/inner", "alias");
    let real = repo.canonicalize().unwrap();
    let ok = |s: &str| subdir_inside(&repo, s).unwrap();
    assert_eq!(ok("docs"), real.join("docs"));
    assert_eq!(ok("alias"), real.join("docs/inner"));
    assert_eq!(ok("docs/../docs/inner"), real.join("docs/inner"));
    for bad in [
        "abs",
        "rel",
        "..",
        "../outside",
        "docs/../../outside",
        "alias/../../..",
    ] {
        let err = subdir_inside(&repo, bad).unwrap_err();
        assert!(
            matches!(err, GitError::SubdirOutside { .. }),
            "{bad}: {err:?}"
        );
    }
    let err = subdir_inside(&repo, "nope").unwrap_err();
    assert!(matches!(err, GitError::SubdirMissing { .. }), "{err:?}");
}

#[test]
fn failures_are_typed_and_hide_url_credentials() {
    let src = parse("https://user:secret@127.0.0.1:1/r.git#main").unwrap();
    let err = resolve_commit(&src, &Transport::default()).unwrap_err();
    let GitError::Failed { args, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        args.starts_with("ls-remote https://127.0.0.1:1/r.git"),
        "{args}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn an_ssh_remote_without_an_agent_needs_ssh() {
    for url in ["git@127.0.0.1:r.git", "ssh://git@127.0.0.1:1/r.git"] {
        let src = parse(url).unwrap();
        assert!(src.is_ssh(), "{url}");
        let err = resolve_commit(&src, &Transport::default()).unwrap_err();
        assert!(matches!(err, GitError::NeedsSsh { .. }), "{err:?}");
        assert!(err.to_string().contains("needs --ssh"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("c");
        let err = checkout(&src, "HEAD", &at, false, &Transport::default()).unwrap_err();
        assert!(matches!(err, GitError::NeedsSsh { .. }), "{err:?}");
        assert!(!at.exists(), "nothing is run before the check");
    }
    assert!(!parse("https://h/r.git").unwrap().is_ssh());
    assert!(!parse("git://h/r.git").unwrap().is_ssh());
}
