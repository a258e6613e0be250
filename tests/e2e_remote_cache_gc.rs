//! Issue 15, must-show 2 (second half): a cache written by `--cache-to type=registry` is read
//! by `skopeo inspect --raw` and survives the registry's garbage collection while its tag
//! exists. The registry is stopped, `docker-registry garbage-collect --delete-untagged` runs
//! on its storage, and it is started again on the same storage and port; an untagged image
//! pushed beside the cache shows the collection really removes what nothing references.

mod common;

use std::path::Path;

use common::registry::{build, inspect, skopeo};
use common::remote_cache::counts;
use common::{text, Env};
use rbuild_testkit::{Registry, RegistryAuth};

/// Two builder steps and a final stage; `$RANDOM` makes a re-run step produce other bytes,
/// so equal layers prove the step was not run again.
const DOCKERFILE: &str = "FROM busybox AS builder\n\
    RUN echo $RANDOM > /built\n\
    RUN echo builder-only-$RANDOM > /other\n\
    FROM busybox\n\
    COPY --from=builder /built /built\n\
    RUN cat /built > /copy && echo $RANDOM > /final\n";

/// An image whose every push has a new top layer.
const VICTIM: &str = "FROM busybox\nRUN echo $RANDOM > /victim\n";

fn build_in(env: &Env, ctx: &Path, tag: &str, extra: &[&str]) -> String {
    build(&env.store(), &env.docker_config(), ctx, &[tag], extra)
}

/// The cache manifest's raw bytes, as skopeo reads them from the registry.
fn raw_manifest(reference: &str) -> Vec<u8> {
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(out.status.success(), "skopeo inspect --raw: {}", text(&out));
    out.stdout
}

/// The config and layer digests a manifest references.
fn referenced_blobs(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    assert_eq!(
        m["artifactType"], "application/vnd.rbuild.buildcache.v1",
        "not an rbuild cache: {m}"
    );
    let layers = m["layers"].as_array().unwrap().iter();
    std::iter::once(&m["config"])
        .chain(layers)
        .map(|d| d["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Pushes the victim image twice under one tag; returns the top layer of the first push
/// (referenced only by a manifest no tag names any more) and of the second (tagged).
fn push_untagged_victim(env: &Env, reg: &Registry) -> (String, String) {
    let ctx = common::registry::context(VICTIM);
    let image = format!("{}/victim:1", reg.addr);
    let mut tops = Vec::new();
    for _ in 0..2 {
        build_in(env, ctx.path(), &image, &["--push", "--no-cache"]);
        tops.push(inspect(&env.store(), &image).1.pop().unwrap());
    }
    assert_ne!(
        tops[0], tops[1],
        "the victim's second push has no new layer"
    );
    assert!(
        reg.has_blob(&tops[0]),
        "the victim's layer is not in storage"
    );
    (tops.remove(0), tops.remove(0))
}

#[test]
fn a_registry_cache_survives_garbage_collection_while_its_tag_exists() {
    let mut reg = Registry::start(RegistryAuth::None).unwrap();
    let cache = format!("{}/app:cache", reg.addr);
    let ctx = common::registry::context(DOCKERFILE);
    let first = Env::new();
    let to = format!("type=registry,ref={cache},mode=max");
    let log = build_in(&first, ctx.path(), "app:1", &["--cache-to", &to]);
    assert_eq!(counts(&log).1, 4, "{log}");
    let before = raw_manifest(&cache);
    let blobs = referenced_blobs(&before);
    // mode=max: the config plus at least the builder's two layers and the final stage's two.
    assert!(blobs.len() >= 5, "too few blobs in the cache: {blobs:?}");
    let (untagged, tagged) = push_untagged_victim(&first, &reg);

    reg.stop().unwrap();
    let gc = reg.garbage_collect(true).unwrap();
    reg.restart().unwrap();

    assert!(
        !reg.has_blob(&untagged),
        "the collection removed nothing (the untagged victim's layer {untagged} is still \
         there), so surviving it proves nothing:\n{gc}"
    );
    assert!(reg.has_blob(&tagged), "a tagged image's layer went:\n{gc}");
    for blob in &blobs {
        assert!(reg.has_blob(blob), "the cache lost {blob}:\n{gc}");
    }
    assert_eq!(
        raw_manifest(&cache),
        before,
        "the cache manifest changed across the collection"
    );

    let runner = Env::with_base_of(&first);
    let from = format!("type=registry,ref={cache}");
    let log = build_in(&runner, ctx.path(), "app:1", &["--cache-from", &from]);
    assert!(log.contains("importing cache from"), "{log}");
    assert_eq!(counts(&log).1, 0, "a step ran after the collection:\n{log}");
    assert_eq!(
        inspect(&runner.store(), "app:1").1,
        inspect(&first.store(), "app:1").1,
        "the runner's layers are not the cached ones"
    );
    // The builder stage's records too: its layers are fetched only when asked for.
    let log = build_in(
        &runner,
        ctx.path(),
        "builder:1",
        &["--cache-from", &from, "--target", "builder"],
    );
    assert_eq!(counts(&log).1, 0, "a builder step ran:\n{log}");
}
