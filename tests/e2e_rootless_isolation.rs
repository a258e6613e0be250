//! Issue 17, rootless, beyond the core suite: what an ordinary user's RUN can reach (no host
//! loopback, egress for apt-get), its limits (a delegated cgroup v2 subtree, or a warning), and
//! root of a user namespace as a Pod with `hostUsers: false` runs rbuild.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use common::rootless::Home;
use common::text;

#[test]
fn rootless_run_reaches_no_host_loopback_and_says_its_limits_do_not_hold() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = (&conn).write_all(b"HTTP/1.0 200 OK\r\n\r\nHOST-LOOPBACK-SECRET\n");
        }
    });
    let home = Home::new();
    home.import_busybox();
    let ctx = home.context(
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nRUN for h in 127.0.0.1 10.0.2.2; do \
                 wget -T 3 -qO- http://$h:{port}/ || echo \"unreachable $h\"; done\n"
            ),
        )],
    );
    let out = home.rbuild(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "--memory",
        "256m",
        ctx.to_str().unwrap(),
    ]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("HOST-LOOPBACK-SECRET"), "{log}");
    assert!(
        log.contains("unreachable 127.0.0.1") && log.contains("unreachable 10.0.2.2"),
        "{log}"
    );
    assert!(
        log.contains("rootless: the resource limits of this step") && log.contains("not applied"),
        "a limit that cannot hold is said:\n{log}"
    );
}

#[test]
fn apt_get_installs_in_a_debian_base_as_an_ordinary_user() {
    let home = Home::new();
    // A copy, not a link: handing a link to the user would hand over the shared cache file.
    let tar = home.path().join("debian.tar");
    std::fs::copy(rbuild_testkit::debian_tarball_path().unwrap(), &tar).unwrap();
    home.give(&tar);
    // Its /dev holds device nodes, which a user namespace cannot make: they are left out.
    home.ok(&["import", tar.to_str().unwrap(), "debian:rootless"]);
    let ctx = home.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM debian:rootless\nRUN apt-get update && \
             apt-get install -y --no-install-recommends jq && jq --version && \
             stat -c '%u:%g %n' /usr/bin/jq /var/lib/apt/lists\n",
        )],
    );
    let built = home.ok(&["build", "--progress", "plain", ctx.to_str().unwrap()]);
    assert!(built.contains("jq-1."), "{built}");
    assert!(built.contains("0:0 /usr/bin/jq"), "{built}");
}

/// The cgroup2 mount of this host (the unified one of a hybrid host).
fn cgroup2_mount() -> std::path::PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })
        .and_then(|l| l.split_whitespace().nth(4))
        .map(std::path::PathBuf::from)
        .expect("a cgroup2 hierarchy (mount -t cgroup2 none /sys/fs/cgroup/unified)")
}

/// Removes a test cgroup and the ones rbuild made below it, deepest first.
fn remove_cgroup(dir: &Path) {
    for sub in ["rbuild", "rbuild-builder"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten().filter(|e| e.path().is_dir()) {
                let _ = std::fs::remove_dir(e.path());
            }
        }
        let _ = std::fs::remove_dir(dir.join(sub));
    }
    let _ = std::fs::remove_dir(dir);
}

#[test]
fn a_delegated_cgroup_v2_subtree_carries_rootless_limits_where_its_controllers_allow() {
    let home = Home::new();
    home.import_busybox();
    // What systemd's Delegate=yes gives a user: a directory and its control files, chowned.
    let dir = cgroup2_mount().join(common::unique_name("rbuild-rootless-delegated"));
    std::fs::create_dir(&dir).unwrap();
    let owner = format!("{}:{}", home.account.uid, home.account.gid);
    let chown = Command::new("chown")
        .arg(&owner)
        .arg(&dir)
        .args(["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"].map(|f| dir.join(f)))
        .output()
        .unwrap();
    assert!(chown.status.success(), "{}", text(&chown));
    let ctx = home.context("ctx", &[("Dockerfile", "FROM busybox\nRUN echo ran\n")]);
    let out = home
        .command_in_cgroup(&dir)
        .args([
            "build",
            "--progress",
            "plain",
            "--no-cache",
            "--memory",
            "64m",
        ])
        .arg(&ctx)
        .output()
        .unwrap();
    let log = text(&out);
    let leaf_made = dir.join("rbuild-builder").is_dir();
    let memory = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    remove_cgroup(&dir);
    assert!(out.status.success(), "{log}");
    assert!(
        leaf_made,
        "rbuild moves the subtree's processes into a leaf:\n{log}"
    );
    if memory.split_whitespace().any(|c| c == "memory") {
        assert!(!log.contains("WARNING: rootless"), "{log}");
    } else {
        // A hybrid host binds memory to v1: the attempt is made, and the warning says why.
        let why = format!(
            "{}/cgroup.subtree_control: write \"+memory\"",
            dir.display()
        );
        assert!(
            log.contains("are not applied") && log.contains(&why),
            "{log}"
        );
    }
}

#[test]
fn root_inside_a_user_namespace_builds_as_in_a_pod_with_host_users_false() {
    // A Pod with hostUsers: false runs rbuild as root of a user namespace (the node sees an
    // unprivileged id): made here by the ordinary user with util-linux's unshare.
    let home = Home::new();
    let tar = home.path().join("busybox.tar");
    rbuild_testkit::busybox_tarball(&tar).unwrap();
    home.give(&tar);
    let ctx = home.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN cat /proc/self/uid_map > /map && touch /made\n",
        )],
    );
    let store = home.path().join("pod-store");
    let script = format!(
        "set -e; rbuild --root {s} import {t} busybox:latest >/dev/null; \
         rbuild --root {s} build --progress plain -o type=local,dest={o} {c}",
        s = store.display(),
        t = tar.display(),
        o = home.path().join("out").display(),
        c = ctx.display(),
    );
    let bin_dir = home.account.bin_dir();
    let out = home
        .shell_as_user()
        .arg(format!(
            "PATH={}:$PATH unshare --user --map-root-user --map-auto sh -c '{script}'",
            bin_dir.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let map = std::fs::read_to_string(home.path().join("out/map")).unwrap();
    // Inside the step, ids 1.. come from the subordinate range, as in the pod's namespace.
    assert!(map.lines().count() >= 2, "{map}");
    assert!(home.path().join("out/made").exists());
}

#[test]
fn a_user_without_subordinate_ids_builds_with_only_root_mapped_and_is_told_so() {
    let home = Home::for_account(common::rootless::account_without_ids());
    home.import_busybox();
    let ctx = home.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN id -u > /who && touch /made\n",
        )],
    );
    let (built, out) = home.build_local(&ctx, "out");
    assert!(
        built.contains("has no subordinate ids") && built.contains("rbuild doctor"),
        "the single-id mapping is announced with its cost:\n{built}"
    );
    assert_eq!(std::fs::read_to_string(out.join("who")).unwrap(), "0\n");
    // Only root is mapped: a USER other than root cannot run, and the error says so.
    let user = home.context(
        "user",
        &[("Dockerfile", "FROM busybox\nUSER app\nRUN true\n")],
    );
    let failed = home.rbuild(&["build", "--progress", "plain", user.to_str().unwrap()]);
    let log = text(&failed);
    assert!(!failed.status.success(), "{log}");
    assert!(
        log.contains("USER app: uid 1000 is not mapped in this user namespace"),
        "{log}"
    );
}
