//! What a registry sends is untrusted (issue 12, F9 and F2): documents read into memory are
//! capped, and manifest, config and layers are verified against the digest and size they
//! must have before anything enters the store. Tampering comes from the rewriting proxy.

mod common;

use common::image::{blobs_of, make_image, make_image_with_config, make_index};
use common::proxy::{Proxy, ProxyOptions, Rewrite};
use common::registry::Registry;
use common::{amd64, reference};
use rbuild_registry::RegistryError;

/// Asserts that a failed pull left nothing of `manifest` behind but what was there before.
fn assert_nothing_committed(dst: &rbuild_store::Store, manifest: &rbuild_oci::Digest, tag: &str) {
    assert!(!dst.has_blob(manifest), "manifest stored");
    assert!(dst.resolve_tag(tag).unwrap().is_none(), "tag set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_config_blob_over_the_cap_is_refused() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let padding = "x".repeat(9 << 20);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"comment":"{padding}"}}"#
    );
    let m = make_image_with_config(&src, 31, config.as_bytes(), 1000);
    let direct = reference(format!("{}/big/config:1", reg.addr));
    common::push(&client, &src, &m, &direct).await.unwrap();

    let proxy = Proxy::start(&reg.addr, ProxyOptions::default()).await;
    let target = reference(format!("{}/big/config:1", proxy.addr));
    let (_d2, dst) = common::store();
    let err = client.pull(&dst, &target, &amd64()).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == 8 << 20),
        "{err:?}"
    );
    let config_digest = blobs_of(&src, &m)[0].digest.clone();
    let text = err.to_string();
    assert!(text.contains(&config_digest.to_string()), "{text}");
    // Refused from the manifest's descriptor: the config was never downloaded.
    let log = proxy.log();
    assert!(
        !log.iter().any(|l| l.contains(&config_digest.to_string())),
        "{log:?}"
    );
    assert!(!dst.has_blob(&config_digest));
    assert_nothing_committed(&dst, &m.digest, &target.familiar());
}

/// A registry holding image `seed` as `repo:1`, and a proxy in front of it applying `rewrites`.
struct Tampered {
    _reg: Registry,
    proxy: Proxy,
    src: rbuild_store::Store,
    _src_dir: tempfile::TempDir,
    manifest: rbuild_oci::Descriptor,
}

