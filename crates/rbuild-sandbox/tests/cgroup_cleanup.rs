//! Every run's cgroup is removed afterwards, however the run ended. One test in this binary, so
//! no other run of this process can own a cgroup while it looks.

mod common;
use common::*;
use rbuild_sandbox::{ExitReason, Limits};

#[test]
fn f3_run_cgroup_is_removed_after_the_run() {
    require_prereqs();
    let limited = Limits {
        memory: Some(128 << 20),
        pids: Some(100),
        ..Default::default()
    };
    // While a run runs, its cgroups exist and hold it: what is gone afterwards was there.
    let during = Scratch::new("cgclean-during");
    let mut sp = spec(&during, "");
    sp.limits = limited.clone();
    let (mut held, listed) =
        while_running(during, sp, |pid| (run_cgroups_of(pid), leftover_cgroups()));
    held.sort();
    assert!(
        held.len() >= 3,
        "memory, pids and devices cgroups expected: {held:?}"
    );
    assert_eq!(
        held, listed,
        "the leftover check does not see the run's cgroups"
    );
    let s = Scratch::new("cgclean");
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
