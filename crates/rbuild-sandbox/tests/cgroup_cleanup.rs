//! Every run's cgroup is removed afterwards, however the run ended. One test in this binary, so
//! no other run of this process can own a cgroup while it looks.

mod common;
use common::*;
use rbuild_sandbox::{ExitReason, Limits};

#[test]
fn f3_run_cgroup_is_removed_after_the_run() {
    require_prereqs();
    let s = Scratch::new("cgclean");
    let limited = Limits {
        memory: Some(128 << 20),
        pids: Some(100),
        ..Default::default()
    };
    let mut sp = spec(&s, "true");
    sp.limits = limited.clone();
    run_ok(&sp);
    assert_eq!(
        leftover_cgroups(),
        Vec::<std::path::PathBuf>::new(),
        "after a success"
    );
    let mut sp = spec(&s, "exit 3");
    sp.limits = limited;
    assert_eq!(run(&sp).reason, ExitReason::Exited(3));
    let mut sp = spec(&s, "");
    sp.argv = vec!["/no/such/binary".into()];
    assert_eq!(run(&sp).reason, ExitReason::Exited(127));
    let mut sp = spec(&s, "true");
    sp.user = "nobody-here".into();
    assert!(try_run(&sp).is_err(), "an unknown user must fail the setup");
    let mut sp = spec(&s, "true");
    sp.cwd = "/proc/self/root".into();
    assert!(
        try_run(&sp).is_err(),
        "a magic-link cwd must fail the setup"
    );
    assert_eq!(
        leftover_cgroups(),
        Vec::<std::path::PathBuf>::new(),
        "after failures"
    );
}
