//! USER resolution inside the rootfs and ownership of created files.

mod common;
use common::*;
use rbuild_sandbox::ExitReason;
use std::os::unix::fs::MetadataExt;

#[test]
fn user_app_runs_with_its_ids_and_owns_its_files() {
    require_prereqs();
    let s = Scratch::new("userapp");
    let mut sp = spec(
        &s,
        "id; echo HOME=$HOME; touch /tmp/owned; grep -E '^Cap(Eff|Prm)' /proc/self/status",
    );
    sp.user = "app".into();
    let out = run_ok(&sp);
    assert!(
        out.starts_with("uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)"),
        "{out}"
    );
    assert!(out.contains("HOME=/home/app"), "{out}");
    assert!(
        out.contains("CapEff:\t0000000000000000") && out.contains("CapPrm:\t0000000000000000"),
        "{out}"
    );
    let meta = std::fs::metadata(s.path("upper/tmp/owned")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
}

#[test]
fn numeric_and_group_forms() {
    require_prereqs();
    let s = Scratch::new("usernum");
    let mut sp = spec(&s, "id -u; id -g; echo $HOME");
    sp.user = "4242".into();
    assert_eq!(run_ok(&sp), "4242\n0\n/\n");
    sp.user = "app:extra".into();
    assert_eq!(run_ok(&sp), "1000\n2000\n/home/app\n");
    sp.user = "1000:77".into();
    sp.env.push("HOME=/custom".into());
    assert_eq!(run_ok(&sp), "1000\n77\n/custom\n");
}

#[test]
fn unknown_user_is_an_error_naming_it() {
    require_prereqs();
    let s = Scratch::new("userbad");
    let mut sp = spec(&s, "true");
    sp.user = "ghost".into();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let err = rbuild_sandbox::run(&sp, exe, &mut |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains("unable to find user ghost"),
        "{err}"
    );
    assert_eq!(
        tree(&s.path("upper")),
        Vec::<String>::new(),
        "stubs left after a failed setup"
    );
    sp.user = "app:nogroup".into();
    let err = rbuild_sandbox::run(&sp, exe, &mut |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains("unable to find group nogroup"),
        "{err}"
    );
    let _ = ExitReason::Exited(0);
}
