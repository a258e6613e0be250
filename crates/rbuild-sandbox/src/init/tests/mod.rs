//! The setup sequence against a recording fake of both kernel seams.

use super::setup::{enter_namespaces, setup};
use crate::error::chain;
use crate::spec::{InitRequest, NetworkMode, RunSpec};
mod fake;
use fake::Recorder;

fn request() -> InitRequest {
    InitRequest {
        spec: RunSpec {
            lowers: vec!["/layers/0".into()],
            upper: "/run/upper".into(),
            work: "/run/work".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/app".into(),
            hostname: "box".into(),
            network: NetworkMode::None,
            ..Default::default()
        },
        root_dir: "/run/root".into(),
        etc_dir: "/run/etc".into(),
        secrets_dir: "/run/secrets".into(),
        empty_lower: "/run/empty".into(),
        links_dir: "/run/l".into(),
        cgroup_procs: vec!["/cg/rbuild/x/cgroup.procs".into()],
        cgroup_dir: None,
        legacy_overlay: false,
        rootless: false,
        rootfs_copy: None,
        net_helper: None,
        seccomp: Some(vec![crate::seccomp::Insn {
            code: crate::seccomp::bpf::RET_K,
            jt: 0,
            jf: 0,
            k: crate::seccomp::compile::RET_ALLOW,
        }]),
    }
}

/// How a sequence against the fake ended: the setup failed, or the exec (the fake never execs).
enum Ended {
    Setup(String),
    Exec(String, i32),
}

/// Runs the whole sequence (pid 1's setup, then the command's) against `rec`.
fn run_sequence(rec: &mut Recorder) -> Ended {
    let req = request();
    match enter_namespaces(rec, &req).and_then(|()| setup(rec, &req, &mut Vec::new())) {
        Err(e) => Ended::Setup(chain(&e)),
        Ok(prepared) => {
            let e = prepared.start(rec);
            Ended::Exec(chain(&e), e.code())
        }
    }
}

#[test]
fn a_rootless_run_makes_proc_and_sysfs_before_pivot_root_and_binds_the_device_nodes() {
    let mut rec = Recorder::default();
    let mut req = request();
    req.rootless = true;
    req.cgroup_procs.clear();
    setup(&mut rec, &req, &mut Vec::new()).unwrap();
    let pivot = rec.position("pivot_root");
    assert!(rec.position("new_fs proc") < pivot);
    assert!(rec.position("new_fs sysfs") < pivot);
    assert!(rec.position("bind /proc") > pivot);
    assert!(rec.position("bind /sys") > pivot);
    assert!(!rec.has("mount proc") && !rec.has("mount sysfs"));
    // A user namespace cannot mknod: the host's nodes are bound instead.
    assert!(!rec.has("mknod"), "{:#?}", rec.calls);
    assert!(rec.position("clone_tree /dev/null") < pivot);
    assert!(rec.position("bind /dev/null") > pivot);
    // Only the caller mapped: no tty group for devpts, and a USER other than root is refused
    // with its reason before anything runs.
    let mut single = Recorder {
        single_map: true,
        ..Recorder::default()
    };
    setup(&mut single, &req, &mut Vec::new()).unwrap();
    let pts = single
        .calls
        .iter()
        .find(|c| c.starts_with("mount devpts"))
        .unwrap();
    assert!(!pts.contains("gid=5"), "{pts}");
    req.spec.user = "app".into();
    let e = setup(
        &mut Recorder {
            single_map: true,
            ..Recorder::default()
        },
        &req,
        &mut Vec::new(),
    );
    let msg = chain(&e.err().unwrap());
    assert!(msg.contains("USER app: uid 1000 is not mapped"), "{msg}");
    // Masks still come after /proc is there and before the step's own mounts.
    assert!(rec.position("mount tmpfs /proc/kcore") > rec.position("bind /proc"));
}

#[test]
fn namespaces_come_after_the_cgroup_is_joined() {
    let mut rec = Recorder::default();
    enter_namespaces(&mut rec, &request()).unwrap();
    assert_eq!(rec.position("null_stdin"), 0);
    let flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP;
    let others = rec.position(&format!("unshare {flags:#x}"));
    assert!(rec.position("join_cgroup /cg/rbuild/x") < others);
    // --network=none: the network namespace comes first, alone.
    let net = rec.position(&format!("unshare {:#x}", libc::CLONE_NEWNET));
    assert!(net < rec.position("join_cgroup"));
}

#[test]
fn pid1_started_in_its_cgroup_makes_its_own_cgroup_namespace() {
    let mut rec = Recorder::default();
    let mut req = request();
    req.cgroup_dir = Some("/cg2/rbuild/x".into());
    req.cgroup_procs.clear();
    enter_namespaces(&mut rec, &req).unwrap();
    let others = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    rec.position(&format!("unshare {others:#x}"));
    assert!(!rec.has("join_cgroup"), "no task moves between cgroups");
    let mut pid1 = Recorder::default();
    setup(&mut pid1, &req, &mut Vec::new()).unwrap();
    // First of all, before anything of the step's can look at /proc/self/cgroup.
    assert_eq!(
        pid1.position(&format!("unshare {:#x}", libc::CLONE_NEWCGROUP)),
        0
    );
}

