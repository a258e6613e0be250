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

/// This process's run cgroups under `rbuild` (the device filter's parents in it included).
fn mine(rbuild: &Path) -> usize {
    let prefix = format!("{}-", std::process::id());
    rbuild_testkit::run_cgroup_parents(rbuild)
        .iter()
        .map(|parent| {
            std::fs::read_dir(parent).map_or(0, |rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .count()
            })
        })
        .sum()
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

/// The device filter's parents (`rbuild/devices-<hash>`) under `root`.
fn filter_parents(root: &Path) -> Vec<PathBuf> {
    rbuild_testkit::run_cgroup_parents(&root.join("rbuild"))
        .into_iter()
        .skip(1)
        .collect()
}

#[test]
fn f3_v2_device_filter_is_attached_once_to_its_parent_and_again_when_it_is_gone() {
    require_prereqs();
    // A private subtree of the cgroup2 hierarchy, so this test alone decides what is in it.
    let root = cgroup2_mount().join(format!("rbuild-f3-parent-{}", std::process::id()));
    std::fs::create_dir(&root).unwrap();
    let _cleanup = RemoveTree(root.clone());
    let s = Scratch::new("f3-v2-parent");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F3V2P");
    let check_round = |what: &str| {
        let (r, _) = run_v2(&s, &root, &disk_script(&disk));
        assert_disk_refused(&r, "HOST-DISK-CONTENT-F3V2P");
        let parents = filter_parents(&root);
        assert_eq!(parents.len(), 1, "{what}: filter parents {parents:?}");
        let attached = rbuild_sandbox::device_filters_attached(&parents[0]).unwrap();
        assert_eq!(
            attached,
            1,
            "{what}: filters attached to {}",
            parents[0].display()
        );
        assert_eq!(
            mine(&root.join("rbuild")),
            0,
            "{what}: a run cgroup was left"
        );
        parents[0].clone()
    };
    let first = check_round("first run");
    let second = check_round("second run, on the parent the first left");
    assert_eq!(first, second);
    // Gone (as after a reboot, or removed by hand): the next run makes and filters it again.
    std::fs::remove_dir(&first).unwrap();
    check_round("after the parent was removed");
}

/// Removes a tree of (empty) cgroups, deepest first, however the test ends.
struct RemoveTree(PathBuf);

impl Drop for RemoveTree {
    fn drop(&mut self) {
        fn remove(dir: &Path) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&e.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        remove(&self.0);
    }
}
