//! Registry issue, end to end: the real binary pushes to and pulls from a real docker-registry,
//! checked with skopeo. Credentials (config.json, a credential helper, `rbuild login`) are in
//! e2e_registry_auth.rs; fault injection and bearer-token servers in crates/rbuild-registry/tests.

mod common;

use common::registry::{
    build, build_output, context, fresh_store, inspect, log_len, log_since, ok, run, short, skopeo,
    skopeo_inspect, stdout, upload_requests,
};
use common::{text, Env};
use rbuild_testkit::{Registry, RegistryAuth};

#[test]
fn pushed_image_reads_in_skopeo_and_pulls_into_fresh_stores() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let image = format!("{}/app:1", reg.addr);
    let ctx = context(
        "FROM busybox:latest\nRUN echo hello-from-app > /hello\nCMD [\"cat\", \"/hello\"]\n",
    );
    build(&env.store(), cfg.path(), ctx.path(), &[&image], &[]);
    let (local, layers) = inspect(&env.store(), &image);

    let out = run(&env.store(), cfg.path(), &["push", &image]);
    assert!(out.status.success(), "push failed: {}", text(&out));
    assert_eq!(
        stdout(&out),
        local,
        "push must print the local manifest digest"
    );

    assert_skopeo_agrees(&image, &local, layers.len());

    // An explicit pull into an empty store, then a build on top of it there.
    let (_a, store_a) = fresh_store();
    let out = run(&store_a, cfg.path(), &["pull", &image]);
    assert!(out.status.success(), "pull failed: {}", text(&out));
    assert_eq!(stdout(&out), local);
    assert_eq!(inspect(&store_a, &image), (local.clone(), layers.clone()));
    let child = context(&format!(
        "FROM {image}\nRUN grep -q hello-from-app /hello && touch /child\n"
    ));
    build(&store_a, cfg.path(), child.path(), &["child:1"], &[]);

    // An implicit pull: FROM names the registry image, the store has nothing.
    let (_b, store_b) = fresh_store();
    let log_at = log_len(&reg);
    let out = build(&store_b, cfg.path(), child.path(), &["child:1"], &[]);
    assert!(
        log_since(&reg, log_at).contains("GET /v2/app/manifests/1"),
        "{out}"
    );
    assert_eq!(
        inspect(&store_b, &image).0,
        local,
        "the pulled base is tagged locally"
    );
    // A second build finds the base locally: no registry request at all.
    let log_at = log_len(&reg);
    build(&store_b, cfg.path(), child.path(), &["child:2"], &[]);
    assert_eq!(log_since(&reg, log_at), "", "the base was fetched again");
}

/// skopeo reads the pushed `image` as rbuild does: same digest and layer count, and copies it.
fn assert_skopeo_agrees(image: &str, local: &str, layers: usize) {
    let out = skopeo_inspect(image);
    assert!(
        out.status.success(),
        "skopeo inspect failed: {}",
        text(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], local);
    assert_eq!(v["Layers"].as_array().unwrap().len(), layers);
    let oci = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:x", oci.path().display());
    let out = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &dest,
    ]);
    assert!(out.status.success(), "skopeo copy failed: {}", text(&out));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"], local,
        "skopeo copied another manifest"
    );
}

