//! Tests of git_url.rs: BuildKit's URL forms, query options and their errors
//! (`frontend/dockerfile/dfgitutil/git_ref_test.go`, `testGitQueryString`).

use super::*;

fn ok(word: &str) -> GitSource {
    parse(word).unwrap().unwrap()
}

fn fails(word: &str) -> String {
    parse(word).unwrap_err().to_string()
}

#[test]
fn git_sources_are_recognised() {
    let g = ok("https://example.com/r.git#v1:docs/");
    assert_eq!(g.url, "https://example.com/r.git");
    assert_eq!(g.reference.as_deref(), Some("v1"));
    assert_eq!(g.subdir.as_deref(), Some("docs"));
    assert!(g.submodules && g.keep_git_dir.is_none() && g.checksum.is_none());
    assert_eq!(ok("git@github.com:a/b.git").reference, None);
    assert_eq!(ok("github.com/a/b").url, "https://github.com/a/b");
    assert!(parse("https://example.com/file.tar.gz").unwrap().is_none());
    assert!(parse("https://example.com/file?x=a.git").unwrap().is_none());
    assert!(parse("src/").unwrap().is_none());
    let g = ok("http://h/r.git#:sub");
    assert_eq!((g.reference, g.subdir.as_deref()), (None, Some("sub")));
}

#[test]
fn query_options_select_ref_commit_and_subdir() {
    let g = ok("http://h/.git?tag=v0.0.2&commit=671d9852");
    assert_eq!(g.url, "http://h/.git");
    assert_eq!(g.reference.as_deref(), Some("refs/tags/v0.0.2"));
    assert_eq!(g.checksum.as_deref(), Some("671d9852"));
    assert_eq!(
        ok("http://h/.git?branch=base").reference.as_deref(),
        Some("refs/heads/base")
    );
    assert_eq!(
        ok("http://h/.git?ref=base").reference.as_deref(),
        Some("base")
    );
    assert_eq!(
        ok("http://h/.git?checksum=ab").checksum.as_deref(),
        Some("ab")
    );
    let g = ok("http://h/.git?subdir=sub&ref=feature");
    assert_eq!(
        (g.reference.as_deref(), g.subdir.as_deref()),
        (Some("feature"), Some("sub"))
    );
    // The same ref twice, in the fragment and the query, is no conflict.
    let g = ok("http://h/.git?tag=v0.0.2#refs/tags/v0.0.2");
    assert_eq!(g.reference.as_deref(), Some("refs/tags/v0.0.2"));
    assert_eq!(ok("git@h:r.git?ref=x#x").url, "git@h:r.git");
    assert_eq!(
        ok("http://h/.git?ref=a%2Fb").reference.as_deref(),
        Some("a/b")
    );
}

#[test]
fn boolean_options_take_go_booleans_or_no_value() {
    assert_eq!(ok("http://h/.git?keep-git-dir").keep_git_dir, Some(true));
    assert_eq!(ok("http://h/.git?keep-git-dir=").keep_git_dir, Some(true));
    assert_eq!(ok("http://h/.git?keep-git-dir=0").keep_git_dir, Some(false));
    assert_eq!(
        ok("http://h/.git?keep-git-dir=True").keep_git_dir,
        Some(true)
    );
    assert!(!ok("http://h/.git?submodules=false").submodules);
    assert!(ok("http://h/.git?submodules").submodules);
    assert_eq!(ok("http://h/.git?mtime=commit").mtime, MTime::Commit);
    assert_eq!(ok("http://h/.git?mtime=checkout").mtime, MTime::Checkout);
    assert!(ok("http://h/.git?fetch-by-commit&commit=ab").fetch_by_commit);
}

#[test]
fn invalid_options_fail_with_buildkits_texts() {
    let cases = [
        (
            "http://h/.git?tag=v0.0.2#refs/heads/master",
            r#"ref conflicts: "refs/heads/master" vs "refs/tags/v0.0.2""#,
        ),
        ("http://h/.git?ref=a#b", r#"ref conflicts: "b" vs "a""#),
        ("http://h/.git?tag=a&branch=b", "branch conflicts with tag"),
        (
            "http://h/.git?subdir=x#:y",
            r#"subdir conflicts: "y" vs "x""#,
        ),
        ("http://h/.git?ref", r#"query "ref" has no value"#),
        (
            "http://h/.git?ref=a&ref=b",
            r#"query "ref" has multiple values"#,
        ),
        ("http://h/.git?foo=1", r#"unexpected query "foo""#),
        (
            "http://h/.git?keep-git-dir=maybe",
            r#"invalid keep-git-dir value: "maybe""#,
        ),
        (
            "http://h/.git?submodules=2",
            r#"invalid submodules value: "2""#,
        ),
        (
            "http://h/.git?mtime=now",
            r#"invalid mtime value: "now" (must be "checkout" or "commit")"#,
        ),
    ];
    for (word, want) in cases {
        assert_eq!(fails(word), want, "{word}");
    }
}

#[test]
fn identity_names_every_option_that_selects_files() {
    let a = ok("http://h/.git?ref=x").identity();
    assert_ne!(a, ok("http://h/.git?ref=x&submodules=false").identity());
    assert_ne!(a, ok("http://h/.git?ref=x&keep-git-dir").identity());
    assert_eq!(a, ok("http://h/.git?ref=x&commit=ab").identity());
    assert_ne!(a, ok("http://h/.git?ref=x&mtime=commit").identity());
    assert_ne!(a, ok("http://h/.git?ref=x&subdir=s").identity());
    assert_eq!(a, ok("http://h/.git#x").identity());
}
