//! Issue 15, "import only what is needed": a remote cache hit needs only its record. Layer
//! blobs stay in the registry until a step that missed unpacks them or an output needs their
//! bytes, and a push to the cache's registry mounts them. Each fresh store stands for an
//! ephemeral CI runner; the registry's access log shows what moved.

mod common;

use std::path::Path;

use common::registry::{context, inspect, run, skopeo};
use common::remote_cache::{assert_store_whole, build_in, counts};
use common::{text, Env};

/// A 3 MB layer, then a small one; `$RANDOM` makes a re-run step produce other bytes.
const DOCKERFILE: &str = "FROM busybox\n\
    RUN head -c 3000000 /dev/urandom > /big\n\
    ARG V=1\n\
    RUN echo $V $RANDOM > /small\n";

/// Bytes the registry sent in GET bodies (blobs and manifests), from an access log slice.
fn bytes_down(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("\"GET /v2/") && !l.contains("rbuild-sentinel"))
        .filter_map(|l| {
            let after = &l[l.find("HTTP/1.1\" ")? + 10..];
            let mut f = after.split_whitespace();
            let (status, size) = (f.next()?, f.next()?);
            status.starts_with('2').then(|| size.parse::<u64>().ok())?
        })
        .sum()
}

/// Blob uploads that sent bytes (not cross-repository mounts).
fn uploads(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("/blobs/uploads/") && !l.contains("mount="))
        .filter(|l| l.contains("\"POST ") || l.contains("\"PATCH ") || l.contains("\"PUT "))
        .collect()
}

fn has_blob(store: &Path, digest: &str) -> bool {
    let hex = digest.trim_start_matches("sha256:");
    store.join("blobs/sha256").join(hex).exists()
}

/// The first runner: builds `app:1`, exports the cache (mode=max) and pushes the image.
fn first_runner(reg: &rbuild_testkit::Registry, ctx: &Path) -> (Env, Vec<String>) {
    let first = Env::new();
    let to = format!("type=registry,ref={}/app:cache,mode=max", reg.addr);
    let push = format!("type=registry,name={}/app:1", reg.addr);
    let log = build_in(&first, ctx, &[], &["--cache-to", &to, "-o", &push]);
    assert_eq!(counts(&log).1, 2, "{log}");
    let layers = remote_layers(&format!("{}/app:1", reg.addr));
    (first, layers)
}

