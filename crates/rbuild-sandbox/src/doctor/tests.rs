use super::*;

/// A root build host with everything.
fn good_root() -> Facts {
    Facts {
        euid: 0,
        user: "root".into(),
        kernel: (6, 1),
        max_user_namespaces: Some(15000),
        userns_clone: Some(1),
        apparmor_restrict: None,
        subuid: String::new(),
        subgid: String::new(),
        idmap_tools: true,
        overlay: true,
        cgroups: true,
        cgroup_writable: true,
        net_helper: Some("/usr/bin/slirp4netns".into()),
        tun: true,
        seccomp: true,
        emulated: Some(vec!["linux/arm64"]),
    }
}

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn a_complete_root_host_passes_but_for_rootless_ids() {
    let checks = evaluate(&good_root());
    for c in &checks {
        if c.name == "subordinate ids" {
            assert_eq!(c.status, Status::Optional, "root needs none");
            assert!(c
                .fix
                .as_deref()
                .unwrap()
                .starts_with("usermod --add-subuids"));
        } else {
            assert_eq!(c.status, Status::Ok, "{c:?}");
            assert_eq!(c.fix, None);
        }
    }
}

#[test]
fn each_missing_piece_names_its_fix() {
    let mut f = good_root();
    f.net_helper = None;
    f.seccomp = false;
    f.emulated = None;
    let checks = evaluate(&f);
    let net = find(&checks, "network helper");
    assert_eq!(net.status, Status::Missing);
    assert!(net
        .fix
        .as_deref()
        .unwrap()
        .contains("apt-get install slirp4netns"));
    assert_eq!(find(&checks, "seccomp").status, Status::Missing);
    let emu = find(&checks, "binfmt_misc emulation");
    assert_eq!(emu.status, Status::Optional);
    assert_eq!(emu.detail, "binfmt_misc is not mounted");
}

#[test]
fn a_user_without_rootless_setup_is_told_what_to_run() {
    let f = Facts {
        euid: 1000,
        user: "alice".into(),
        kernel: (5, 10),
        userns_clone: Some(0),
        subuid: "alice:100000:65536\n".into(),
        subgid: "bob:100000:65536\n".into(),
        idmap_tools: false,
        cgroup_writable: false,
        tun: false,
        ..good_root()
    };
    let checks = evaluate(&f);
    let userns = find(&checks, "user namespaces");
    assert_eq!(userns.status, Status::Missing);
    assert_eq!(
        userns.fix.as_deref(),
        Some("sysctl -w kernel.unprivileged_userns_clone=1")
    );
    let ids = find(&checks, "subordinate ids");
    assert_eq!(ids.status, Status::Missing);
    assert_eq!(ids.detail, "alice: uids 100000+65536, gids none");
    assert_eq!(
        find(&checks, "newuidmap and newgidmap").fix.as_deref(),
        Some("apt-get install uidmap")
    );
    // The copied rootfs stands in for it: slower, not missing.
    assert_eq!(
        find(&checks, "overlayfs in a user namespace").status,
        Status::Optional
    );
    let cgroups = find(&checks, "cgroups");
    assert!(cgroups.fix.as_deref().unwrap().contains("Delegate=yes"));
    assert_eq!(cgroups.status, Status::Optional, "only limits need them");
    assert_eq!(
        find(&checks, "root or a user namespace").status,
        Status::Missing
    );
    assert!(find(&checks, "/dev/net/tun for a private network")
        .fix
        .as_deref()
        .unwrap()
        .starts_with("chmod 0666 /dev/net/tun"));
}

#[test]
fn a_prepared_user_may_build_rootless() {
    let f = Facts {
        euid: 1000,
        user: "alice".into(),
        subuid: "alice:100000:65536\n".into(),
        subgid: "alice:100000:65536\n".into(),
        cgroup_writable: false,
        ..good_root()
    };
    let checks = evaluate(&f);
    assert!(
        checks.iter().all(|c| c.status != Status::Missing),
        "{checks:#?}"
    );
    assert_eq!(
        find(&checks, "root or a user namespace").detail,
        "euid 1000: rootless, in a user namespace"
    );
}

#[test]
fn apparmor_restriction_is_named() {
    let f = Facts {
        euid: 1000,
        apparmor_restrict: Some(1),
        ..good_root()
    };
    let c = evaluate(&f);
    assert!(find(&c, "user namespaces")
        .fix
        .as_deref()
        .unwrap()
        .contains("apparmor_restrict_unprivileged_userns=0"));
}
