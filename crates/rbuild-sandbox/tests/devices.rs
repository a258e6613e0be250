//! F3: Docker's device allow-list applies to every RUN (here through the host's layout: the eBPF
//! filter on the unified hierarchy of this hybrid host or of a pure v2 host, pid 1 started in
//! that cgroup; the v1 devices controller where no cgroup2 is mounted, tested below).

mod common;
use common::*;

#[test]
fn f3_device_allow_list_refuses_block_devices() {
    require_prereqs();
    let s = Scratch::new("f3-v1");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F3");
    let host = std::fs::read(&disk.dev).unwrap();
    assert!(
        host.starts_with(b"HOST-DISK-CONTENT-F3"),
        "control read failed"
    );
    // No limits: the allow-list must not depend on them.
    let r = run(&spec(&s, &disk_script(&disk)));
    assert_disk_refused(&r, "HOST-DISK-CONTENT-F3");
}

#[test]
fn f3_standard_devices_keep_working() {
    require_prereqs();
    let s = Scratch::new("f3-std");
    let script = "head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c; \
                  echo x > /dev/full || echo FULL-REFUSED; mknod /tmp/z c 1 5 && head -c 2 /tmp/z | wc -c; \
                  cat /dev/mem 2>&1 | head -c 0; head -c 1 /dev/mem 2>/dev/null || echo MEM-REFUSED";
    let r = run(&spec(&s, script));
    assert_eq!(
        r.stdout, "4\n4\nFULL-REFUSED\n2\nMEM-REFUSED\n",
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("No space left"),
        "/dev/full: {}",
        r.stderr
    );
}

#[test]
fn f3_v1_devices_controller_refuses_block_devices() {
    require_prereqs();
    let s = Scratch::new("f3-v1-devices");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F3-V1");
    // The step waits so that its cgroup can be looked at from here while it runs.
    let script = format!("{}; sleep 2", disk_script(&disk));
    let spec = spec(&s, &script);
    let (r, list) = std::thread::scope(|scope| {
        let run = scope.spawn(|| run_v1(&spec));
        let list = running_v1_devices_list(&run);
        (run.join().unwrap(), list)
    });
    assert_disk_refused(&r, "HOST-DISK-CONTENT-F3-V1");
    // The list is in the v1 controller, so this test shows the fallback, not the eBPF filter.
    let list = list.expect("no v1 devices cgroup held the running step");
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    assert!(!list.lines().any(|l| l == "a *:* rwm"), "{list}");
}

fn run_v1(spec: &rbuild_sandbox::RunSpec) -> Ran {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let outcome = rbuild_sandbox::run_with_v1_devices(spec, exe, &mut |stream, b| match stream {
        rbuild_sandbox::OutputStream::Stdout => out.extend_from_slice(b),
        rbuild_sandbox::OutputStream::Stderr => err.extend_from_slice(b),
    })
    .unwrap();
    Ran {
        reason: outcome.reason,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// The devices.list of the v1 devices cgroup under `rbuild/` that holds a task, looked for
/// until `run` ends.
fn running_v1_devices_list<T>(run: &std::thread::ScopedJoinHandle<'_, T>) -> Option<String> {
    let parent = std::path::Path::new("/sys/fs/cgroup/devices/rbuild");
    while !run.is_finished() {
        for dir in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let procs =
                std::fs::read_to_string(dir.path().join("cgroup.procs")).unwrap_or_default();
            if !procs.trim().is_empty() {
                return std::fs::read_to_string(dir.path().join("devices.list")).ok();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}
