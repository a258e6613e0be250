//! Tests of git.rs: subdirectories confined to the checkout, checksums, typed errors.

use super::*;

/// A word that must parse as a git source.
fn p(word: &str) -> Option<GitSource> {
    parse(word).unwrap()
}

#[test]
fn git_sources_are_recognised() {
    let g = p("https://example.com/r.git#v1:docs/").unwrap();
    assert_eq!(g.url, "https://example.com/r.git");
    assert_eq!(g.reference.as_deref(), Some("v1"));
    assert_eq!(g.subdir.as_deref(), Some("docs"));
    assert_eq!(p("git@github.com:a/b.git").unwrap().reference, None);
    assert_eq!(p("github.com/a/b").unwrap().url, "https://github.com/a/b");
    assert!(p("https://example.com/file.tar.gz").is_none());
    assert!(p("src/").is_none());
    let g = p("http://h/r.git#:sub").unwrap();
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
    let src = p("https://user:secret@127.0.0.1:1/r.git#main").unwrap();
    let err = resolve_commit(&src, &Transport::default()).unwrap_err();
    let GitError::Failed { args, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        args.starts_with("ls-remote -- https://127.0.0.1:1/r.git"),
        "{args}"
    );
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn an_ssh_remote_without_an_agent_needs_ssh() {
    for url in ["git@127.0.0.1:r.git", "ssh://git@127.0.0.1:1/r.git"] {
        let src = p(url).unwrap();
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
    assert!(!p("https://h/r.git").unwrap().is_ssh());
    assert!(!p("git://h/r.git").unwrap().is_ssh());
}

#[test]
fn checksums_are_hex_and_must_prefix_a_commit_ref() {
    let t = Transport::default();
    let with = |url: &str| p(url).unwrap();
    let mut g = with("http://127.0.0.1:1/r.git#v1");
    g.checksum = Some("foobar".into());
    let err = resolve_commit(&g, &t).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid checksum foobar for Git URL, expected hex commit hash"
    );
    // A commit as the reference is checked without asking the remote (port 1 is closed).
    let c = "671d9852826c650e3d1cf24fb689c99865823edf";
    let g = with(&format!("http://127.0.0.1:1/r.git?ref={c}&commit=671d98"));
    assert_eq!(resolve_commit(&g, &t).unwrap(), c);
    let g = with(&format!("http://127.0.0.1:1/r.git?ref={c}&commit=6de45a"));
    let err = resolve_commit(&g, &t).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("expected checksum to match 6de45a, got 671d98"),
        "{err}"
    );
    let sha256 = "fd26794924a800067d86d16fec99acd754169ec71b8ba8fcfb643d2b04d298f7";
    assert!(is_commit(sha256) && is_commit(c) && !is_commit("671d9852"));
    let g = with(&format!("http://127.0.0.1:1/r.git#{sha256}"));
    assert_eq!(resolve_commit(&g, &t).unwrap(), sha256);
}

#[test]
fn ls_remote_lines_prefer_exact_then_branch_then_peeled_tag() {
    let out = "1111111111111111111111111111111111111111\trefs/heads/v1\n\
               2222222222222222222222222222222222222222\trefs/tags/v1\n\
               3333333333333333333333333333333333333333\trefs/tags/v2\n\
               4444444444444444444444444444444444444444\trefs/tags/v2^{}\n";
    assert!(pick_ref(out, "v1").unwrap().listed.starts_with('1'));
    assert!(pick_ref(out, "refs/tags/v1")
        .unwrap()
        .listed
        .starts_with('2'));
    let v2 = pick_ref(out, "v2").unwrap();
    assert_eq!(
        (v2.listed.chars().next(), v2.peeled.unwrap().chars().next()),
        (Some('3'), Some('4'))
    );
    assert!(pick_ref(out, "refs/heads/v2").is_none());
    assert!(pick_ref(out, "v3").is_none());
}

#[test]
fn fetch_by_commit_needs_a_full_commit_and_asks_no_remote() {
    let t = Transport::default();
    let c = "671d9852826c650e3d1cf24fb689c99865823edf";
    let g = p(&format!(
        "http://127.0.0.1:1/r.git?ref=main&fetch-by-commit&commit={c}"
    ))
    .unwrap();
    assert_eq!(resolve_commit(&g, &t).unwrap(), c);
    let g = p("http://127.0.0.1:1/r.git?ref=main&fetch-by-commit&commit=671d98").unwrap();
    let err = resolve_commit(&g, &t).unwrap_err();
    assert!(matches!(err, GitError::FetchByCommit(_)), "{err:?}");
}
