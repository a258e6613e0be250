//! Rows derived from the behaviour Docker and BuildKit document for `.dockerignore`, and from
//! what their pattern matcher does with `**`, classes and escapes.

use super::*;

/// As the build reads them: lines of a `.dockerignore`.
fn excluded(patterns: &[&str], path: &str) -> bool {
    Matcher::new(&parse_ignore_file(&patterns.join("\n")))
        .unwrap()
        .excluded(path)
}

/// (pattern, path, excluded) for one-pattern ignore files.
const SINGLE_PATTERN_ROWS: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**/", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**", "dir/file/", true),
    ("**/", "dir/file/", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/file/", true),
    ("dir/**", "dir/dir2/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**/dir2/**", "dir/dir2/dir3/file/", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/file", true),
    ("**file", "dir/dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("a\\\\", "a\\", true),
    ("a\\*b", "a*b", true),
    ("a\\*b", "axb", false),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def", true),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08-py3-none-any.whl",
        true,
    ),
    // Docker's documented examples.
    ("*/temp*", "somedir/temporary.txt", true),
    ("*/temp*", "somedir/temp", true),
    ("*/temp*", "temp", false),
    ("*/temp*", "a/b/temp", false),
    ("*/*/temp*", "somedir/subdir/temporary.txt", true),
    ("*/*/temp*", "somedir/temporary.txt", false),
    ("temp?", "tempa", true),
    ("temp?", "temp", false),
    ("temp?", "tempab", false),
    ("**/*.go", "main.go", true),
    ("**/*.go", "cmd/app/main.go", true),
    ("**/*.go", "cmd/app/main.gox", false),
    // A match on a parent excludes everything beneath it.
    ("node_modules", "node_modules/a/b/c.js", true),
    ("node_modules", "src/node_modules/x", false),
    ("*.md", "docs/README.md", false),
    ("*", "anything/below", true),
    ("?", "a/b", true),
    ("a", "ab", false),
    ("a/b", "a", false),
    ("a/b", "a/b/c", true),
    // Leading `/` and `./` are cleaned away; so are `..`, `//` and trailing `/`.
    ("/a", "a", true),
    ("./a", "a", true),
    ("a/../b", "b", true),
    ("a//b/", "a/b", true),
    ("src/", "src/main.rs", true),
    // Docker's string shortcuts.
    ("**file", "xfile", true),
    ("foo**", "foobar/baz", true),
    ("[a-c]*", "b/x", true),
    ("[!a]", "!", true),
    ("x]y", "x]y", true),
];

#[test]
fn single_pattern_table() {
    for &(p, path, want) in SINGLE_PATTERN_ROWS {
        assert_eq!(excluded(&[p], path), want, "pattern {p:?} path {path:?}");
    }
}

#[test]
fn exceptions_and_last_match_wins() {
    let rows: &[(&[&str], &str, bool)] = &[
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md"], "CHANGES.md", true),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-secret.md",
            true,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-other.md",
            false,
        ),
        (
            &["*.md", "README-secret.md", "!README*.md"],
            "README-secret.md",
            false,
        ),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (&["**", "!dist/*.whl"], "dist/x-1.0-py3-none-any.whl", false),
        (&["**", "!dist/*.whl"], "dist/x.tar.gz", true),
        (&["docs", "!docs/keep.md"], "docs/keep.md", false),
        (&["docs", "!docs/keep.md"], "docs/other.md", true),
        (&["docs", "!docs/keep.md"], "docs", true),
        (&["!a", "a"], "a", true),
        (&["a", "!a"], "a/b", false),
        (&["a", "!a/b"], "a/b/c", false),
        (&["a", "!a/b", "a/b/c"], "a/b/c", true),
        (&["vendor", "!**/*.go"], "vendor/x.go", false),
        (&["vendor", "!**/*.go"], "vendor/x.c", true),
        (&["*", "!.dockerignore"], ".dockerignore", false),
        (&["Dockerfile", ".dockerignore"], "Dockerfile", true),
        (&["Dockerfile", ".dockerignore"], "src/Dockerfile", false),
    ];
    for &(pats, path, want) in rows {
        assert_eq!(
            excluded(pats, path),
            want,
            "patterns {pats:?} path {path:?}"
        );
    }
}

