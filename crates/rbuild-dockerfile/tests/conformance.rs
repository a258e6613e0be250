//! BuildKit parser conformance: the upstream corpus copied into testdata/buildkit-parser.

use std::fs;
use std::path::{Path, PathBuf};

use rbuild_dockerfile::{dump, parse};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/buildkit-parser")
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(data().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

#[test]
fn positive_dumps_are_byte_identical() {
    let cases = cases("testfiles");
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let want = fs::read_to_string(case.join("result")).unwrap();
        match parse(&text) {
            Ok(ast) => {
                let got = dump(&ast) + "\n";
                if got != want {
                    failures.push(format!(
                        "{}:\n--- want\n{want}--- got\n{got}",
                        case.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 33 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn negatives_are_rejected() {
    let cases = cases("testfiles-negative");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let text = fs::read_to_string(case.join("Dockerfile")).unwrap();
        let err = parse(&text).expect_err(&case.display().to_string());
        let name = case.file_name().unwrap().to_str().unwrap();
        let want = match name {
            "empty_dockerfile" | "only_comments" => "file with no instructions",
            "env_no_value" => "ENV must have two arguments",
            "shykes-nested-json" => {
                "when using JSON array syntax, arrays must be comprised of strings only"
            }
            other => panic!("unexpected case {other}"),
        };
        assert_eq!(err.message(), want, "{name}");
    }
}

#[test]
fn line_ranges() {
    let text = fs::read_to_string(data().join("testfile-line/Dockerfile")).unwrap();
    let ast = parse(&text).unwrap();
    let ranges: Vec<_> = ast
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line))
        .collect();
    assert_eq!(ranges, vec![(5, 5), (11, 12), (17, 31)]);
    assert_eq!((ast.start_line, ast.end_line), (5, 31));
}
