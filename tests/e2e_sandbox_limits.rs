//! RUN users and resource limits, proven through real builds with the rbuild binary: USER,
//! memory (OOM), ulimits and shm, the pids limit against a fork bomb, CPU and swap limits
//! as the run's cgroup holds them, and a base of 120 layers.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::sandbox::{dockerfile, line_after};
use common::{run_output, text, Env};

fn mode_owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

#[test]
fn user_runs_as_its_uid_and_gid_and_owns_what_it_creates() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        r#"FROM busybox:latest
USER app
RUN echo "id: $(id -u):$(id -g) $(id -un):$(id -gn)"; echo made > /home/app/by-app; mkdir /home/app/dir; touch /tmp/app-tmp
USER app:staff
RUN echo "id-staff: $(id -u):$(id -g)"; touch /tmp/app-staff
USER 0
RUN echo "id-root: $(id -u):$(id -g)"; if touch /home/app/root-made; then echo root-wrote; fi
"#,
    );
    let log = env.build_ok(ctx.path(), "user:1", &[]);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "id: "), "1000:1000 app:app", "{log}");
    assert_eq!(line_after(&out, "id-staff: "), "1000:50", "{log}");
    assert_eq!(line_after(&out, "id-root: "), "0:0", "{log}");
    let rootfs = env.umoci_unpack("user:1").join("rootfs");
    assert_eq!(mode_owner(&rootfs.join("home/app/by-app")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("home/app/dir")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("tmp/app-tmp")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("tmp/app-staff")), (1000, 50));
    assert_eq!(mode_owner(&rootfs.join("home/app/root-made")), (0, 0));
}

#[test]
fn memory_limit_fails_the_build_with_an_oom_message_and_store_stays_usable() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let hog = "RUN x=$(head -c 300m /dev/zero | tr '\\0' a); echo \"survived ${#x}\"";
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\nRUN echo before-hog > /before\n{hog}\n"),
    );
    let log = env.build_fails(ctx.path(), "oom:1", &["--memory", "64m"]);
    assert!(log.contains("killed because it ran out of memory"), "{log}");
    assert!(
        log.contains(&format!("Dockerfile:3: {hog}")),
        "error must name the line and instruction:\n{log}"
    );
    assert!(
        !run_output(&log).iter().any(|l| l.starts_with("survived")),
        "{log}"
    );
    // Same limits, the hog replaced: the store is intact and the first RUN comes from the cache.
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN echo before-hog > /before\nRUN echo after-oom\n",
    );
    let log = env.build_ok(ctx.path(), "oom:1", &["-m", "64M"]);
    assert!(run_output(&log).contains(&"after-oom"), "{log}");
    assert!(log.contains("#2 CACHED"), "{log}");
    // Limits are not part of the cache key: without them everything is cached.
    let log = env.build_ok(ctx.path(), "oom:2", &[]);
    assert!(
        !run_output(&log).contains(&"after-oom"),
        "a RUN ran again without limits:\n{log}"
    );
}

#[test]
fn ulimits_and_shm_size_reach_the_run() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\n\
         RUN echo \"nofile: $(ulimit -Sn) $(ulimit -Hn)\"; echo \"shm: $(df -k /dev/shm | tail -n 1 | awk '{print $2}')\"\n",
    );
    let flags = [
        "--ulimit",
        "nofile=512:1024",
        "--shm-size",
        "16m",
        "--cpus",
        "1",
        "--pids-limit",
        "100",
    ];
    let log = env.build_ok(ctx.path(), "ulimit:1", &flags);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "nofile: "), "512 1024", "{log}");
    assert_eq!(line_after(&out, "shm: "), "16384", "{log}");
    let bad = env.rbuild(&["build", "--memory", "64x", ctx.path().to_str().unwrap()]);
    assert!(
        !bad.status.success() && text(&bad).contains("--memory"),
        "{}",
        text(&bad)
    );
}

/// Host processes whose command line contains `needle`.
fn host_processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// A RUN proving the pids limit is in force before the bomb (a child shell cannot keep 100
/// sleeps alive; counted with builtins only, as no fork is left; the build fails if it is not,
/// so the bomb never runs unbounded on the host), then the bomb. After it, only builtins run
/// (the bomb's survivors hold every pid the limit allows): the step always ends and reports
/// how many forks the kernel refused.
const BOMB: &str = r#"FROM busybox:latest
RUN sh -c 'i=0; while [ $i -lt 100 ]; do sleep 10 & i=$((i+1)); done' 2>/dev/null; \
    n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "alive: $n"; [ "$n" -le 64 ]
RUN echo bomb-start; timeout -s KILL 5 sh -c 'bomb(){ bomb|bomb& }; bomb; sleep 30' 2>/tmp/bomb.err; \
    echo bomb-done; c=0; while read -r l; do case "$l" in *"can't fork"*) c=$((c+1));; esac; done < /tmp/bomb.err; \
    echo "fork refused: $c"
"#;