#[test]
fn reading_the_file() {
    let text = "\u{feff}# comment\n\n  *.log  \n#not/a/pattern\n ! keep.log\n/abs/dir/\n./rel\n  # indented is a pattern\n!\n";
    assert_eq!(
        parse_ignore_file(text),
        vec![
            "*.log",
            "!keep.log",
            "abs/dir",
            "rel",
            "# indented is a pattern",
            "!",
        ]
    );
    assert_eq!(parse_ignore_file("a\r\nb\r\n"), vec!["a", "b"]);
    assert_eq!(parse_ignore_file("/\n"), vec!["/"]);
    assert!(parse_ignore_file("").is_empty());
}

#[test]
fn go_clean_table() {
    let rows = [
        ("", "."),
        (".", "."),
        ("a/./b", "a/b"),
        ("a/../..", ".."),
        ("../a", "../a"),
        ("/../a", "/a"),
        ("a//b///", "a/b"),
        ("/", "/"),
    ];
    for (i, o) in rows {
        assert_eq!(go_clean(i), o, "{i:?}");
    }
}

#[test]
fn bad_patterns_are_errors_naming_them() {
    for p in ["[", "a[", "[a-", "[]a]", "x\\", "!["] {
        let err = Matcher::new(&[p]).unwrap_err();
        assert!(err.to_string().contains(p), "{err}");
    }
    assert_eq!(Matcher::new(&["!"]).unwrap_err(), IgnoreError::LoneBang);
    assert!(Matcher::new(&["  ", ""]).unwrap().is_empty());
}

#[test]
fn excluded_directories_with_exceptions_are_walked() {
    let m = Matcher::new(&["docs", "!docs/keep.md", "build"]).unwrap();
    assert!(m.may_include_under("docs"));
    assert!(!m.may_include_under("build"));
    assert!(!m.may_include_under("doc"));
    let m = Matcher::new(&["a", "!a/b/c"]).unwrap();
    assert!(m.may_include_under("a"));
    assert!(m.may_include_under("a/b"));
    assert!(!m.may_include_under("a/x"));
    let m = Matcher::new(&["vendor", "!**/*.go"]).unwrap();
    assert!(m.may_include_under("vendor"));
    let m = Matcher::new(&["vendor", "!src/*.go"]).unwrap();
    assert!(!m.may_include_under("vendor"));
    assert!(m.may_include_under("src"));
    let m = Matcher::new(&["*"]).unwrap();
    assert!(!m.may_include_under("x"));
}

/// Docker's matcher turns each pattern into a Go regexp, and Go's regexp refuses a class
/// range whose start is above its end: the build fails with ErrBadPattern instead of the
/// pattern matching nothing.
#[test]
fn reversed_class_range_is_a_syntax_error_as_in_dockers_matcher() {
    for p in ["[z-a]", "[Local-Only]", "src/[^9-0]*", "!a/[b-a]"] {
        let err = Matcher::new(&parse_ignore_file(p)).unwrap_err();
        assert!(matches!(err, IgnoreError::Syntax(_)), "{p}: {err}");
        assert!(err.to_string().contains(p), "{err} does not name {p}");
    }
    for p in ["[a-z]", "[a-a]", "[\\]-a]x", "\\[z-a\\]"] {
        assert!(Matcher::new(&[p]).is_ok(), "{p}");
    }
    assert!(excluded(&["[a-c]x"], "bx"));
    assert!(excluded(&["[^a-c]x"], "dx"));
    assert!(!excluded(&["[\\]-a]x"], "bx"));
}

/// The fuzzer's stall (issue 17): many `*` against a long path that almost matches must not
/// backtrack exponentially (it took 496 s before the matcher was memoised).
#[test]
fn many_stars_match_in_linear_time_not_exponential() {
    // `**` pairs become directory stars, each free to stop at any `/` of the path.
    let stars = format!("a{}b/x*y", "*".repeat(17));
    let path = format!("a{}c/x", "/a".repeat(60));
    let start = std::time::Instant::now();
    assert!(!excluded(&[&stars], &path));
    assert!(excluded(&[&stars], &format!("a{}b/xzy", "/a".repeat(60))));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
