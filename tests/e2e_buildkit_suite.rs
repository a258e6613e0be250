//! BuildKit's Dockerfile integration tests, ported as data in testdata/buildkit-suite/: every
//! "ported" case is built by the rbuild under test and checked by scripts/buildkit-suite.py
//! (cases marked `rbuild_differs` must still fail, so a fixed difference is noticed), and
//! docs/CONFORMANCE.md must be what the script generates from the case directories.

mod common;

use std::process::{Command, Output};

use common::{project, text, Env, DEAD_PROXY, LOCAL_HOSTS};
use rbuild_testkit::require_tool;

/// `python3 scripts/buildkit-suite.py ARGS` from the project directory, unsealed.
fn suite_command(args: &[&str]) -> Command {
    let python = require_tool("python3", "python3");
    let mut cmd = Command::new(python);
    cmd.current_dir(project())
        .arg("scripts/buildkit-suite.py")
        .args(args);
    cmd
}

/// Every ported case built by this rbuild on a store holding the busybox base: the runner
/// passes (no FAIL; no XPASS, i.e. no `rbuild_differs` case that now passes).
#[test]
fn ported_buildkit_tests_pass_on_rbuild() {
    let env = Env::new();
    let store = env.store();
    let mut cmd = suite_command(&[
        "run",
        "--builder",
        "rbuild",
        "--rbuild",
        env!("CARGO_BIN_EXE_rbuild"),
        "--root",
        store.to_str().unwrap(),
    ]);
    // The seal of common::rbuild_command, for the rbuild processes the runner starts.
    cmd.env("DOCKER_CONFIG", env.docker_config())
        .env("RBUILD_CONFIG", "/dev/null")
        .env("NO_PROXY", LOCAL_HOSTS)
        .env("no_proxy", LOCAL_HOSTS)
        .env_remove("RBUILD_ROOT");
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env(var, DEAD_PROXY).env(var.to_lowercase(), DEAD_PROXY);
    }
    if let Ok(filter) = std::env::var("BUILDKIT_SUITE_FILTER") {
        cmd.args(["--filter", &filter]);
    }
    let out: Output = cmd.output().unwrap();
    let all = text(&out);
    // The whole report goes to a file and only the failing verdicts to the test's output: CI
    // shows a window of its log, and a few hundred PASS lines pushed a FAIL out of it.
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("buildkit-suite.log");
    let saved = match std::fs::write(&log, &all) {
        Ok(()) => format!("the whole report: {}", log.display()),
        Err(e) => format!("(the report could not be saved to {}: {e})", log.display()),
    };
    assert!(
        out.status.success(),
        "the BuildKit suite fails on rbuild:\n{}\n{saved}",
        failing_verdicts(&all)
    );
    println!("{}\n{saved}", failing_verdicts(&all));
}

/// The runner's FAIL and XPASS verdicts, each with the lines of its message, and its totals.
fn failing_verdicts(output: &str) -> String {
    let verdict = |l: &str| {
        ["PASS ", "XFAIL ", "FAIL ", "XPASS ", "totals "]
            .iter()
            .any(|w| l.starts_with(w))
    };
    let mut kept = Vec::new();
    let mut keeping = false;
    for line in output.lines() {
        if verdict(line) {
            keeping = line.starts_with("FAIL ")
                || line.starts_with("XPASS ")
                || line.starts_with("totals ");
        }
        if keeping {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// docs/CONFORMANCE.md is current and every case directory's expect.toml is valid (known
/// status, reason where required, the Go test named, a Dockerfile for ported cases).
#[test]
fn conformance_table_is_current_and_cases_are_valid() {
    let out = suite_command(&["table", "--check"]).output().unwrap();
    assert!(
        out.status.success(),
        "run `scripts/buildkit-suite.py table` and fix the cases it names:\n{}",
        text(&out)
    );
}
