//! runc CVE-2024-21626 ("Leaky Vessels"): a descriptor of the host left open in the container
//! let `WORKDIR /proc/self/fd/N` put the step's working directory on the host's filesystem.
//! (Moved here from e2e_holes.rs, where it was finding F1 of issue 12; the sandbox crate's
//! tests/fds.rs checks the same at the crate level.)

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// `rbuild build` run by `bash -c PRELUDE; exec rbuild ...`, so the shell can open descriptors
/// that rbuild inherits (as a CI agent's would be); bash, because dash cannot redirect fds
/// above 9.
fn build_from_shell(env: &Env, prelude: &str, ctx: &Path) -> Output {
    let script =
        format!("{prelude}\nexec \"$0\" --root \"$1\" build --progress plain --no-cache \"$2\"",);
    Command::new(rbuild_testkit::require_tool("bash", "bash"))
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_rbuild"))
        .arg(env.store())
        .arg(ctx)
        .output()
        .unwrap()
}

#[test]
fn cve_2024_21626_leaked_fds_workdir_proc_self_fd() {
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "HOSTSECRET-F1\n").unwrap();
    let opens: String = (3..=20)
        .map(|n| format!("exec {n}<'{}'\n", host.path().display()))
        .collect();
    for n in 3..=20 {
        let ctx = context(&format!(
            "FROM busybox\nWORKDIR /proc/self/fd/{n}\nRUN cat f ../../../etc/hostname; touch created-{n}\n"
        ));
        let out = build_from_shell(&env, &opens, ctx.path());
        let log = text(&out);
        assert!(
            !log.contains("HOSTSECRET-F1"),
            "fd {n} leaked the host dir:\n{log}"
        );
        assert!(
            !host.path().join(format!("created-{n}")).exists(),
            "fd {n}: RUN wrote into the host dir:\n{log}"
        );
    }
    // Whatever the caller leaves open, the step's own descriptors are 0, 1, 2 and the one
    // `ls` reads the directory with.
    let ctx = context("FROM busybox\nRUN echo \"FDS: $(ls /proc/self/fd | tr '\\n' ' ')\"\n");
    let out = build_from_shell(&env, &opens, ctx.path());
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("FDS: ") && !l.contains("RUN "))
        .unwrap_or_else(|| panic!("{log}"));
    let fds: Vec<u32> = line
        .split("FDS: ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|f| f.parse().unwrap())
        .collect();
    assert!(
        fds.iter().all(|fd| *fd <= 3),
        "RUN inherited descriptors: {line}"
    );
}
