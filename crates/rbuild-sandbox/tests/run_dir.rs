//! F10: the caller chooses where a run's own directory goes (the builder passes one inside the
//! store's scratch area, which the store sweeps after a killed build). One test in this binary,
//! so no other run of this process makes temp dirs while it looks.

mod common;
use common::*;
use rbuild_sandbox::{OutputStream, RunSpec, SandboxError};
use std::path::{Path, PathBuf};

/// This process's `rbuild-sandbox-<pid>-*` directories in the temp dir.
fn temp_run_dirs() -> Vec<PathBuf> {
    let prefix = format!("rbuild-sandbox-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// As seen while a run ran: the entries of its run dir, this process's run dirs in the temp dir.
type Seen = (Vec<String>, Vec<PathBuf>);

/// Runs `sp`; returns its stdout and what was [`Seen`] while it ran.
fn run_watching(sp: &RunSpec, run_dir: &Path) -> (String, Option<Seen>) {
    let mut during = None;
    let exe = Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let mut out = Vec::new();
    rbuild_sandbox::run(sp, exe, &mut |st, b| {
        during.get_or_insert_with(|| (names(run_dir), temp_run_dirs()));
        if st == OutputStream::Stdout {
            out.extend_from_slice(b);
        }
    })
    .unwrap();
    (String::from_utf8_lossy(&out).into_owned(), during)
}

#[test]
fn f10_run_dir_lives_under_the_given_dir() {
    require_prereqs();
    let s = Scratch::new("f10-rundir");
    let run_dir = s.path("scratch/run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mut sp = spec(&s, "echo started; cat /etc/hostname");
    sp.run_dir = Some(run_dir.clone());
    let (out, during) = run_watching(&sp, &run_dir);
    assert_eq!(out, "started\nsandbox\n");
    let (inside, in_temp) = during.unwrap();
    assert_eq!(
        inside,
        ["etc", "root"],
        "not in the given dir (empty and secrets only for FROM scratch and secret mounts)"
    );
    assert!(
        in_temp.is_empty(),
        "a temp dir was made anyway: {in_temp:?}"
    );
    assert!(run_dir.is_dir(), "the caller's dir was removed");
    assert!(names(&run_dir).is_empty(), "left: {:?}", names(&run_dir));
    // The same dir serves the next run; a dir with something in it is refused.
    run_ok(&sp);
    std::fs::write(run_dir.join("x"), "").unwrap();
    let e = try_run(&sp).unwrap_err();
    assert!(
        matches!(e, SandboxError::InvalidSpec(ref m) if m.contains("run dir")),
        "{e}"
    );
    // Without one, the temp dir is used and removed.
    sp.run_dir = None;
    run_ok(&sp);
    assert!(temp_run_dirs().is_empty(), "{:?}", temp_run_dirs());
}
