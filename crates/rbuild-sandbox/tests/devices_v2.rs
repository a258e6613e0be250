//! F3 on cgroup v2: the eBPF device filter, attached to the run's cgroup in a cgroup2 hierarchy
//! (on this hybrid host the unified mount, which needs no controllers for device programs).

mod common;
use common::*;
use rbuild_sandbox::OutputStream;
use std::path::{Path, PathBuf};

fn cgroup2_mount() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find(|l| l.contains(" - cgroup2 "))
        .and_then(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .expect("no cgroup2 hierarchy is mounted (needed for the eBPF device filter)")
}

fn mine(parent: &Path) -> usize {
    let prefix = format!("{}-", std::process::id());
    std::fs::read_dir(parent).map_or(0, |rd| {
        rd.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count()
    })
}

/// Runs `script` with its cgroup under `root`; also returns, as seen while the step ran, how
/// many of this process's run cgroups were in the cgroup2 tree and in the v1 devices tree.
fn run_v2(s: &Scratch, root: &Path, script: &str) -> (Ran, Option<(usize, usize)>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut during = None;
    let exe = Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let mut on_output = |st: OutputStream, b: &[u8]| {
        during.get_or_insert_with(|| {
            let v1 = Path::new("/sys/fs/cgroup/devices/rbuild");
            (mine(&root.join("rbuild")), mine(v1))
        });
        match st {
            OutputStream::Stdout => out.extend_from_slice(b),
            OutputStream::Stderr => err.extend_from_slice(b),
        }
    };
    let outcome =
        rbuild_sandbox::run_with_cgroup2_root(&spec(s, script), exe, &mut on_output, root).unwrap();
    let ran = Ran {
        reason: outcome.reason,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    };
    (ran, during)
}

#[test]
fn f3_v2_device_filter_refuses_block_devices() {
    require_prereqs();
    let root = cgroup2_mount();
    let s = Scratch::new("f3-v2");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F3V2");
    let (r, during) = run_v2(&s, &root, &disk_script(&disk));
    assert_disk_refused(&r, "HOST-DISK-CONTENT-F3V2");
    // While the step ran its cgroup was in the cgroup2 tree and nowhere in v1.
    assert_eq!(
        during,
        Some((1, 0)),
        "(cgroup2 dirs, v1 devices dirs) during the run"
    );
    assert_eq!(
        mine(&root.join("rbuild")),
        0,
        "cgroup left in {}",
        root.display()
    );
}
