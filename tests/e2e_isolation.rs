//! Issue 17, entitlements and the seccomp switch: `RUN --security=insecure` is refused without
//! `--allow` (the network.host refusals are tests/security/entitlements.rs), a default RUN is
//! filtered (`Seccomp: 2`, `NoNewPrivs: 1`), `--security-opt
//! seccomp=unconfined` lifts the filter, an insecure RUN has every capability and no filter,
//! and `rbuild doctor` reports this machine ready.

mod common;

use common::{run_output, text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// `Seccomp`, `NoNewPrivs` and `CapEff` of /proc/self/status as a RUN prints them.
const STATUS: &str = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status | tr -s '\\t' ' '";

#[test]
fn default_runs_are_filtered_and_insecure_ones_are_not() {
    let env = Env::new();
    let df = format!(
        "FROM busybox\nRUN echo default: $({STATUS} | tr '\\n' ' ')\n\
         RUN --security=insecure echo insecure: $({STATUS} | tr '\\n' ' ')\n"
    );
    let ctx = context(&df);
    let out = env.build_with(ctx.path(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("--allow security.insecure"),
        "{}",
        text(&out)
    );
    let log = env.build_ok(ctx.path(), "sec:1", &["--allow", "security.insecure"]);
    let lines = run_output(&log);
    let default = lines
        .iter()
        .find(|l| l.starts_with("default:"))
        .expect("default line");
    assert!(
        default.contains("Seccomp: 2") && default.contains("NoNewPrivs: 1"),
        "{log}"
    );
    // Every capability there is to have: the host's bounding set.
    let full = format!("CapEff: {}", host_bounding_set());
    assert!(!default.contains(&full), "{log}");
    let insecure = lines
        .iter()
        .find(|l| l.starts_with("insecure:"))
        .expect("insecure line");
    assert!(insecure.contains("Seccomp: 0"), "{log}");
    assert!(insecure.contains(&full), "all capabilities ({full}): {log}");
}

fn host_bounding_set() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn security_opt_seccomp_unconfined_lifts_the_filter() {
    let env = Env::new();
    let ctx = context(&format!(
        "FROM busybox\nRUN echo status: $({STATUS} | tr '\\n' ' ')\n"
    ));
    let log = env.build_ok(
        ctx.path(),
        "unconf:1",
        &["--security-opt", "seccomp=unconfined"],
    );
    let lines = run_output(&log);
    let status = lines
        .iter()
        .find(|l| l.starts_with("status:"))
        .expect("status line");
    assert!(status.contains("Seccomp: 0"), "{log}");
    let bad = env.build_with(ctx.path(), &["--security-opt", "apparmor=x"]);
    assert!(
        text(&bad).contains("seccomp=unconfined|builtin|PROFILE.json"),
        "{}",
        text(&bad)
    );
}

#[test]
fn doctor_reports_each_requirement_and_this_machine_ready() {
    let env = Env::new();
    let out = env.rbuild(&["doctor"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    for need in [
        "overlayfs",
        "cgroups",
        "network helper",
        "seccomp",
        "user namespaces",
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with("ok") && l.contains(need)),
            "{need}: {said}"
        );
    }
}
