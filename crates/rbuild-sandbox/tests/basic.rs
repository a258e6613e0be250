//! Basic path: overlay + pivot_root + proc/dev + exit status + output streaming.

mod common;
use common::*;
use rbuild_sandbox::ExitReason;

#[test]
fn streams_output_and_reports_exit_code() {
    require_prereqs();
    let s = Scratch::new("basic");
    let r = run(&spec(&s, "echo hello; echo oops >&2; exit 3"));
    assert_eq!(r.reason, ExitReason::Exited(3), "stderr: {}", r.stderr);
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "oops\n");
}

#[test]
fn large_output_is_never_clipped() {
    require_prereqs();
    let s = Scratch::new("bigout");
    let out = run_ok(&spec(
        &s,
        "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done",
    ));
    assert_eq!(out.lines().count(), 20000);
    assert_eq!(out.lines().last(), Some("line-19999"));
}

#[test]
fn signal_is_reported() {
    require_prereqs();
    let s = Scratch::new("signal");
    let r = run(&spec(&s, "kill -TERM $$"));
    assert_eq!(r.reason, ExitReason::Signaled(15), "stderr: {}", r.stderr);
}

#[test]
fn proc_lists_only_sandbox_processes() {
    require_prereqs();
    let s = Scratch::new("proc");
    let out = run_ok(&spec(
        &s,
        "for p in /proc/[0-9]*; do echo ${p#/proc/}; done",
    ));
    let pids: Vec<u32> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert!(pids.contains(&1), "{pids:?}");
    assert!(
        pids.len() <= 3 && pids.iter().all(|p| *p < 10),
        "host processes visible: {pids:?}"
    );
}

#[test]
fn hostname_is_the_sandboxes() {
    require_prereqs();
    let s = Scratch::new("hostname");
    let out = run_ok(&spec(
        &s,
        "hostname; cat /etc/hostname; grep -c sandbox /etc/hosts",
    ));
    assert_eq!(out, "sandbox\nsandbox\n1\n");
}

#[test]
fn exec_failure_is_clear() {
    require_prereqs();
    let s = Scratch::new("execfail");
    let mut sp = spec(&s, "");
    sp.argv = vec!["no-such-command".into()];
    let r = run(&sp);
    assert_eq!(r.reason, ExitReason::Exited(127));
    assert!(
        r.stderr
            .contains("\"no-such-command\": executable file not found in $PATH"),
        "{}",
        r.stderr
    );
    sp.argv = vec!["/bin/nope".into()];
    let r = run(&sp);
    assert_eq!(r.reason, ExitReason::Exited(127));
    assert!(
        r.stderr.contains("no such file or directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn dev_is_minimal_and_works() {
    require_prereqs();
    let s = Scratch::new("dev");
    let out = run_ok(&spec(&s, "ls /dev | sort | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null; ls /dev/pts; test -L /dev/fd && echo fdlink"));
    let first = out.lines().next().unwrap();
    for want in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd", "stdin",
        "stdout", "stderr",
    ] {
        assert!(
            first.split(' ').any(|e| e == want),
            "/dev lacks {want}: {first}"
        );
    }
    assert!(out.contains("\n4\n"), "{out}");
    assert!(out.contains("fdlink"), "{out}");
}

#[test]
fn cwd_is_created_and_env_is_exact() {
    require_prereqs();
    let s = Scratch::new("cwd");
    let mut sp = spec(&s, "pwd; env | sort");
    sp.cwd = "/work/dir".into();
    sp.env = vec!["PATH=/bin".into(), "FOO=bar".into()];
    let out = run_ok(&sp);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/work/dir");
    assert!(
        lines.contains(&"FOO=bar") && lines.contains(&"HOME=/root"),
        "{out}"
    );
    assert!(s.path("upper/work/dir").is_dir());
}

#[test]
fn scratch_rootfs_with_no_lowers() {
    require_prereqs();
    let s = Scratch::new("scratch");
    let mut sp = spec(&s, "");
    sp.lowers.clear();
    sp.argv = vec!["/bin/true".into()];
    let r = run(&sp);
    assert_eq!(r.reason, ExitReason::Exited(127), "{}", r.stderr);
    assert_eq!(
        tree(&s.path("upper")),
        Vec::<String>::new(),
        "stubs left in upper"
    );
}

#[test]
fn probe_succeeds_here() {
    require_prereqs();
    rbuild_sandbox::probe().unwrap();
}
