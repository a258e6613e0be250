//! BuildKit CVE-2024-23653: an API path started privileged containers without checking the
//! entitlement. In rbuild every process a build starts is a RUN step, whether the Dockerfile
//! wrote it or a base image's ONBUILD trigger did; `--network host`, `RUN --network=host` and
//! `RUN --security=insecure` each need their `--allow` (BuildKit's names), and the refusal
//! comes before any step runs. (The first test moved here from e2e_isolation.rs, which keeps
//! what an allowed insecure step gets.)

use crate::common::mounts::dockerfile;
use crate::common::{run_output, text, Env};

fn context(body: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(ctx.path(), body);
    ctx
}

#[test]
fn cve_2024_23653_host_network_needs_the_network_host_entitlement() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN --network=host true\n");
    let out = env.build_with(ctx.path(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("Dockerfile:2") && err.contains("--allow network.host"),
        "{err}"
    );
    let plain = context("FROM busybox\nRUN true\n");
    let out = env.build_with(plain.path(), &["--network", "host"]);
    assert!(
        text(&out).contains("add --allow network.host"),
        "{}",
        text(&out)
    );
    env.build_ok(ctx.path(), "host:1", &["--allow", "network.host"]);
    let bad = env.build_with(plain.path(), &["--allow", "network.everything"]);
    assert!(text(&bad).contains("unknown entitlement"), "{}", text(&bad));
}

/// A hostile image publisher's ONBUILD triggers run in the child's build: they are refused the
/// same way, and nothing of the child runs.
#[test]
fn cve_2024_23653_onbuild_triggers_of_a_base_need_the_entitlement_too() {
    let env = Env::new();
    for (trigger, allow) in [
        (
            "RUN --security=insecure echo PRIVILEGED-RAN",
            "security.insecure",
        ),
        ("RUN --network=host echo PRIVILEGED-RAN", "network.host"),
    ] {
        let base = context(&format!("FROM busybox:latest\nONBUILD {trigger}\n"));
        env.build_ok(base.path(), "trigger-base:1", &[]);
        let child = context("FROM trigger-base:1\nRUN echo CHILD-RAN\n");
        let out = env.build_with(child.path(), &["--no-cache"]);
        let log = text(&out);
        assert!(!out.status.success(), "{trigger}: accepted:\n{log}");
        assert!(
            log.contains(&format!("--allow {allow}")),
            "{trigger}: {log}"
        );
        let ran = run_output(&log);
        assert!(
            !ran.contains(&"PRIVILEGED-RAN") && !ran.contains(&"CHILD-RAN"),
            "{trigger}: a step ran before the refusal:\n{log}"
        );
        let log = env.build_ok(child.path(), "trigger-child:1", &["--allow", allow]);
        let ran = run_output(&log);
        assert!(
            ran.contains(&"PRIVILEGED-RAN"),
            "{trigger} with --allow: {log}"
        );
    }
}