fn remote_layers(image: &str) -> Vec<String> {
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["Layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// A build on `runner` from the cache `app:cache`, pushed as `name` with `type=registry`,
/// every step cached; (its log, the registry's access log of it).
fn cached_push(
    reg: &rbuild_testkit::Registry,
    runner: &Env,
    ctx: &Path,
    name: &str,
) -> (String, String) {
    let from = format!("type=registry,ref={}/app:cache", reg.addr);
    let push = format!("type=registry,name={}/{name}", reg.addr);
    let at = reg.log_len();
    let log = build_in(runner, ctx, &[], &["--cache-from", &from, "-o", &push]);
    assert_eq!(
        counts(&log).1,
        0,
        "every step should come from the cache:\n{log}"
    );
    (log, reg.log_since(at))
}

#[test]
fn a_fully_cached_fresh_runner_pushing_to_the_caches_registry_moves_under_a_megabyte() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let ctx = context(DOCKERFILE);
    let (first, layers) = first_runner(&reg, ctx.path());

    let runner = Env::with_base_of(&first);
    let (log, access) = cached_push(&reg, &runner, ctx.path(), "other:2");
    let down = bytes_down(&access);
    assert!(down < 1 << 20, "{down} bytes came down:\n{access}");
    // Only the image's own small config may be sent: no layer is uploaded.
    for up in uploads(&access) {
        let layer = layers.iter().find(|l| up.contains(l.as_str()));
        assert!(layer.is_none(), "a layer was uploaded: {up}\n{access}");
    }
    // Another repository of the same registry: the layers were mounted, none fetched.
    assert_eq!(remote_layers(&format!("{}/other:2", reg.addr)), layers);
    for l in &layers[1..] {
        assert!(!has_blob(&runner.store(), l), "{l} was fetched:\n{log}");
    }
    // type=registry keeps nothing in the store (as buildkitd's OCI worker), and what the
    // build left there (records naming remote layers, an untagged manifest) is a sound store.
    let images = run(&runner.store(), &runner.docker_config(), &["images"]);
    assert!(!text(&images).contains("other"), "{}", text(&images));
    assert_store_whole(&runner);
    let pruned = run(&runner.store(), &runner.docker_config(), &["prune"]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    assert_store_whole(&runner);
}

#[test]
fn a_step_that_misses_fetches_the_layers_below_it_and_type_image_fetches_all() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let ctx = context(DOCKERFILE);
    let (first, layers) = first_runner(&reg, ctx.path());
    let (big, small) = (&layers[layers.len() - 2], &layers[layers.len() - 1]);
    let from = format!("type=registry,ref={}/app:cache", reg.addr);

    // V changes: the last RUN misses and runs on the big layer, which is fetched; the cached
    // record of the old last step is not needed, so its layer stays in the registry.
    let runner = Env::with_base_of(&first);
    let push = format!("type=registry,name={}/app:2", reg.addr);
    let log = build_in(
        &runner,
        ctx.path(),
        &[],
        &["--cache-from", &from, "--build-arg", "V=2", "-o", &push],
    );
    assert_eq!(counts(&log).1, 1, "{log}");
    assert!(has_blob(&runner.store(), big), "{log}");
    assert!(!has_blob(&runner.store(), small), "{log}");

    // type=image (the default) keeps the image in the store: every layer comes down, and
    // the store is whole.
    let runner = Env::with_base_of(&first);
    let log = build_in(&runner, ctx.path(), &["app:3"], &["--cache-from", &from]);
    assert_eq!(counts(&log).1, 0, "{log}");
    assert_eq!(inspect(&runner.store(), "app:3").1, layers);
    assert_store_whole(&runner);
}

#[test]
fn a_lazily_fetched_layer_that_fails_its_digest_makes_its_step_run() {
    let ctx = context(DOCKERFILE);
    let first = Env::new();
    let dir = first.root.path().join("cache");
    let to = format!("type=local,dest={},mode=max", dir.display());
    build_in(&first, ctx.path(), &["app:1"], &["--cache-to", &to]);
    let (_, layers) = inspect(&first.store(), "app:1");
    // The big layer (below the last step) is replaced by other bytes under its name: the
    // fully cached build finds out only when the store export needs it.
    let big = layers[layers.len() - 2].trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(big), b"not the layer").unwrap();

    let runner = Env::with_base_of(&first);
    let from = format!("type=local,src={}", dir.display());
    let log = build_in(&runner, ctx.path(), &["app:1"], &["--cache-from", &from]);
    assert!(
        log.contains("not used"),
        "no warning about the bad blob:\n{log}"
    );
    assert!(log.contains("building again"), "{log}");
    assert_eq!(
        counts(&log).1,
        2,
        "both RUN steps run on the bad layer:\n{log}"
    );
    assert_store_whole(&runner);
}

#[test]
fn a_registry_base_is_resolved_without_its_layers_until_a_step_needs_them() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let first = Env::new();
    let base = format!("{}/busybox:1", reg.addr);
    assert!(first
        .rbuild(&["tag", "busybox:latest", &base])
        .status
        .success());
    let pushed = first.rbuild(&["push", &base]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    let ctx = context(&DOCKERFILE.replace("FROM busybox", &format!("FROM {base}")));
    let (_, layers) = first_runner(&reg, ctx.path());
    let from = format!("type=registry,ref={}/app:cache", reg.addr);

    // Every step cached, pushed to the base's registry: not even the base's layer comes.
    let runner = Env::empty();
    let (log, access) = cached_push(&reg, &runner, ctx.path(), "app:2");
    assert!(bytes_down(&access) < 512 << 10, "{access}");
    assert!(
        layers.iter().all(|l| !has_blob(&runner.store(), l)),
        "{log}"
    );
    assert_eq!(remote_layers(&format!("{}/app:2", reg.addr)), layers);
    let images = text(&runner.rbuild(&["images"]));
    assert!(
        !images.contains("busybox"),
        "an incomplete base was tagged:\n{images}"
    );

    // A step that misses runs on the base: its layer comes, and the base, now whole in the
    // store, is tagged there as an eager pull would have.
    let runner = Env::empty();
    let log = build_in(
        &runner,
        ctx.path(),
        &["app:3"],
        &["--cache-from", &from, "--build-arg", "V=2"],
    );
    assert_eq!(counts(&log).1, 1, "{log}");
    assert!(has_blob(&runner.store(), &layers[0]), "{log}");
    let images = text(&runner.rbuild(&["images"]));
    assert!(
        images.contains(&format!("{}/busybox", reg.addr)),
        "{images}"
    );
    assert_store_whole(&runner);
}
