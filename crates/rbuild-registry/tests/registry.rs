//! Push and pull against a real registry process, directly and through proxies.

mod common;

use common::image::{assert_same_blobs, blobs_of, make_image, make_index};
use common::proxy::{Fault, Faults, Proxy, ProxyOptions};
use common::registry::Registry;
use common::{amd64, reference};
use rbuild_oci::Platform;
use rbuild_registry::{PushEvent, RegistryError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_with_equal_digests() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let client = client.with_chunk_size(1 << 20);
    let (_d1, src) = common::store();
    let m = make_image(&src, 1, &[(3 << 20) + 12345, 1000, 70_000], "amd64");
    let target = reference(format!("{}/test/app:1.0", reg.addr));
    let (pushed, events) = common::push_events(&client, &src, &m, &target).await;
    assert_eq!(pushed, m.digest);
    let uploaded = common::count(&events, |e| matches!(e, PushEvent::Uploaded { .. }));
    assert_eq!(uploaded, 4, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PushEvent::Progress { sent, .. } if *sent == 1 << 20)),
        "large layer not chunked: {events:?}"
    );

    let (_d2, dst) = common::store();
    let img = client.pull(&dst, &target, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    assert_eq!(img.manifest.size, m.size);
    assert_eq!(img.config.architecture, "amd64");
    assert_same_blobs(&src, &dst, &m);
    let tagged = dst.resolve_tag(&target.familiar()).unwrap().unwrap();
    assert_eq!(tagged.digest, m.digest);

    // A digest-pinned pull resolves to the same manifest.
    let pinned = reference(format!("{}/test/app@{}", reg.addr, m.digest));
    let (_d3, dst3) = common::store();
    assert_eq!(common::pull_digest(&client, &dst3, &pinned).await, m.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_push_uploads_no_blob() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, ProxyOptions::default()).await;
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, 2, &[50_000, 60_000], "amd64");
    let target = reference(format!("{}/test/again:1", proxy.addr));
    common::push(&client, &src, &m, &target).await.unwrap();
    proxy.clear_log();
    let (_, events) = common::push_events(&client, &src, &m, &target).await;
    let log = proxy.log();
    let uploads: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("/blobs/uploads"))
        .collect();
    assert!(uploads.is_empty(), "second push uploaded: {uploads:?}");
    assert_eq!(
        log.iter().filter(|l| l.starts_with("HEAD ")).count(),
        3,
        "{log:?}"
    );
    let exists = common::count(&events, |e| matches!(e, PushEvent::Exists { .. }));
    assert_eq!(exists, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount_is_used() {
    let reg = Registry::start();
    let proxy = Proxy::start(&reg.addr, ProxyOptions::default()).await;
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, 3, &[40_000, 2_000_000], "amd64");
    let repo = |name: &str| reference(format!("{}/{name}:1", proxy.addr));
    common::push(&client, &src, &m, &repo("a/one"))
        .await
        .unwrap();

    // Pushed from the same store: the store remembers where the blobs went.
    proxy.clear_log();
    let (_, events) = common::push_events(&client, &src, &m, &repo("a/two")).await;
    let mounted = common::count(
        &events,
        |e| matches!(e, PushEvent::Mounted { from, .. } if from == "a/one"),
    );
    assert_eq!(mounted, 3, "{events:?}");
    let log = proxy.log();
    assert!(
        log.iter()
            .any(|l| l.contains("mount=sha256") && l.contains("from=a%2Fone")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.starts_with("PATCH") || l.starts_with("PUT /v2/a/two/blobs")),
        "{log:?}"
    );

    // Pulled elsewhere: the store remembers where the blobs came from.
    let (_d2, other) = common::store();
    client.pull(&other, &repo("a/one"), &amd64()).await.unwrap();
    proxy.clear_log();
    common::push(&client, &other, &m, &repo("b/three"))
        .await
        .unwrap();
    let log = proxy.log();
    assert_eq!(
        log.iter().filter(|l| l.contains("mount=sha256")).count(),
        3,
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_is_rejected_and_not_stored() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, 4, &[300_000], "amd64");
    let target = reference(format!("{}/test/tamper:1", reg.addr));
    common::push(&client, &src, &m, &target).await.unwrap();
    let layer = blobs_of(&src, &m).pop().unwrap();
    let path = reg.blob_data(&layer.digest);
    let mut data = std::fs::read(&path).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&path, data).unwrap();

    let (_d2, dst) = common::store();
    let err = client.pull(&dst, &target, &amd64()).await.unwrap_err();
    assert!(
        matches!(&err, RegistryError::DigestMismatch { expected, .. } if *expected == layer.digest),
        "{err}"
    );
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    assert!(!dst.has_blob(&layer.digest));
    assert!(!dst.has_blob(&m.digest));
    assert!(dst.resolve_tag(&target.familiar()).unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_pull_selects_the_platform() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let amd = make_image(&src, 5, &[10_000], "amd64");
    let arm = make_image(&src, 6, &[11_000], "arm64");
    let index = make_index(&src, &[(amd.clone(), "amd64"), (arm.clone(), "arm64")]);
    let target = reference(format!("{}/multi/app:1", reg.addr));
    assert_eq!(
        common::push(&client, &src, &index, &target).await.unwrap(),
        index.digest
    );

    let (_d2, dst) = common::store();
    let want = Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: Some("v8".into()),
    };
    let img = client.pull(&dst, &target, &want).await.unwrap();
    assert_eq!(img.manifest.digest, arm.digest);
    assert_eq!(img.config.architecture, "arm64");
    assert!(
        !dst.has_blob(&blobs_of(&src, &amd)[1].digest),
        "other platform's layer was fetched"
    );

    let s390x = Platform {
        architecture: "s390x".into(),
        ..amd64()
    };
    let err = client.pull(&dst, &target, &s390x).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("linux/amd64, linux/arm64"),
        "{err}"
    );

    let missing = reference(format!("{}/multi/app:nope", reg.addr));
    let err = client.pull(&dst, &missing, &amd64()).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_survive_injected_faults() {
    let reg = Registry::start();
    let faults = Faults {
        every: 3,
        kinds: vec![
            Fault::Status500,
            Fault::Reset,
            Fault::ForwardThenDrop,
            Fault::TooMany,
            Fault::Truncate,
        ],
        only: None,
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (_cfg, client) = common::anonymous_client();
    let client = client.with_chunk_size(1 << 20);
    let (_d, src) = common::store();
    let m = make_image(&src, 7, &[(4 << 20) + 5, 500_000, 3_000, 200_000], "amd64");
    let target = reference(format!("{}/flaky/app:1", proxy.addr));
    let pushed = common::push(&client, &src, &m, &target).await.unwrap();
    assert_eq!(pushed, m.digest);

    let (_d2, dst) = common::store();
    let img = client.pull(&dst, &target, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    assert_same_blobs(&src, &dst, &m);
    assert!(
        proxy.faults() >= 5,
        "only {} faults injected",
        proxy.faults()
    );
    // What the registry holds is intact too: a direct pull agrees.
    let (_d3, direct) = common::store();
    let direct_ref = reference(format!("{}/flaky/app:1", reg.addr));
    assert_eq!(
        common::pull_digest(&client, &direct, &direct_ref).await,
        m.digest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_resumes_cut_off_blobs_with_range_requests() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, 8, &[1_000_000, 400_000], "amd64");
    let direct = reference(format!("{}/cut/app:1", reg.addr));
    common::push(&client, &src, &m, &direct).await.unwrap();

    let faults = Faults {
        every: 2,
        kinds: vec![Fault::Truncate],
        only: Some("GET /v2/cut/app/blobs/"),
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (_d2, dst) = common::store();
    let through_proxy = reference(format!("{}/cut/app:1", proxy.addr));
    let img = client.pull(&dst, &through_proxy, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    assert_same_blobs(&src, &dst, &m);
    let log = proxy.log();
    assert!(
        log.iter().any(|l| l.contains("range=bytes=")),
        "no ranged GET: {log:?}"
    );
}
