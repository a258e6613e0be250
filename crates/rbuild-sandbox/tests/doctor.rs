//! Issue 17 item 6 (groundwork): doctor() on this machine, as root.

mod common;
use common::*;
use rbuild_sandbox::doctor::{doctor, Status};

#[test]
fn doctor_finds_what_root_runs_need_here() {
    require_prereqs();
    let checks = doctor();
    for c in &checks {
        eprintln!(
            "{:?} {}: {} {}",
            c.status,
            c.name,
            c.detail,
            c.fix.as_deref().unwrap_or("")
        );
    }
    for name in [
        "root or a user namespace",
        "overlayfs",
        "cgroups",
        "network helper",
        "seccomp",
    ] {
        let c = checks.iter().find(|c| c.name == name).unwrap();
        assert_eq!(c.status, Status::Ok, "{c:?}");
    }
    // Rootless requirements never block root.
    assert!(
        checks.iter().all(|c| c.status != Status::Missing),
        "{checks:#?}"
    );
}
