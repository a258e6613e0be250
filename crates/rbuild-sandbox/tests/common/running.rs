//! Looking at a run while it runs: its process, its cgroups, and what is left after it.

use super::{run_ok, Scratch};
use rbuild_sandbox::RunSpec;
use std::fs;
use std::path::PathBuf;

/// This process's run cgroups (named `<pid>-...`) left under every `rbuild` parent.
pub fn leftover_cgroups() -> Vec<PathBuf> {
    let mut left = Vec::new();
    let prefix = format!("{}-", std::process::id());
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .chain(
            fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        )
    {
        for parent in rbuild_testkit::run_cgroup_parents(&base.join("rbuild")) {
            let Ok(rd) = fs::read_dir(parent) else {
                continue;
            };
            left.extend(
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path()),
            );
        }
    }
    left.sort();
    left.dedup();
    left
}

/// The pid of the host process whose command line contains `needle`, if one runs.
pub fn pid_with_cmdline(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains(needle) && pid != std::process::id()).then_some(pid)
    })
}

/// The cgroup directories process `pid` is in, one per mounted hierarchy, from its
/// /proc/PID/cgroup (paths as this process sees them) and this process's mounts.
pub fn cgroup_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for m in mounts.lines() {
            let Some((left, right)) = m.split_once(" - ") else {
                continue;
            };
            let point = left.split(' ').nth(4).unwrap_or("");
            let mut r = right.split(' ');
            let (fstype, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
            let matches = match fstype {
                "cgroup" => {
                    !ctrls.is_empty() && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c))
                }
                "cgroup2" => ctrls.is_empty(),
                _ => false,
            };
            if matches {
                dirs.push(std::path::Path::new(point).join(path.trim_start_matches('/')));
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Runs `sp` (in scratch `s`) with its command replaced by a call to this test that waits for
/// the answer, and calls `during` meanwhile with the pid of the run's process; the run must
/// then exit 0. Nothing is timed: the run is stopped exactly while `during` looks.
pub fn while_running<T>(s: Scratch, mut sp: RunSpec, during: impl FnOnce(u32) -> T) -> T {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let needle = format!("127.0.0.1:{port}/while-running");
    // The call goes to this process's loopback, which only the host's network reaches.
    sp.network = rbuild_sandbox::NetworkMode::Host;
    sp.argv = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("wget -q -O- http://{needle}"),
    ];
    let runner = std::thread::spawn(move || {
        let out = run_ok(&sp);
        drop(s);
        out
    });
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut conn = loop {
        if let Ok((c, _)) = listener.accept() {
            break c;
        }
        assert!(!runner.is_finished(), "the run ended before it called");
        assert!(std::time::Instant::now() < deadline, "the run never called");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let pid = pid_with_cmdline(&needle).expect("the run's process is gone");
    let result = during(pid);
    conn.set_nonblocking(false).unwrap();
    conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        .unwrap();
    drop(conn);
    assert_eq!(runner.join().unwrap(), "ok\n");
    result
}

/// The run cgroups (under `rbuild/`) process `pid` is in.
pub fn run_cgroups_of(pid: u32) -> Vec<PathBuf> {
    cgroup_dirs_of(pid)
        .into_iter()
        .filter(|d| d.to_string_lossy().contains("/rbuild/"))
        .collect()
}
