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
