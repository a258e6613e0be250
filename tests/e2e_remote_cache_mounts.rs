//! Issues 14 and 15, `mounts=true`: the cache mounts a build uses travel with its remote
//! cache (tag `<tag>-mounts` beside it), so a fresh CI runner's `RUN --mount=type=cache` starts
//! warm, and a second export sends only what changed.

mod common;

use std::path::Path;

use common::registry::{build, skopeo};
use common::{text, Env};

/// Fills the cache mount once (512 KiB of random bytes) and prints its digest (split
/// `SU""M=` so the echoed command never matches); `$RANDOM` adds a file on every run.
const DOCKERFILE: &str = "FROM busybox\n\
    RUN --mount=type=cache,id=downloads,target=/dl \
    [ -f /dl/blob ] || head -c 524288 /dev/urandom > /dl/blob; \
    echo $RANDOM > /dl/touched-$RANDOM; \
    echo \"SU\"\"M=$(md5sum /dl/blob | cut -d' ' -f1)\"\n";

fn sum(log: &str) -> String {
    let at = log
        .find("SUM=")
        .unwrap_or_else(|| panic!("no SUM= in:\n{log}"));
    let digest = &log[at + 4..at + 36];
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{log}");
    digest.to_string()
}

fn build_in(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--no-cache"];
    args.extend_from_slice(extra);
    build(&env.store(), &env.docker_config(), ctx, &["app:1"], &args)
}

/// `(blobs sent, bytes sent)` of the "exported N cache mounts beside" note.
fn sent(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("cache mounts beside"))
        .unwrap_or_else(|| panic!("no mounts export note in:\n{log}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // "exported 1 cache mounts beside HOST:PORT/app:cache: B blobs (N bytes) sent, ..."
    let n = nums.len();
    assert!(n >= 4, "{line}");
    (nums[n - 3], nums[n - 2])
}

#[test]
fn cache_mounts_travel_through_the_registry_cache_and_the_second_export_is_incremental() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cache = format!("{}/app:cache", reg.addr);
    let ctx = common::registry::context(DOCKERFILE);
    let first = Env::new();
    let to = format!("type=registry,ref={cache},mode=max,mounts=true");
    let log = build_in(&first, ctx.path(), &["--cache-to", &to]);
    let made = sum(&log);
    let (blobs, bytes) = sent(&log);
    assert!(
        blobs > 0 && bytes >= 524288,
        "the first export sent too little:\n{log}"
    );

    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{cache}-mounts"),
    ]);
    assert!(raw.status.success(), "{}", text(&raw));
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );

    // A second build on the same runner adds one small file: only that travels.
    let log = build_in(&first, ctx.path(), &["--cache-to", &to]);
    assert_eq!(sum(&log), made, "the mount was not kept between builds");
    let (_, again) = sent(&log);
    assert!(
        again < 64 * 1024,
        "the second export sent {again} bytes:\n{log}"
    );

    // A fresh runner without mounts=true starts cold; with it, warm.
    let cold = Env::with_base_of(&first);
    let from = format!("type=registry,ref={cache}");
    let log = build_in(&cold, ctx.path(), &["--cache-from", &from]);
    assert_ne!(sum(&log), made, "a cache mount arrived without mounts=true");
    let warm = Env::with_base_of(&first);
    let from = format!("type=registry,ref={cache},mounts=true");
    let log = build_in(&warm, ctx.path(), &["--cache-from", &from]);
    assert!(log.contains("restored 1 cache mounts"), "{log}");
    assert_eq!(
        sum(&log),
        made,
        "the fresh runner's cache mount is not the exported one"
    );
    let listed = warm.rbuild_ok(&["cache", "ls"]);
    assert!(listed.contains("downloads"), "{listed}");
}

#[test]
fn cache_mounts_travel_through_a_local_cache_directory() {
    let ctx = common::registry::context(DOCKERFILE);
    let first = Env::new();
    let dir = first.root.path().join("ci-cache");
    let to = format!("type=local,dest={},mounts=true", dir.display());
    let made = sum(&build_in(&first, ctx.path(), &["--cache-to", &to]));
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    assert!(
        index.contains("\"latest\"") && index.contains("\"latest-mounts\""),
        "{index}"
    );

    let runner = Env::with_base_of(&first);
    let from = format!("type=local,src={},mounts=true", dir.display());
    let log = build_in(&runner, ctx.path(), &["--cache-from", &from]);
    assert_eq!(
        sum(&log),
        made,
        "the restored cache mount is not the exported one"
    );

    // Nothing beside a cache yet (a first CI run) is a note, not a failure.
    let empty = first.root.path().join("empty-cache");
    let from = format!("type=local,src={},mounts=true", empty.display());
    let log = build_in(&runner, ctx.path(), &["--cache-from", &from]);
    assert!(log.contains("no cache mounts beside"), "{log}");
}