async fn tampered(repo: &str, seed: u64, rewrites: impl Fn(&Blobs) -> Vec<Rewrite>) -> Tampered {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (src_dir, src) = common::store();
    let manifest = make_image(&src, seed, &[120_000, 30_000], "amd64");
    let direct = reference(format!("{}/{repo}:1", reg.addr));
    common::push(&client, &src, &manifest, &direct)
        .await
        .unwrap();
    let blobs = Blobs {
        manifest: manifest.digest.to_string(),
        config: blobs_of(&src, &manifest)[0].digest.to_string(),
        layer: blobs_of(&src, &manifest)[1].digest.to_string(),
    };
    let opts = ProxyOptions {
        rewrites: rewrites(&blobs),
        ..Default::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    Tampered {
        _reg: reg,
        proxy,
        src,
        _src_dir: src_dir,
        manifest,
    }
}

/// The digests of the test image, as they appear in request paths.
struct Blobs {
    manifest: String,
    config: String,
    layer: String,
}

impl Tampered {
    /// Pulls `tail` (`:1` or `@sha256:…`) of `repo` through the proxy into a fresh store;
    /// returns the error and that store.
    async fn pull_fails(
        &self,
        repo: &str,
        tail: &str,
    ) -> (RegistryError, rbuild_store::Store, tempfile::TempDir) {
        let (_cfg, client) = common::anonymous_client();
        let (dir, dst) = common::store();
        let target = reference(format!("{}/{repo}{tail}", self.proxy.addr));
        let err = client.pull(&dst, &target, &amd64()).await.unwrap_err();
        assert!(self.proxy.rewritten() > 0, "no rewrite applied");
        assert_nothing_committed(&dst, &self.manifest.digest, &target.familiar());
        (err, dst, dir)
    }
}

/// Flips one byte in the middle: same size, another digest.
fn flip(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let mid = b.len() / 2;
    b[mid] ^= 0x01;
    b
}

fn assert_mismatch(err: &RegistryError, expected: &str) {
    assert!(
        matches!(err, RegistryError::DigestMismatch { expected: e, .. } if e.to_string() == expected),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_manifest_not_matching_its_docker_content_digest_is_refused() {
    let t = tampered("v/dcd", 32, |_| {
        // Trailing white space keeps it valid JSON but changes its digest.
        let pad = |b: &[u8]| [b, b" "].concat();
        vec![Rewrite::body("GET /v2/v/dcd/manifests/1", pad)]
    })
    .await;
    let (err, _dst, _d) = t.pull_fails("v/dcd", ":1").await;
    assert_mismatch(&err, &t.manifest.digest.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_manifest_with_a_forged_docker_content_digest_is_refused() {
    let forged = rbuild_oci::Digest::of(b"something else").to_string();
    let header = forged.clone();
    let t = tampered("v/forged", 33, move |_| {
        let path = "GET /v2/v/forged/manifests/1";
        vec![Rewrite::set_header(path, "docker-content-digest", &header)]
    })
    .await;
    let (err, _dst, _d) = t.pull_fails("v/forged", ":1").await;
    assert_mismatch(&err, &forged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_manifest_not_matching_the_pinned_digest_is_refused() {
    let t = tampered("v/pin", 34, |b| {
        let path = format!("GET /v2/v/pin/manifests/{}", b.manifest);
        let pad = |b: &[u8]| [b, b" "].concat();
        vec![
            Rewrite::body(path.clone(), pad),
            Rewrite::remove_header(path, "docker-content-digest"),
        ]
    })
    .await;
    let pinned = format!("@{}", t.manifest.digest);
    let (err, _dst, _d) = t.pull_fails("v/pin", &pinned).await;
    assert_mismatch(&err, &t.manifest.digest.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_config_not_matching_its_descriptor_is_refused() {
    let t = tampered("v/config", 35, |b| {
        vec![Rewrite::body(
            format!("GET /v2/v/config/blobs/{}", b.config),
            flip,
        )]
    })
    .await;
    let (err, dst, _d) = t.pull_fails("v/config", ":1").await;
    let config = blobs_of(&t.src, &t.manifest)[0].digest.clone();
    assert_mismatch(&err, &config.to_string());
    assert!(!dst.has_blob(&config));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_layer_not_matching_its_descriptor_is_refused() {
    let t = tampered("v/layer", 36, |b| {
        vec![Rewrite::body(
            format!("GET /v2/v/layer/blobs/{}", b.layer),
            flip,
        )]
    })
    .await;
    let (err, dst, _d) = t.pull_fails("v/layer", ":1").await;
    let layer = blobs_of(&t.src, &t.manifest)[1].digest.clone();
    assert_mismatch(&err, &layer.to_string());
    assert!(!dst.has_blob(&layer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_layer_longer_than_its_descriptor_is_refused() {
    let t = tampered("v/long", 37, |b| {
        let longer = |b: &[u8]| [b, b"trailing bytes"].concat();
        vec![Rewrite::body(
            format!("GET /v2/v/long/blobs/{}", b.layer),
            longer,
        )]
    })
    .await;
    let (err, dst, _d) = t.pull_fails("v/long", ":1").await;
    let layer = &blobs_of(&t.src, &t.manifest)[1];
    assert!(
        matches!(err, RegistryError::SizeMismatch { expected, .. } if expected == layer.size),
        "{err:?}"
    );
    assert!(!dst.has_blob(&layer.digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_index_entry_not_matching_its_descriptor_is_refused() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let amd = make_image(&src, 38, &[10_000], "amd64");
    let arm = make_image(&src, 39, &[11_000], "arm64");
    let index = make_index(&src, &[(amd.clone(), "amd64"), (arm, "arm64")]);
    let direct = reference(format!("{}/v/index:1", reg.addr));
    common::push(&client, &src, &index, &direct).await.unwrap();
    let path = format!("GET /v2/v/index/manifests/{}", amd.digest);
    let opts = ProxyOptions {
        rewrites: vec![
            Rewrite::body(path.clone(), |b: &[u8]| [b, b" "].concat()),
            Rewrite::remove_header(path, "docker-content-digest"),
        ],
        ..Default::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    let target = reference(format!("{}/v/index:1", proxy.addr));
    let (_d2, dst) = common::store();
    let err = client.pull(&dst, &target, &amd64()).await.unwrap_err();
    assert!(proxy.rewritten() > 0, "no rewrite applied");
    assert_mismatch(&err, &amd.digest.to_string());
    assert_nothing_committed(&dst, &amd.digest, &target.familiar());
    assert!(!dst.has_blob(&index.digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_manifest_over_the_cap_is_refused() {
    // Valid JSON padded past the 4 MiB manifest cap, with no digest header to compare first.
    let t = tampered("v/huge", 40, |_| {
        let path = "GET /v2/v/huge/manifests/1";
        let pad = |b: &[u8]| [b, " ".repeat(5 << 20).as_bytes()].concat();
        vec![
            Rewrite::body(path, pad),
            Rewrite::remove_header(path, "docker-content-digest"),
        ]
    })
    .await;
    let (err, _dst, _d) = t.pull_fails("v/huge", ":1").await;
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == 4 << 20),
        "{err:?}"
    );
}

/// Pushes image `seed` to `repo:1` through a proxy applying `rewrites`; returns the error.
async fn push_through(repo: &str, seed: u64, rewrites: Vec<Rewrite>) -> (RegistryError, Proxy) {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, seed, &[20_000], "amd64");
    let opts = ProxyOptions {
        rewrites,
        ..Default::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    let target = reference(format!("{}/{repo}:1", proxy.addr));
    let err = common::push(&client, &src, &m, &target).await.unwrap_err();
    assert!(proxy.rewritten() > 0, "no rewrite applied");
    (err, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_push_refuses_a_registry_reporting_another_manifest_digest() {
    let forged = rbuild_oci::Digest::of(b"not what was pushed");
    let path = "PUT /v2/v/pushed/manifests/1";
    let rewrite = Rewrite::set_header(path, "docker-content-digest", &forged.to_string());
    let (err, _proxy) = push_through("v/pushed", 41, vec![rewrite]).await;
    assert!(
        matches!(&err, RegistryError::DigestMismatch { actual, .. } if *actual == forged),
        "{err:?}"
    );
    assert!(err.to_string().contains("manifest pushed to"), "{err}");
}
