//! The store end to end: tag/rm/images/prune, `store check` on a corrupt blob, and
//! reproducible digests with SOURCE_DATE_EPOCH. Crashes and concurrent builders are in
//! e2e_store_crash.rs, exporters in e2e_export.rs.

mod common;

use std::time::Duration;

use common::images::small_context;
use common::{text, write_file, Env};

#[test]
fn tag_rm_images_prune_and_check() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    env.build_ok(ctx.path(), "small:1", &[]);
    env.rbuild_ok(&["tag", "small:1", "other/name:2"]);
    assert_eq!(
        env.manifest_digest("other/name:2"),
        env.manifest_digest("small:1")
    );
    let images = env.rbuild_ok(&["images"]);
    let line = images
        .lines()
        .find(|l| l.starts_with("small:1 "))
        .unwrap_or_else(|| panic!("{images}"));
    assert!(
        line.trim_end().ends_with("MB") || line.trim_end().ends_with("kB"),
        "{line}"
    );

    // Removing one of two tags frees nothing; removing both frees the image's own blobs.
    env.rbuild_ok(&["rm", "small:1"]);
    let out = env.rbuild_ok(&["prune"]);
    assert!(out.contains("Deleted 0 blobs"), "{out}");
    let missing = env.rbuild(&["rm", "small:1"]);
    assert!(
        !missing.status.success(),
        "removing a missing tag must fail"
    );
    env.rbuild_ok(&["rm", "other/name:2"]);
    let out = env.rbuild_ok(&["prune"]);
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(!out.contains("Deleted 0 blobs"), "{out}");
    env.check_ok();
    // busybox is still tagged and complete; its blob survives.
    env.build_ok(ctx.path(), "small:again", &[]);
    let records = cache_entries(&env);
    assert!(records > 0, "the build recorded no cache entry");
    // Far under the limit, nothing is removed; --all still drops the whole build cache.
    let out = env.rbuild_ok(&["prune", "--all", "--keep-storage", "1GB"]);
    let dropped: usize = out
        .strip_prefix("Deleted 0 blobs, 0 snapshots, ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("data was removed under the limit:\n{out}"));
    assert!(
        dropped >= records,
        "{dropped} of {records} cache entries dropped:\n{out}"
    );
    assert_eq!(cache_entries(&env), 0);
    let again = env.build_ok(ctx.path(), "small:again", &[]);
    assert!(
        again.contains("cache miss"),
        "the cache survived --all:\n{again}"
    );
    env.check_ok();
}

/// The store as the rbuild_store crate sees it (no rbuild process runs meanwhile).
fn usage(env: &Env) -> rbuild_store::DiskUsage {
    rbuild_store::Store::open(&env.store())
        .unwrap()
        .disk_usage()
        .unwrap()
}

fn cache_entries(env: &Env) -> usize {
    usage(env).cache_entries
}

/// The layer digests of a tagged image, from `rbuild inspect`.
fn layers(env: &Env, tag: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&env.rbuild_ok(&["inspect", tag])).unwrap();
    v["Manifest"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn has_blob(env: &Env, digest: &str) -> bool {
    let hex = digest.strip_prefix("sha256:").unwrap();
    env.store().join("blobs/sha256").join(hex).exists()
}

/// Builds `tag` with one RUN writing 3 MB of random bytes (a 3 MB snapshot and layer);
/// returns that layer's digest.
fn build_random(env: &Env, tag: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM busybox:latest\nRUN head -c 3000000 /dev/urandom > /{}\n",
        tag.replace(':', "-")
    );
    write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    env.build_ok(ctx.path(), tag, &[]);
    layers(env, tag).pop().unwrap()
}

#[test]
fn keep_storage_removes_the_oldest_unused_data_and_keeps_the_rest() {
    let env = Env::new();
    let old = build_random(&env, "old:1");
    let new = build_random(&env, "new:1");
    env.rbuild_ok(&["rm", "old:1", "new:1"]);
    let before = usage(&env);
    let used = before.blob_bytes + before.snapshot_bytes;
    // Each image left ~6 MB (snapshot and layer): a limit 4.5 MB under the usage is met once
    // the older image's data is gone, before any of the newer one's is touched.
    let keep = used - 4_500_000;
    let out = env.rbuild_ok(&["prune", "--keep-storage", &keep.to_string()]);
    let after = usage(&env);
    assert!(
        after.blob_bytes + after.snapshot_bytes <= keep,
        "{out}\nused {} of {keep}",
        after.blob_bytes + after.snapshot_bytes
    );
    assert!(!has_blob(&env, &old), "the oldest layer was kept:\n{out}");
    assert!(
        has_blob(&env, &new),
        "the newest layer went although the limit was met:\n{out}"
    );
    assert_eq!(after.snapshots + 1, before.snapshots, "{out}");
    assert!(after.reclaimable_bytes > 3_000_000, "{after:?}");
    env.check_ok();
    // Without a limit, the rest goes too; busybox, still tagged, stays.
    env.rbuild_ok(&["prune"]);
    assert!(!has_blob(&env, &new));
    assert_eq!(usage(&env).reclaimable_bytes, 0);
    env.check_ok();
}

