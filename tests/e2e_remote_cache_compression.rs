//! Issue 15, `--cache-to …,compression=`: a gzip build exports a zstd cache, which a zstd
//! build on a fresh runner takes every step from (its image's own layers are the cache's
//! zstd blobs), while a gzip build does not use it (a zstd record must not hand a gzip build
//! zstd layers).

mod common;

use std::path::Path;

use common::registry::{context, inspect, run};
use common::remote_cache::{assert_store_whole, build_in, counts};
use common::{text, Env};

const DOCKERFILE: &str = "FROM busybox\n\
    RUN head -c 200000 /dev/urandom > /a\n\
    RUN echo $RANDOM > /b\n";

const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The layers (media type, digest) of the cache manifest tagged `latest` in the layout `dir`.
fn cache_layers(dir: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = dir.join("blobs/sha256").join(&digest[7..]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (s("mediaType"), s("digest"))
        })
        .collect()
}

fn media_types(env: &Env, tag: &str) -> Vec<String> {
    let out = run(&env.store(), &env.docker_config(), &["inspect", tag]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["Manifest"]["layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_gzip_build_exports_a_zstd_cache_that_zstd_builds_take_every_step_from() {
    let ctx = context(DOCKERFILE);
    let first = Env::new();
    let dir = first.root.path().join("cache");
    let to = format!(
        "type=local,dest={},mode=max,compression=zstd",
        dir.display()
    );
    let log = build_in(&first, ctx.path(), &["app:1"], &["--cache-to", &to]);
    assert_eq!(counts(&log).1, 2, "{log}");
    let (_, gzip_layers) = inspect(&first.store(), "app:1");
    let exported = cache_layers(&dir);
    // Base layer as it is; both RUN layers converted (new digests, zstd).
    assert_eq!(exported[0].1, gzip_layers[0]);
    for (mt, digest) in &exported[1..] {
        assert_eq!(mt, ZSTD, "{exported:?}");
        assert!(!gzip_layers.contains(digest), "{digest} was not converted");
    }

    let from = format!("type=local,src={}", dir.display());
    let zstd_out = [
        "--cache-from",
        &from,
        "-o",
        "type=image,name=app:z,compression=zstd",
    ];
    let runner = Env::with_base_of(&first);
    let log = build_in(&runner, ctx.path(), &[], &zstd_out);
    assert_eq!(
        counts(&log).1,
        0,
        "a zstd build should take every step:\n{log}"
    );
    let (_, layers) = inspect(&runner.store(), "app:z");
    let want: Vec<&String> = exported.iter().map(|(_, d)| d).collect();
    assert_eq!(layers.iter().collect::<Vec<_>>(), want);
    assert_eq!(media_types(&runner, "app:z")[1..], [ZSTD, ZSTD]);
    assert_store_whole(&runner);

    let runner = Env::with_base_of(&first);
    let log = build_in(&runner, ctx.path(), &["app:g"], &["--cache-from", &from]);
    assert_eq!(counts(&log).1, 2, "a gzip build used zstd records:\n{log}");
}

#[test]
fn a_bad_compression_option_is_refused_with_its_reason() {
    let ctx = context(DOCKERFILE);
    let env = Env::new();
    for (spec, said) in [
        (
            "type=local,dest=/tmp/x,compression=zstd,compression-level=99",
            "zstd levels are 1-22",
        ),
        (
            "type=local,dest=/tmp/x,compression=zstd,force-compression=true",
            "base image layers",
        ),
        ("type=inline,compression=zstd", "own layers"),
    ] {
        let out = env.build_with(ctx.path(), &["--cache-to", spec]);
        assert!(!out.status.success(), "{spec} was accepted");
        assert!(text(&out).contains(said), "{spec}: {}", text(&out));
    }
}
