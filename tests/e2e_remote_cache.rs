//! Issue 15, the remote cache: `--cache-to`/`--cache-from` of type registry (a real
//! docker-registry on 127.0.0.1), local (an OCI layout directory) and inline (records in the
//! image config), each read by a fresh store standing for an ephemeral CI runner.

mod common;

use std::path::Path;

use common::registry::{build, build_output, inspect, raw_manifest};
use common::remote_cache::{assert_store_whole, counts};
use common::{text, Env};

/// A builder stage and a final stage; `$RANDOM` makes a re-run step produce other bytes, so
/// equal layers prove the step was not run again.
const DOCKERFILE: &str = "FROM busybox AS builder\n\
    RUN echo $RANDOM > /built && echo builder-only > /other\n\
    FROM busybox\n\
    COPY --from=builder /built /built\n\
    RUN cat /built > /copy && echo $RANDOM > /final\n";

fn context() -> tempfile::TempDir {
    common::registry::context(DOCKERFILE)
}

fn build_in(env: &Env, ctx: &Path, tag: &str, extra: &[&str]) -> String {
    build(&env.store(), &env.docker_config(), ctx, &[tag], extra)
}

#[test]
fn a_fresh_runner_takes_every_step_from_the_registry_cache() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cache = format!("{}/app:buildcache", reg.addr);
    let ctx = context();
    let first = Env::new();
    let to = format!("type=registry,ref={cache},mode=max");
    let log = build_in(&first, ctx.path(), "app:1", &["--cache-to", &to]);
    assert!(log.contains("exported cache to"), "{log}");
    assert_eq!(counts(&log).1, 3, "{log}");

    let manifest = raw_manifest(&cache);
    assert_eq!(
        manifest["config"]["mediaType"], "application/vnd.rbuild.buildcache.config.v1+json",
        "{manifest}"
    );
    assert_eq!(
        manifest["artifactType"],
        "application/vnd.rbuild.buildcache.v1"
    );

    let runner = Env::with_base_of(&first);
    let from = format!("type=registry,ref={cache}");
    let meta = runner.root.path().join("meta.json");
    let args = [
        "--cache-from",
        &from[..],
        "--metadata-file",
        meta.to_str().unwrap(),
    ];
    let log = build_in(&runner, ctx.path(), "app:1", &args);
    assert!(log.contains("importing cache from"), "{log}");
    assert_eq!(counts(&log).1, 0, "a step ran on the fresh runner:\n{log}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["rbuild.cache"]["remote"], 1, "{meta}");
    assert_eq!(
        inspect(&runner.store(), "app:1").1,
        inspect(&first.store(), "app:1").1,
        "the fresh runner's layers are not the cached ones"
    );
}

#[test]
fn mode_min_holds_the_final_image_and_mode_max_every_stage() {
    let ctx = context();
    let first = Env::new();
    let dir = first.root.path().join("cache");
    let dir = dir.to_str().unwrap();
    let min = format!("type=local,dest={dir},tag=min");
    let max = format!("type=local,dest={dir},tag=max,mode=max");
    build_in(
        &first,
        ctx.path(),
        "app:1",
        &["--cache-to", &min, "--cache-to", &max],
    );

    for (tag, builder_runs) in [("min", 1), ("max", 0)] {
        let runner = Env::with_base_of(&first);
        let from = format!("type=local,src={dir},tag={tag}");
        let args = ["--cache-from", &from[..], "--target", "builder"];
        let log = build_in(&runner, ctx.path(), "builder:1", &args);
        assert_eq!(counts(&log).1, builder_runs, "mode={tag}:\n{log}");
        let log = build_in(&runner, ctx.path(), "app:1", &["--cache-from", &from]);
        assert_eq!(counts(&log).1, 0, "mode={tag}, final image:\n{log}");
    }
}

#[test]
fn a_corrupted_cache_blob_is_rejected_and_its_step_simply_runs() {
    let ctx = context();
    let first = Env::new();
    let dir = first.root.path().join("cache");
    let to = format!("type=local,dest={},mode=max", dir.display());
    build_in(&first, ctx.path(), "app:1", &["--cache-to", &to]);
    let (_, layers) = inspect(&first.store(), "app:1");
    // The top layer (the final RUN's) is replaced by other bytes under its name.
    let top = layers.last().unwrap().trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(top), b"not the layer").unwrap();

    let runner = Env::with_base_of(&first);
    let from = format!("type=local,src={}", dir.display());
    let log = build_in(&runner, ctx.path(), "app:1", &["--cache-from", &from]);
    assert!(
        log.contains("not used"),
        "no warning about the bad blob:\n{log}"
    );
    assert_eq!(counts(&log).1, 1, "only the final RUN should run:\n{log}");
    assert_ne!(inspect(&runner.store(), "app:1").1.last(), layers.last());
    assert_store_whole(&runner);
}

#[test]
fn an_inline_cache_travels_in_the_pushed_image() {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let image = format!("{}/inline:1", reg.addr);
    let ctx = context();
    let first = Env::new();
    build_in(
        &first,
        ctx.path(),
        &image,
        &["--cache-to", "type=inline", "--push"],
    );
    let runner = Env::with_base_of(&first);
    let log = build_in(&runner, ctx.path(), "app:1", &["--cache-from", &image]);
    assert_eq!(counts(&log).1, 0, "{log}");
    assert_eq!(
        inspect(&runner.store(), "app:1").1,
        inspect(&first.store(), &image).1
    );
}

#[test]
fn a_missing_cache_is_a_note_and_unsupported_options_are_refused() {
    let ctx = context();
    let env = Env::new();
    let dir = env.root.path().join("nothing-here");
    let from = format!("type=local,src={}", dir.display());
    let log = build_in(&env, ctx.path(), "app:1", &["--cache-from", &from]);
    assert!(log.contains("no cache at"), "{log}");
    for (flag, bad, says) in [
        ("--cache-to", "type=gha", "unsupported cache type"),
        (
            "--cache-to",
            "type=registry,ref=r/a,compression=zstd,force-compression=true",
            "base image layers are kept",
        ),
        ("--cache-from", "type=local,dest=/x", "needs src="),
    ] {
        let out = build_output(
            &env.store(),
            &env.docker_config(),
            ctx.path(),
            &[],
            &[flag, bad],
        );
        assert!(!out.status.success(), "{flag} {bad} was accepted");
        assert!(text(&out).contains(says), "{flag} {bad}: {}", text(&out));
    }
}