#[test]
fn store_df_shows_counts_sizes_and_what_prune_would_free() {
    let env = Env::new();
    build_random(&env, "df:1");
    env.rbuild_ok(&["rm", "df:1"]);
    let du = usage(&env);
    let df = env.rbuild_ok(&["store", "df"]);
    let field = |name: &str, column: usize| -> String {
        let line = df
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{df}"));
        line[name.len()..]
            .split_whitespace()
            .nth(column)
            .unwrap()
            .to_string()
    };
    assert_eq!(field("blobs:", 0), du.blobs.to_string(), "{df}");
    assert_eq!(field("snapshots:", 0), du.snapshots.to_string(), "{df}");
    assert_eq!(
        field("cache entries:", 0),
        du.cache_entries.to_string(),
        "{df}"
    );
    assert!(du.reclaimable_bytes > 6_000_000, "{du:?}");
    assert!(field("reclaimable:", 0).ends_with("MB"), "{df}");
    env.rbuild_ok(&["prune"]);
    let df = env.rbuild_ok(&["store", "df"]);
    let reclaimable = df.lines().find(|l| l.starts_with("reclaimable:")).unwrap();
    assert!(reclaimable.trim_end().ends_with(" 0B"), "{df}");
}

#[test]
fn store_check_fails_on_a_corrupt_blob() {
    let env = Env::new();
    env.check_ok();
    let blobs = env.store().join("blobs/sha256");
    let victim = std::fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let out = env.rbuild(&["store", "check"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("CORRUPT"), "{}", text(&out));
}

/// A store that built the Dockerfile without SOURCE_DATE_EPOCH first must not hand the
/// epoch build its unclamped layers: the epoch is part of every step's cache key, so the
/// image equals the one a fresh store makes (found by BuildKit's
/// testWorkdirSourceDateEpochReproducible, ported for issue 19).
#[test]
fn a_source_date_epoch_build_never_reuses_layers_built_without_it() {
    let first = Env::new();
    let work = first.root.path();
    let base = work.join("busybox.oci.tar");
    first.rbuild_ok(&["save", "-o", base.to_str().unwrap(), "busybox:latest"]);
    let fresh = Env::empty();
    fresh.rbuild_ok(&["load", "-i", base.to_str().unwrap()]);
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    let dockerfile =
        "FROM busybox:latest\nWORKDIR /work/dir\nCOPY msg.txt /msg.txt\nRUN echo hi > /f\n";
    write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    let c = ctx.path().to_str().unwrap();
    let out = first.rbuild_env(&["build", "-t", "repro:plain", c], &[]);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(1100));
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    for env in [&first, &fresh] {
        let out = env.rbuild_env(
            &["build", "--progress", "plain", "-t", "repro:1", c],
            &epoch,
        );
        let log = text(&out);
        assert!(out.status.success(), "{log}");
        assert!(
            !log.contains("CACHED"),
            "a step was reused across epochs:\n{log}"
        );
    }
    assert_eq!(
        first.manifest_digest("repro:1"),
        fresh.manifest_digest("repro:1"),
        "the epoch build depends on what the store built before"
    );
}

#[test]
fn source_date_epoch_gives_identical_digests_in_two_fresh_stores() {
    let first = Env::new();
    let work = first.root.path();
    // Both stores get the very same base (import stamps the current time into its config).
    let base = work.join("busybox.oci.tar");
    first.rbuild_ok(&["save", "-o", base.to_str().unwrap(), "busybox:latest"]);
    let second = Env::empty();
    second.rbuild_ok(&["load", "-i", base.to_str().unwrap()]);
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    let dockerfile = "FROM busybox:latest\nCOPY msg.txt /msg.txt\nRUN mkdir -p /var/x && echo hi > /var/x/f && touch /var/x/t\nRUN rm /bin/vi\nENV A=b\nCMD [\"cat\", \"/msg.txt\"]\n";
    write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    let c = ctx.path().to_str().unwrap();
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    for env in [&first, &second] {
        let out = env.rbuild_env(
            &["build", "--progress", "plain", "-t", "repro:1", c],
            &epoch,
        );
        assert!(out.status.success(), "{}", text(&out));
        std::thread::sleep(Duration::from_millis(1100));
    }
    let a = first.manifest_digest("repro:1");
    let b = second.manifest_digest("repro:1");
    let ca = first.skopeo_config("repro:1");
    // The image and every step's history time are stamped with the epoch, as BuildKit does,
    // even though the base image was imported later.
    assert_eq!(ca["created"], "2023-11-14T22:13:20Z", "{ca}");
    let history = ca["history"].as_array().unwrap();
    assert_eq!(history.len(), 6, "{ca}");
    for h in &history[1..] {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{ca}");
    }
    assert_eq!(
        a,
        b,
        "configs:\n{}\n{}",
        ca,
        second.skopeo_config("repro:1")
    );
}
