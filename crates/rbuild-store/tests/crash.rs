//! `kill -9` at arbitrary instants, with two processes sharing the store: the next open
//! must work without repair and the store must check clean.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use rbuild_oci::Digest;
use rbuild_store::Store;

const ROOT_ENV: &str = "RBUILD_STORE_CRASH_ROOT";

/// Not a test on its own: the body of a child process that works until it is killed.
#[test]
#[ignore = "run as a child process by kill_9_at_any_instant_leaves_a_usable_store"]
fn crash_worker() {
    let Some(root) = std::env::var_os(ROOT_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    let pid = std::process::id();
    for n in 0u64.. {
        let big: Vec<u8> = (0..(1u32 << 16)).map(|i| (i as u64 ^ n) as u8).collect();
        let mut ing = store.ingest().unwrap();
        for chunk in big.chunks(8192) {
            ing.write_all(chunk).unwrap();
        }
        ing.commit(None, None).unwrap();
        let img = common::put_image(&store, &[&format!("{pid}-{n}")]);
        store.set_tag(&format!("w{pid}:{n}"), &img).unwrap();
        let scratch = store.scratch().unwrap();
        for f in 0..20 {
            std::fs::write(scratch.path().join(format!("f{f}")), big.as_slice()).unwrap();
        }
        std::fs::write(scratch.path().join("done"), b"").unwrap();
        let diff_id = Digest::of(format!("{pid}-{n}").as_bytes());
        store
            .commit_verified_snapshot(&diff_id, scratch.keep(), &diff_id)
            .unwrap();
        store
            .kv_put("cache", &format!("{pid}-{n}"), &big[..64])
            .unwrap();
    }
}

fn spawn_worker(root: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_worker", "--ignored", "--quiet"])
        .env(ROOT_ENV, root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn kill_9_at_any_instant_leaves_a_usable_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    drop(Store::open(&root).unwrap());
    for round in 0..12u64 {
        let mut workers = [spawn_worker(&root), spawn_worker(&root)];
        std::thread::sleep(Duration::from_millis(150 + (round * 53) % 400));
        for w in &mut workers {
            w.kill().unwrap(); // SIGKILL
            w.wait().unwrap();
        }
        let store = Store::open(&root).unwrap();
        let report = store.check().unwrap();
        assert!(report.is_ok(), "round {round}: {report:?}");
        assert_eq!(std::fs::read_dir(root.join("ingest")).unwrap().count(), 0);
        for id in store.snapshots().unwrap() {
            let snap = store.snapshot(&id).unwrap();
            assert!(snap.join("done").is_file(), "partial snapshot {id}");
        }
    }
    let store = Store::open(&root).unwrap();
    assert!(
        !store.tags().unwrap().is_empty(),
        "the workers never got anything done"
    );
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}

const SCRATCH_ENV: &str = "RBUILD_STORE_SCRATCH_ROOT";

/// Not a test on its own: makes run-directory-like scratch dirs, names them, then waits to
/// be killed.
#[test]
#[ignore = "run as a child process by f10_a_scratch_dir_left_by_a_killed_process_is_swept_on_open"]
fn scratch_worker() {
    let Some(root) = std::env::var_os(SCRATCH_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&root)).unwrap();
    let plain = store.scratch().unwrap();
    let kept = store.scratch().unwrap();
    for dir in [plain.path(), kept.path()] {
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        std::fs::write(dir.join("rootfs/etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    }
    let kept = kept.keep();
    let names = format!("{}\n{}\n", plain.path().display(), kept.display());
    std::fs::write(Path::new(&root).join("scratch-names"), names).unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn f10_a_scratch_dir_left_by_a_killed_process_is_swept_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    drop(Store::open(&root).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "scratch_worker", "--ignored", "--quiet"])
        .env(SCRATCH_ENV, &root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let names = root.join("scratch-names");
    let start = std::time::Instant::now();
    while !names.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the worker never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    let dirs: Vec<std::path::PathBuf> = std::fs::read_to_string(&names)
        .unwrap()
        .lines()
        .map(Into::into)
        .collect();
    assert_eq!(dirs.len(), 2);
    // While their owner lives, another process's open leaves them alone.
    drop(Store::open(&root).unwrap());
    assert!(dirs.iter().all(|d| d.join("rootfs/etc/hosts").is_file()));
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    assert!(dirs.iter().all(|d| d.is_dir()), "nothing removed them yet");
    drop(Store::open(&root).unwrap());
    for d in &dirs {
        assert!(!d.exists(), "{} survived the next open", d.display());
    }
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}
