//! F1 (runc CVE-2024-21626, "Leaky Vessels"): descriptors the builder's caller left open must
//! not reach a RUN, neither directly nor through `WORKDIR /proc/self/fd/N`.

mod common;
use common::*;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

const HELPER: &str = env!("CARGO_BIN_EXE_rbuild-sandbox-test-init");

/// A host directory holding a secret, as a CI agent's leaked descriptor would point at.
fn host_dir(s: &Scratch) -> std::path::PathBuf {
    let host = s.path("host");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("f"), "HOSTSECRET-F1\n").unwrap();
    host
}

/// Runs `cmd` with fds 3..=20 open (not close-on-exec) on `dir`, as `exec 7<dir` would leave them.
fn with_fds_open(cmd: &mut Command, dir: &Path) -> Output {
    let d = std::fs::File::open(dir).unwrap();
    let src = d.as_raw_fd();
    // SAFETY: between fork and exec only dup2 is called, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for n in 3..=20 {
                if n != src && libc::dup2(src, n) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The source itself is close-on-exec; make it a plain inherited one too.
            if (3..=20).contains(&src) {
                libc::fcntl(src, libc::F_SETFD, 0);
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    drop(d);
    out
}

/// Runs `spec` in a child builder that inherited fds 3..=20 on `dir`; returns its stdout.
fn run_in_leaky_builder(s: &Scratch, spec: &rbuild_sandbox::RunSpec, dir: &Path) -> String {
    let path = s.path("spec.json");
    std::fs::write(&path, serde_json::to_vec(spec).unwrap()).unwrap();
    let out = with_fds_open(Command::new(HELPER).arg("run").arg(&path), dir);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the test builder failed: {text}");
    text
}

fn fd_list(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

#[test]
fn f1_inherited_fds_are_closed() {
    require_prereqs();
    let s = Scratch::new("f1-fds");
    let host = host_dir(&s);
    // Control: a plain child of the same leaky parent does see 3..=20.
    let control = with_fds_open(Command::new(BUSYBOX).args(["ls", "/proc/self/fd"]), &host);
    let seen = fd_list(&String::from_utf8_lossy(&control.stdout));
    assert!((3..=20).all(|n| seen.contains(&n)), "control: {seen:?}");
    let out = run_in_leaky_builder(&s, &spec(&s, "ls /proc/self/fd"), &host);
    assert!(out.contains("OUTCOME Exited(0)"), "{out}");
    // 0, 1, 2 and the descriptor ls reads the directory with.
    assert_eq!(fd_list(&out), vec![0, 1, 2, 3], "{out}");
}

#[test]
fn f1_workdir_through_an_inherited_fd_is_refused() {
    require_prereqs();
    let s = Scratch::new("f1-workdir");
    let host = host_dir(&s);
    for n in 3..=20 {
        let mut sp = spec(&s, "cat f ../../../etc/hostname; touch created; pwd");
        sp.cwd = format!("/proc/self/fd/{n}");
        let out = run_in_leaky_builder(&s, &sp, &host);
        assert!(
            !out.contains("HOSTSECRET-F1"),
            "fd {n} leaked the host dir: {out}"
        );
        assert!(
            !host.join("created").exists(),
            "fd {n}: RUN wrote into the host dir: {out}"
        );
        let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        if !hostname.trim().is_empty() {
            assert!(
                !out.contains(hostname.trim()),
                "fd {n}: host /etc/hostname read: {out}"
            );
        }
        assert!(
            out.contains(&format!(
                "ERROR sandbox setup failed: working directory /proc/self/fd/{n}"
            )),
            "fd {n}: the step was not refused with an error naming the directory: {out}"
        );
    }
}

#[test]
fn f1_workdir_through_a_magic_link_is_refused() {
    require_prereqs();
    let s = Scratch::new("f1-magic");
    for cwd in ["/proc/self/root", "/proc/1/cwd", "/dev/fd/0"] {
        let mut sp = spec(&s, "pwd");
        sp.cwd = cwd.into();
        let e = try_run(&sp).expect_err(cwd);
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("working directory {cwd}")) && msg.contains("magic link"),
            "{cwd}: {msg}"
        );
    }
    // A symlink inside the image still works, and `..` stays inside the root.
    let mut sp = spec(&s, "pwd");
    std::os::unix::fs::symlink("/tmp", s.path("rootfs/link")).unwrap();
    sp.cwd = "/link/../../../link/made".into();
    assert_eq!(run_ok(&sp), "/tmp/made\n");
}

#[test]
fn f1_fds_inherited_by_rbuild_become_cloexec() {
    let s = Scratch::new("f1-mark");
    let host = host_dir(&s);
    let out = with_fds_open(
        Command::new(HELPER).args(["mark-and-spawn", BUSYBOX, "ls", "/proc/self/fd"]),
        &host,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(fd_list(&text), vec![0, 1, 2, 3], "{text}");
}