#[test]
fn fork_bomb_is_stopped_by_pids_limit_and_next_build_succeeds() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(ctx.path(), BOMB);
    let started = std::time::Instant::now();
    let log = env.build_ok(ctx.path(), "bomb:1", &["--pids-limit", "64"]);
    let lines = run_output(&log);
    let n: usize = line_after(&lines, "alive: ").parse().unwrap();
    assert!(
        (20..=64).contains(&n),
        "{n} processes alive under --pids-limit 64:\n{log}"
    );
    assert!(
        lines.contains(&"bomb-start") && lines.contains(&"bomb-done"),
        "{log}"
    );
    let refused: usize = line_after(&lines, "fork refused: ").parse().unwrap();
    assert!(refused > 0, "the bomb never hit the limit:\n{log}");
    // A safety net, not a measurement: the bomb is killed after 5 s.
    assert!(
        started.elapsed().as_secs() < 120,
        "the bomb ran for {:?}",
        started.elapsed()
    );
    assert_eq!(
        host_processes_with("bomb(){"),
        Vec::<String>::new(),
        "bomb processes outlived the build"
    );
    let host = Command::new("sh")
        .args(["-c", "echo host-ok"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&host.stdout), "host-ok\n");
    dockerfile(ctx.path(), "FROM busybox:latest\nRUN echo after-bomb\n");
    let log = env.build_ok(ctx.path(), "bomb:2", &["--pids-limit", "64"]);
    assert!(run_output(&log).contains(&"after-bomb"), "{log}");
}

#[test]
fn base_image_of_120_layers_still_runs() {
    let env = Env::new();
    let base = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM busybox:latest\n");
    for n in 1..=120 {
        df.push_str(&format!("RUN echo {n} > /f{n}\n"));
    }
    dockerfile(base.path(), &df);
    env.build_ok(base.path(), "many:1", &[]);
    let layers = env.skopeo_config("many:1")["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, 121, "busybox plus 120 RUN layers");
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM many:1\nRUN echo \"files: $(ls / | grep -c '^f[0-9]')\"; echo \"ends: $(cat /f1) $(cat /f120)\"; echo top > /top\n",
    );
    let log = env.build_ok(ctx.path(), "many:2", &[]);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "files: "), "120", "{log}");
    assert_eq!(line_after(&out, "ends: "), "1 120", "{log}");
    let rootfs = env.umoci_unpack("many:2").join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("top")).unwrap(),
        "top\n"
    );
    assert_eq!(std::fs::read_to_string(rootfs.join("f77")).unwrap(), "77\n");
}

/// Control files of the RUN cgroup of a build started with `flags`, read while the RUN runs:
/// it waits on a request to this test, which answers only after reading them.
fn cgroup_files_during_run(env: &Env, flags: &[&str], files: &[&str]) -> Vec<Option<String>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let ctx = tempfile::tempdir().unwrap();
    // The port makes the RUN new in every build (limits are not part of its cache key); the
    // host network lets it reach this test on loopback.
    let run = format!("RUN --network=host wget -q -O- http://127.0.0.1:{port}/go");
    dockerfile(ctx.path(), &format!("FROM busybox:latest\n{run}\n"));
    let log = ctx.path().join("build.log");
    let mut args = vec!["build", "--progress", "plain", "--allow", "network.host"];
    args.extend_from_slice(flags);
    args.push(ctx.path().to_str().unwrap());
    let mut child = env.spawn(&args, &log);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let mut conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept: {e}"),
        }
        if let Some(status) = child.try_wait().unwrap() {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the build ended ({status}) before its RUN called:\n{said}");
        }
        assert!(std::time::Instant::now() < deadline, "the RUN never called");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // The RUN's own process, and the run cgroups it is in (not merely ones that exist).
    let needle = format!("127.0.0.1:{port}/go");
    let pid = common::sandbox::pid_with_cmdline(&needle).expect("the RUN's process is gone");
    let dirs: Vec<_> = common::sandbox::cgroup_dirs_of(pid)
        .into_iter()
        .filter(|d| d.to_string_lossy().contains("/rbuild/"))
        .collect();
    assert!(!dirs.is_empty(), "the running RUN is in no run cgroup");
    let values = files
        .iter()
        .map(|f| common::sandbox::cgroup_value(&dirs, f))
        .collect();
    use std::io::Write;
    conn.set_nonblocking(false).unwrap();
    let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    drop(conn);
    let status = child.wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{said}");
    values
}

#[test]
fn cpu_memory_swap_and_pids_limits_are_what_the_run_cgroup_holds() {
    let env = Env::new();
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists();
    assert!(
        v1,
        "this check reads cgroup v1 control files; the host has none"
    );
    let files = [
        "cpu.cfs_quota_us",
        "cpu.cfs_period_us",
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "pids.max",
    ];
    let flags = [
        "--cpus",
        "1.5",
        "-m",
        "64m",
        "--memory-swap",
        "96m",
        "--pids-limit",
        "77",
    ];
    let got = cgroup_files_during_run(&env, &flags, &files);
    let want = ["150000", "100000", "67108864", "100663296", "77"];
    assert_eq!(got, want.map(|w| Some(w.to_string())), "{flags:?}");
    // An explicit quota and period; unlimited swap (-1) over the memory limit.
    let flags = [
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "200000",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
    ];
    let got = cgroup_files_during_run(&env, &flags, &files[..4]);
    assert_eq!(
        got[..3],
        [
            Some("50000".into()),
            Some("200000".into()),
            Some("67108864".into())
        ],
        "{flags:?}"
    );
    let swap: u64 = got[3].as_deref().unwrap().parse().unwrap();
    assert!(
        swap > 1 << 62,
        "--memory-swap -1 left swap limited to {swap}"
    );
    // Without limits the run still gets a cgroup (it holds the device allow-list: the eBPF
    // filter on the unified hierarchy, or the v1 devices controller), with no quota.
    let got = cgroup_files_during_run(&env, &[], &["cpu.cfs_quota_us", "cgroup.procs"]);
    assert_eq!(got[0], None, "a CPU cgroup without a CPU limit");
    assert!(got[1].is_some(), "the RUN has no cgroup of its own");
}
