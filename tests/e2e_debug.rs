//! `rbuild debug parse` and `rbuild debug expand`, run as the real binary (no root needed).
//! The parse cases are BuildKit's parser test files, copied into testdata/parser.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn rbuild(args: &[&str], dir: Option<&Path>, stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("run rbuild");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/parser")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// BuildKit's parser test: `dump(parse(Dockerfile)) + "\n"` equals `result` byte for byte.
#[test]
fn parse_prints_buildkit_dumps_for_all_33_cases() {
    let cases = cases("testfiles");
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let file = case.join("Dockerfile");
        let out = rbuild(
            &["debug", "parse", "-f", file.to_str().unwrap()],
            None,
            None,
        );
        let want = std::fs::read(case.join("result")).unwrap();
        if !out.status.success() || out.stdout != want {
            failures.push(format!(
                "{}: {}\n--- want\n{}--- got\n{}--- stderr\n{}",
                case.display(),
                out.status,
                text(&want),
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn parse_reads_dockerfile_by_default_and_stdin_with_dash() {
    let case = cases("testfiles")
        .into_iter()
        .find(|c| c.ends_with("flags"))
        .unwrap();
    let want = std::fs::read(case.join("result")).unwrap();
    let out = rbuild(&["debug", "parse"], Some(&case), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), text(&want));
    let dockerfile = std::fs::read(case.join("Dockerfile")).unwrap();
    let out = rbuild(&["debug", "parse", "-f", "-"], None, Some(&dockerfile));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), text(&want));
}

/// BuildKit's negative parser cases: every one is an error, and nothing is dumped.
#[test]
fn parse_fails_on_the_negative_cases() {
    let cases = cases("testfiles-negative");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let file = case.join("Dockerfile");
        let out = rbuild(
            &["debug", "parse", "-f", file.to_str().unwrap()],
            None,
            None,
        );
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{} parsed", case.display());
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert!(err.starts_with("ERROR: "), "{}: {err}", case.display());
    }
}

#[test]
fn parse_of_a_missing_file_fails_naming_it() {
    let out = rbuild(
        &["debug", "parse", "-f", "/nonexistent/Dockerfile"],
        None,
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/Dockerfile"));
}

#[test]
fn expand_substitutes_with_the_shell_lexer() {
    let out = rbuild(
        &["debug", "expand", "--env", "A=1", "--", "x${A:-z}y"],
        None,
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "x1y\n");
    let out = rbuild(&["debug", "expand", "--", "x${A:-z}y"], None, None);
    assert_eq!(text(&out.stdout), "xzy\n");
}

#[test]
fn expand_words_prints_one_word_a_line() {
    let out = rbuild(
        &[
            "debug",
            "expand",
            "--words",
            "--env",
            "P=80 443",
            "--",
            "$P 'a b' c\\ d",
        ],
        None,
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "80\n443\na b\nc d\n");
}

#[test]
fn expand_honours_the_escape_character() {
    let out = rbuild(
        &["debug", "expand", "--escape", "`", "--", "a`$b\\c"],
        None,
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "a$b\\c\n");
    let out = rbuild(&["debug", "expand", "--escape", "x", "--", "a"], None, None);
    assert!(!out.status.success());
}

#[test]
fn expand_fails_on_an_unterminated_substitution() {
    let out = rbuild(&["debug", "expand", "--", "a${B"], None, None);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(out.stdout.is_empty());
    assert!(err.contains("missing '}'"), "{err}");
    let out = rbuild(&["debug", "expand", "--", "${A:?must be set}"], None, None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("A: must be set"));
}

/// Docker's `.dockerignore` matcher compiles patterns into Go regexps, which refuse a class
/// range running backwards: `[z-a]` is a bad pattern, named in the error.
#[test]
fn ignore_refuses_a_reversed_class_range_naming_it() {
    let out = rbuild(
        &["debug", "ignore", "--pattern", "[Local-Only]", "x"],
        None,
        None,
    );
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(err.contains("[Local-Only]"), "{err}");
}

/// A Dockerfile error reaches the user once: the reporter prints each `source()` of the
/// chain, so no error may also repeat its source's text (it used to print
/// `Dockerfile:3: unknown flag: bogus: Dockerfile:3: unknown flag: bogus`).
#[test]
fn build_prints_a_dockerfile_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM a\nRUN x\nCOPY --bogus a b\n").unwrap();
    let root = dir.path().join("root");
    let out = rbuild(
        &[
            "--root",
            root.to_str().unwrap(),
            "build",
            "-f",
            dockerfile.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
        None,
        None,
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("unknown flag: --bogus").count(), 1, "{err}");
}