#[test]
fn a_private_network_starts_its_helper_before_the_cgroup_and_the_pid_namespace() {
    let mut rec = Recorder::default();
    let mut req = request();
    req.spec.network = NetworkMode::Private;
    req.net_helper = Some(crate::net::Helper {
        exe: "/usr/bin/slirp4netns".into(),
        log: "/run/etc/net.log".into(),
    });
    enter_namespaces(&mut rec, &req).unwrap();
    let helper = rec.position("private_network /usr/bin/slirp4netns");
    assert!(helper < rec.position("join_cgroup"));
    assert!(helper < rec.position("unshare"));
    assert!(!rec
        .calls
        .contains(&format!("unshare {:#x}", libc::CLONE_NEWNET)));
    setup(&mut rec, &req, &mut Vec::new()).unwrap();
    assert!(rec.position("loopback_up") > helper);
    // A failing helper stops the run before any other namespace exists.
    let mut rec = Recorder {
        fail: Some("private_network"),
        ..Default::default()
    };
    let e = enter_namespaces(&mut rec, &req).unwrap_err();
    assert!(
        chain(&e).starts_with("start slirp4netns: fork: "),
        "{}",
        chain(&e)
    );
    assert!(!rec.calls.iter().any(|c| c.starts_with("unshare")));
}

#[test]
fn setup_runs_in_order_up_to_exec() {
    let mut rec = Recorder::default();
    let Ended::Exec(msg, code) = run_sequence(&mut rec) else {
        panic!("setup failed: {:#?}", rec.calls)
    };
    assert_eq!(
        (msg.as_str(), code),
        ("exec: \"/bin/sh\": no such file or directory", 127)
    );
    let order = [
        "join_session_keyring",
        "cloexec_fds_from 3",
        "hostname box",
        "loopback_up",
        "overlay /run/root",
        "pivot_root /run/root",
        "mount proc /proc",
        "enter_cwd /app",
        "current_dir",
        "read /etc/passwd",
        "setsid",
        "drop_bounding",
        "clear_ambient",
        "set_ids 0 0",
        "capset a80425fb a80425fb 0",
        "no_new_privs",
        "seccomp 1",
        "execve /bin/sh",
    ];
    let at: Vec<usize> = order.iter().map(|c| rec.position(c)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{order:?} at {at:?}: {:#?}",
        rec.calls
    );
}

#[test]
fn a_failing_step_stops_the_sequence_before_exec() {
    for (failing, named) in [
        ("join_session_keyring", "join a new session keyring"),
        ("cloexec_fds_from", "mark descriptors close-on-exec"),
        ("hostname", "sethostname \"box\""),
        ("pivot_root", "pivot_root into /run/root"),
        ("enter_cwd", "working directory /app"),
        ("set_ids", "setting up process"),
        ("no_new_privs", "setting up process: set no_new_privs"),
        ("seccomp", "setting up process: install the seccomp filter"),
    ] {
        let mut rec = Recorder {
            fail: Some(failing),
            ..Default::default()
        };
        let msg = match run_sequence(&mut rec) {
            Ended::Setup(m) => m,
            Ended::Exec(m, code) => {
                assert_eq!(code, 126);
                m
            }
        };
        assert!(msg.contains(named), "{failing}: {msg}");
        assert_eq!(msg.matches("Operation not permitted").count(), 1, "{msg}");
        assert!(
            !rec.calls.iter().any(|c| c.starts_with("execve")),
            "{failing}: exec after failure"
        );
    }
}

#[test]
fn f1_a_cwd_that_resolved_outside_the_root_fails_the_step() {
    let mut rec = Recorder {
        cwd_name: Some(b"(unreachable)/tmp/rt"),
        ..Default::default()
    };
    let Ended::Setup(msg) = run_sequence(&mut rec) else {
        panic!("the step ran")
    };
    assert!(msg.contains("working directory /app is outside"), "{msg}");
    assert!(!rec
        .calls
        .iter()
        .any(|c| c.starts_with("set_ids") || c.starts_with("execve")));
}

#[test]
fn an_insecure_run_keeps_every_capability_and_installs_no_filter() {
    let mut rec = Recorder::default();
    let mut req = request();
    req.spec.insecure = true;
    let prepared = setup(&mut rec, &req, &mut Vec::new()).unwrap();
    let _ = prepared.start(&mut rec);
    let all = crate::caps::all_mask(crate::caps::last_cap());
    assert!(rec.calls.contains(&format!("capset {all:x} {all:x} 0")));
    assert!(!rec.calls.iter().any(|c| c.starts_with("drop_bounding")));
    assert!(!rec.calls.iter().any(|c| c.starts_with("seccomp")));
    assert!(
        !rec.calls
            .iter()
            .any(|c| c.starts_with("mount tmpfs /proc/")),
        "no masked paths: {:#?}",
        rec.calls
    );
}
