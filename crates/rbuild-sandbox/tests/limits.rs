//! Resource limits: memory (OOM), pids, ulimits, shm size.

mod common;
use common::*;
use rbuild_sandbox::{ExitReason, Limits, Ulimit};

fn require_cgroups() {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        info.contains(" - cgroup ") || info.contains(" - cgroup2 "),
        "no cgroup filesystem is mounted"
    );
}

#[test]
fn memory_limit_oom_kill_is_reported() {
    require_prereqs();
    require_cgroups();
    let s = Scratch::new("oom");
    let mut sp = spec(&s, "");
    sp.argv = vec![
        "/bin/awk".into(),
        "BEGIN { s = \"xxxxxxxx\"; while (1) s = s s }".into(),
    ];
    sp.limits = Limits {
        memory: Some(64 << 20),
        ..Default::default()
    };
    let r = run(&sp);
    assert_eq!(r.reason, ExitReason::OomKilled, "stderr: {}", r.stderr);
}

#[test]
fn fork_bomb_is_stopped_by_pids_limit() {
    require_prereqs();
    require_cgroups();
    let s = Scratch::new("pids");
    // An endless fork loop in a subshell (it dies at the first failed fork); the main shell
    // then counts with builtins only, since it cannot fork either while the sleeps live.
    let script = "(while :; do sleep 30 & done) 2>/dev/null; set -- /proc/[0-9]*; echo count=$#";
    let mut sp = spec(&s, script);
    sp.limits = Limits {
        pids: Some(32),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = run(&sp);
    assert!(
        started.elapsed().as_secs() < 25,
        "the sandbox waited for its background processes"
    );
    let count: usize = r
        .stdout
        .trim()
        .strip_prefix("count=")
        .unwrap_or_else(|| panic!("{} {}", r.stdout, r.stderr))
        .parse()
        .unwrap();
    assert!(count <= 32, "pids limit not enforced: {count} processes");
    assert!(
        count >= 20,
        "the bomb did not grow to the limit ({count}): {}",
        r.stderr
    );
}

#[test]
fn cpu_limit_applies() {
    require_prereqs();
    require_cgroups();
    let s = Scratch::new("cpu");
    let mut sp = spec(&s, "echo ok");
    sp.limits = Limits {
        cpus: Some(0.5),
        ..Default::default()
    };
    assert_eq!(run_ok(&sp), "ok\n");
}

#[test]
fn ulimits_and_shm_size() {
    require_prereqs();
    let s = Scratch::new("ulimit");
    let mut sp = spec(&s, "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1");
    sp.limits = Limits {
        shm_size: Some(8 << 20),
        ulimits: vec![Ulimit {
            name: "nofile".into(),
            soft: 100,
            hard: 200,
        }],
        ..Default::default()
    };
    let out = run_ok(&sp);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], &["100", "200"], "{out}");
    assert!(lines[2].split_whitespace().nth(1) == Some("8192"), "{out}");
}
