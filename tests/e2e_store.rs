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
    let out = env.rbuild_ok(&["prune", "--all", "--keep-storage", "1GB"]);
    assert!(out.contains("Deleted"), "{out}");
    env.check_ok();
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
