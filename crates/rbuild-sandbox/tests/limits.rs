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

/// The values of `files` in the run cgroups of a run with `limits`, read while it runs.
fn held_while_running(name: &str, limits: Limits, files: &[&str]) -> Vec<Option<String>> {
    let s = Scratch::new(name);
    let mut sp = spec(&s, "");
    sp.limits = limits;
    while_running(s, sp, |pid| {
        let dirs = run_cgroups_of(pid);
        assert!(!dirs.is_empty(), "the running process is in no run cgroup");
        files
            .iter()
            .map(|f| {
                dirs.iter()
                    .find_map(|d| std::fs::read_to_string(d.join(f)).ok())
                    .map(|v| v.trim().to_string())
            })
            .collect()
    })
}

#[test]
fn cpu_limit_applies() {
    require_prereqs();
    require_cgroups();
    let cpus = Limits {
        cpus: Some(0.5),
        ..Default::default()
    };
    let got = held_while_running("cpu", cpus, &["cpu.cfs_quota_us", "cpu.cfs_period_us"]);
    assert_eq!(got, [Some("50000".to_string()), Some("100000".to_string())]);
    let explicit = Limits {
        cpu_quota: Some(30000),
        cpu_period: Some(60000),
        cpus: Some(3.0),
        ..Default::default()
    };
    let got = held_while_running("cpuq", explicit, &["cpu.cfs_quota_us", "cpu.cfs_period_us"]);
    assert_eq!(
        got,
        [Some("30000".to_string()), Some("60000".to_string())],
        "the explicit quota wins"
    );
}

#[test]
fn memory_and_swap_limits_are_in_the_run_cgroup() {
    require_prereqs();
    require_cgroups();
    let files = [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "pids.max",
    ];
    let limits = Limits {
        memory: Some(64 << 20),
        memory_swap: Some(96 << 20),
        pids: Some(50),
        ..Default::default()
    };
    let got = held_while_running("mem", limits, &files);
    let want = [
        (64u64 << 20).to_string(),
        (96u64 << 20).to_string(),
        "50".into(),
    ];
    assert_eq!(got, want.map(Some));
    // Docker's default swap: twice the memory.
    let limits = Limits {
        memory: Some(64 << 20),
        ..Default::default()
    };
    let got = held_while_running("memdef", limits, &files[..2]);
    assert_eq!(
        got,
        [
            Some((64u64 << 20).to_string()),
            Some((128u64 << 20).to_string())
        ]
    );
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
