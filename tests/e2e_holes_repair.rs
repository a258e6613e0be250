//! Regression tests for issue 12's F10: what a killed build leaves, tag names, and
//! `store check --repair` on a damaged store. Each test is named after its finding.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn sandbox_dirs(pid: u32) -> Vec<String> {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("rbuild-sandbox-{pid}-")))
        .collect()
}

#[test]
fn f10_a_killed_build_leaves_no_sandbox_directory() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo step-started && sleep 60\n");
    let log = env.root.path().join("killed.log");
    let mut child = env.spawn(
        &["build", "--progress", "plain", ctx.path().to_str().unwrap()],
        &log,
    );
    let start = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("step-started")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the RUN never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        sandbox_dirs(child.id()),
        Vec::<String>::new(),
        "left in the temp dir"
    );
    // The next command sweeps what the killed one left inside the store.
    env.rbuild_ok(&["images"]);
    let tmp = env.store().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmp).map_or(Vec::new(), |d| {
        d.filter_map(|e| e.ok()).map(|e| e.path()).collect()
    });
    assert!(left.is_empty(), "left in the store's tmp: {left:?}");
}

#[test]
fn f10_build_refuses_a_tag_that_rbuild_tag_refuses() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo never-runs\n");
    let out = env.build_fails(ctx.path(), "../../etc/x:1", &[]);
    assert!(
        !out.contains("never-runs"),
        "the build ran before the tag was checked:\n{out}"
    );
    let tagged = env.rbuild(&["tag", "busybox:latest", "../../etc/x:1"]);
    assert!(
        !tagged.status.success(),
        "rbuild tag accepts it too: {}",
        text(&tagged)
    );
}

/// Flips one byte in the middle of a blob (blobs are read-only files).
fn flip_byte(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

fn blob(env: &Env, digest: &str) -> std::path::PathBuf {
    env.store()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The digest of the top layer of `tag`.
fn top_layer(env: &Env, tag: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&env.rbuild_ok(&["inspect", tag])).unwrap();
    let layers = v["Manifest"]["layers"].as_array().unwrap();
    layers.last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn f10_store_check_repair_heals_a_damaged_store() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo layer > /made-by-run && echo ran-step\n");
    env.build_ok(ctx.path(), "app:1", &[]);
    flip_byte(&blob(&env, &top_layer(&env, "app:1")));
    // Truncate a file of the unpacked base.
    let snaps = env.store().join("snapshots");
    let base = std::fs::read_dir(&snaps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("bin/busybox").is_file())
        .expect("the base snapshot");
    let bb = base.join("bin/busybox");
    let len = std::fs::metadata(&bb).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bb)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    std::fs::write(env.store().join("cache.db"), b"this is not a database").unwrap();

    let check = env.rbuild(&["store", "check"]);
    assert!(
        !check.status.success(),
        "check must report the damage:\n{}",
        text(&check)
    );
    let repair = env.rbuild(&["store", "check", "--repair"]);
    assert!(repair.status.success(), "{}", text(&repair));
    env.check_ok();
    let out = env.build_ok(ctx.path(), "app:1", &[]);
    assert!(
        out.contains("ran-step"),
        "the step whose layer was dropped runs again:\n{out}"
    );
    let ctx2 = context("FROM busybox\nRUN busybox true && echo base-intact\n");
    let out = env.build_ok(ctx2.path(), "app:2", &[]);
    assert!(out.contains("base-intact"), "{out}");
    env.check_ok();
}

#[test]
fn f10_no_cache_rebuild_does_not_keep_a_corrupt_blob() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo same > /same\n");
    env.build_ok(
        ctx.path(),
        "same:1",
        &["--build-arg", "SOURCE_DATE_EPOCH=0"],
    );
    flip_byte(&blob(&env, &top_layer(&env, "same:1")));
    env.build_ok(
        ctx.path(),
        "same:1",
        &["--no-cache", "--build-arg", "SOURCE_DATE_EPOCH=0"],
    );
    env.check_ok();
}

#[test]
fn f10_a_corrupt_index_json_is_reported_and_repaired() {
    let env = Env::new();
    std::fs::write(env.store().join("index.json"), b"{ not json").unwrap();
    let images = env.rbuild(&["images"]);
    assert!(!images.status.success());
    assert!(
        text(&images).contains("store check --repair"),
        "{}",
        text(&images)
    );
    let check = env.rbuild(&["store", "check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("index.json"), "{}", text(&check));
    env.rbuild_ok(&["store", "check", "--repair"]);
    env.check_ok();
    env.rbuild_ok(&["images"]);
}

/// The parents of run cgroups on this host: `rbuild` in the v1 controllers and the unified
/// tree, and the device filter's parents in the latter.
fn run_cgroup_parents() -> Vec<std::path::PathBuf> {
    ["unified", "memory", "pids", "cpu", "devices", ""]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join("rbuild"))
        .filter(|p| p.is_dir())
        .flat_map(|p| rbuild_testkit::run_cgroup_parents(&p))
        .collect()
}

#[test]
fn f10_stale_run_cgroups_go_with_the_next_run_step_or_store_check() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN true\n");
    env.build_ok(ctx.path(), "sweep:1", &["--no-cache"]);
    let parents = run_cgroup_parents();
    assert!(!parents.is_empty(), "a RUN made no run cgroup parent");
    assert!(
        parents
            .iter()
            .any(|p| p.to_string_lossy().contains("/rbuild/devices-")),
        "no device filter parent among {parents:?}"
    );
    // A pid that has exited, as a build killed before it removed its cgroups.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale: Vec<_> = parents
        .iter()
        .map(|p| p.join(format!("{dead}-0-stale")))
        .collect();
    for (how, args) in [
        (
            "a build that runs a step",
            vec!["build", "--no-cache", "-t", "sweep:1"],
        ),
        ("store check", vec!["store", "check"]),
    ] {
        for dir in &stale {
            std::fs::create_dir(dir).unwrap();
        }
        let mut args = args;
        if args[0] == "build" {
            args.push(ctx.path().to_str().unwrap());
        }
        env.rbuild_ok(&args);
        let left: Vec<_> = stale.iter().filter(|d| d.exists()).collect();
        for dir in &left {
            let _ = std::fs::remove_dir(dir);
        }
        assert!(left.is_empty(), "{how} left {left:?}");
    }
}