#[test]
fn second_push_uploads_nothing_and_shared_layers_are_mounted() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let app = format!("{}/app:1", reg.addr);
    let ctx = context("FROM busybox:latest\nRUN echo one > /one\n");
    build(&env.store(), cfg.path(), ctx.path(), &[&app], &[]);
    ok(run(&env.store(), cfg.path(), &["push", &app]), "first push");

    let at = log_len(&reg);
    let out = ok(
        run(&env.store(), cfg.path(), &["push", &app]),
        "second push",
    );
    let log = log_since(&reg, at);
    assert_eq!(
        out.matches("layer already exists").count(),
        3,
        "config and two layers:\n{out}"
    );
    assert!(
        !out.contains("uploading") && !out.contains("pushed\n"),
        "{out}"
    );
    assert_eq!(
        upload_requests(&log),
        Vec::<&str>::new(),
        "the second push uploaded blobs"
    );

    // Another repository sharing the busybox layer: `build --push` mounts it from app.
    let (_, base_layers) = inspect(&env.store(), "busybox:latest");
    let other = format!("{}/other:1", reg.addr);
    let ctx = context("FROM busybox:latest\nRUN echo two > /two\n");
    let at = log_len(&reg);
    let out = build(&env.store(), cfg.path(), ctx.path(), &[&other], &["--push"]);
    let log = log_since(&reg, at);
    assert!(
        out.contains(&format!("{}: mounted from app", short(&base_layers[0]))),
        "{out}"
    );
    assert!(
        log.contains(&format!("mount={}", base_layers[0]).replace(':', "%3A")),
        "{log}"
    );
    let uploads = upload_requests(&log);
    assert!(
        uploads
            .iter()
            .all(|l| !l.contains(&base_layers[0].replace(':', "%3A"))),
        "the shared layer was uploaded: {uploads:?}"
    );
    let (digest, _) = inspect(&env.store(), &other);
    let out = skopeo_inspect(&other);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], digest.as_str(), "{}", text(&out));
}

#[test]
fn build_pull_refetches_a_moved_tag() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let base = format!("{}/base:1", reg.addr);
    let v1 = context("FROM busybox:latest\nRUN echo v1 > /version\n");
    build(&env.store(), cfg.path(), v1.path(), &[&base], &["--push"]);
    let (_d, store) = fresh_store();
    ok(run(&store, cfg.path(), &["pull", &base]), "pull v1");

    let v2 = context("FROM busybox:latest\nRUN echo v2 > /version\n");
    build(&env.store(), cfg.path(), v2.path(), &[&base], &["--push"]);
    let (new, _) = inspect(&env.store(), &base);
    let child = context(&format!(
        "FROM {base}\nRUN echo \"version: $(cat /version)\"\n"
    ));
    // Without --pull the local v1 is used, and the registry is not asked.
    let at = log_len(&reg);
    let out = build(&store, cfg.path(), child.path(), &["child:1"], &[]);
    assert!(
        out.contains("version: v1"),
        "the local base was not used:\n{out}"
    );
    let asked = log_since(&reg, at);
    assert!(
        !asked.contains("/v2/base/"),
        "the registry was asked:\n{asked}"
    );
    let out = build(&store, cfg.path(), child.path(), &["child:2"], &["--pull"]);
    assert!(
        out.contains("version: v2"),
        "--pull did not fetch v2:\n{out}"
    );
    assert_eq!(
        inspect(&store, &base).0,
        new,
        "--pull must move the local tag"
    );
}

#[test]
fn tampered_layer_is_rejected_on_pull() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let image = format!("{}/tamper:1", reg.addr);
    let ctx = context("FROM busybox:latest\nRUN head -c 200000 /bin/busybox > /blob\n");
    build(&env.store(), cfg.path(), ctx.path(), &[&image], &["--push"]);
    let (_, layers) = inspect(&env.store(), &image);
    let hex = corrupt_blob(&reg, layers.last().unwrap());

    let (_d, store) = fresh_store();
    let out = run(&store, cfg.path(), &["pull", &image]);
    assert!(!out.status.success(), "a corrupted layer was accepted");
    let said = text(&out);
    assert!(
        said.contains("digest mismatch") && said.contains(hex),
        "{said}"
    );
    assert!(
        !store.join("blobs/sha256").join(hex).exists(),
        "the bad blob reached the store"
    );
    let out = run(&store, cfg.path(), &["inspect", &image]);
    assert!(
        !out.status.success(),
        "the image was tagged after a failed pull"
    );
    // FROM the same image fails the build the same way.
    let child = context(&format!("FROM {image}\n"));
    let out = build_output(&store, cfg.path(), child.path(), &[], &[]);
    assert!(
        !out.status.success() && text(&out).contains("digest mismatch"),
        "{}",
        text(&out)
    );
    ok(
        run(&store, cfg.path(), &["store", "check"]),
        "store check after a rejected pull",
    );
}

/// Flips a byte in the middle of blob `digest` in the registry's storage; returns its hex.
fn corrupt_blob<'a>(reg: &Registry, digest: &'a str) -> &'a str {
    let hex = &digest["sha256:".len()..];
    let data = reg.storage.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    hex
}
