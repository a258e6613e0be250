//! What the remote build cache (issue 15) needs from the registry, against a real registry:
//! arbitrary OCI artifacts pushed by tag or by digest only, manifests read without their
//! blobs, single blobs on demand, which blobs a repository has, and mounts of artifact blobs.

mod common;

use std::sync::Mutex;

use common::image::noise;
use common::reference;
use common::registry::Registry;
use rbuild_oci::{media_type, Descriptor, Digest, Reference};
use rbuild_registry::{record_blob_source, Artifact, PushEvent, RegistryError};
use rbuild_store::Store;

const CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";

/// A cache-like artifact in `store`: a JSON config of the cache media type and two layers.
fn cache_artifact(store: &Store, seed: u64) -> Artifact {
    let config = format!(r#"{{"layers":[],"records":[{{"digest":"seed{seed}"}}]}}"#);
    let cd = store.put_blob(config.as_bytes()).unwrap();
    let layers = [40_000, 3_000]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let d = store.put_blob(&noise(seed * 10 + i as u64, *n)).unwrap();
            Descriptor::new(media_type::OCI_LAYER_GZIP, d, *n as u64)
        })
        .collect();
    let mut a = Artifact::manifest(
        Descriptor::new(CACHE_CONFIG, cd, config.len() as u64),
        layers,
    );
    a.annotations.insert(
        "org.opencontainers.image.description".into(),
        "cache".into(),
    );
    a
}

fn all_blobs(a: &Artifact) -> Vec<Descriptor> {
    a.config.iter().chain(&a.blobs).cloned().collect()
}

/// Pushes, recording the events.
async fn push(
    client: &rbuild_registry::Client,
    store: &Store,
    a: &Artifact,
    repo: &Reference,
    tag: Option<&str>,
) -> (Descriptor, Vec<PushEvent>) {
    let events = Mutex::new(Vec::new());
    let pushed = client
        .push_artifact(store, a, repo, tag, &|e| events.lock().unwrap().push(e))
        .await
        .unwrap();
    (pushed, events.into_inner().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_pushed_by_tag_reads_back_without_its_blobs() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let a = cache_artifact(&src, 1);
    let repo = reference(format!("{}/cache/app", reg.addr));
    let (desc, _) = push(&client, &src, &a, &repo, Some("buildcache")).await;
    assert_eq!(desc, a.descriptor().unwrap());
    assert!(
        src.has_blob(&desc.digest),
        "the document is stored locally too"
    );

    let tagged = client
        .fetch_manifest(&reference(format!("{}/cache/app:buildcache", reg.addr)))
        .await
        .unwrap();
    assert_eq!(tagged.descriptor, desc);
    assert_eq!(tagged.bytes, a.to_json().unwrap());
    let v: serde_json::Value = serde_json::from_slice(&tagged.bytes).unwrap();
    assert_eq!(v["config"]["mediaType"], CACHE_CONFIG);
    assert_eq!(
        v["annotations"]["org.opencontainers.image.description"],
        "cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_pushed_by_digest_only_gets_no_tag() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let repo = reference(format!("{}/cache/app", reg.addr));
    push(
        &client,
        &src,
        &cache_artifact(&src, 1),
        &repo,
        Some("buildcache"),
    )
    .await;
    let mut b = cache_artifact(&src, 2);
    b.artifact_type = Some("application/vnd.rbuild.cache.v1".into());
    let (by_digest, _) = push(&client, &src, &b, &repo, None).await;
    let pinned = format!("{}/cache/app@{}", reg.addr, by_digest.digest);
    let got = client.fetch_manifest(&reference(&pinned)).await.unwrap();
    assert_eq!(got.bytes, b.to_json().unwrap());
    let tags: serde_json::Value =
        reqwest::get(format!("http://{}/v2/cache/app/tags/list", reg.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["buildcache"]), "{tags}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_checked_and_fetched_one_at_a_time_on_demand() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let a = cache_artifact(&src, 3);
    let repo = reference(format!("{}/cache/lazy", reg.addr));
    push(&client, &src, &a, &repo, Some("c")).await;

    let blobs = all_blobs(&a);
    let absent = Digest::of(b"never pushed");
    let mut asked: Vec<Digest> = blobs.iter().map(|b| b.digest.clone()).collect();
    asked.insert(1, absent.clone());
    let have = client.has_blobs(&repo, &asked).await.unwrap();
    assert_eq!(have, vec![true, false, true, true]);

    let (_d2, dst) = common::store();
    let layer = &a.blobs[0];
    client.pull_blob(&dst, &repo, layer).await.unwrap();
    assert_eq!(
        dst.read_blob(&layer.digest).unwrap(),
        src.read_blob(&layer.digest).unwrap()
    );
    assert!(
        !dst.has_blob(&a.blobs[1].digest),
        "only the blob asked for is fetched"
    );
    let mut lying = layer.clone();
    lying.digest = absent;
    let err = client.pull_blob(&dst, &repo, &lying).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_blobs_are_mounted_from_another_repository_without_being_local() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let a = cache_artifact(&src, 4);
    let from = reference(format!("{}/cache/main", reg.addr));
    push(&client, &src, &a, &from, Some("c")).await;

    // A store that only knows where the blobs are (as after importing the cache lazily).
    let (_d2, other) = common::store();
    for b in all_blobs(&a) {
        assert!(!other.has_blob(&b.digest));
        record_blob_source(&other, &b.digest, &from);
    }
    let to = reference(format!("{}/cache/branch", reg.addr));
    let (_, events) = push(&client, &other, &a, &to, Some("c")).await;
    let mounted = events
        .iter()
        .filter(|e| matches!(e, PushEvent::Mounted { from, .. } if from == "cache/main"))
        .count();
    assert_eq!(mounted, 3, "{events:?}");
    assert!(!events
        .iter()
        .any(|e| matches!(e, PushEvent::Uploading { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_is_mounted_on_request_and_an_unknown_one_is_not() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let a = cache_artifact(&src, 8);
    let from = reference(format!("{}/cache/main", reg.addr));
    push(&client, &src, &a, &from, Some("c")).await;
    let third = reference(format!("{}/cache/third", reg.addr));
    let layer = &a.blobs[0].digest;
    assert!(client
        .mount_blob(&third, layer, "cache/main")
        .await
        .unwrap());
    assert_eq!(
        client
            .has_blobs(&third, std::slice::from_ref(layer))
            .await
            .unwrap(),
        [true]
    );
    let unknown = Digest::of(b"nowhere");
    assert!(!client
        .mount_blob(&third, &unknown, "cache/main")
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_artifacts_push_blob_entries_and_need_manifest_entries_first() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let repo = reference(format!("{}/cache/index", reg.addr));
    // BuildKit's index form of a cache: the config and layers listed as index entries.
    let a = cache_artifact(&src, 5);
    let legacy = Artifact::index(all_blobs(&a));
    let (d, _) = push(&client, &src, &legacy, &repo, Some("legacy")).await;
    let back = client
        .fetch_manifest(&reference(format!("{}/cache/index:legacy", reg.addr)))
        .await
        .unwrap();
    assert_eq!(
        (back.descriptor.media_type.as_str(), back.descriptor.digest),
        (media_type::OCI_INDEX, d.digest)
    );

    let missing = Artifact::index(vec![cache_artifact(&src, 6).descriptor().unwrap()]);
    let err = client
        .push_artifact(&src, &missing, &repo, Some("bad"), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");

    let child = cache_artifact(&src, 7);
    let (child_desc, _) = push(&client, &src, &child, &repo, None).await;
    let index = Artifact::index(vec![child_desc.clone()]);
    let (_, events) = push(&client, &src, &index, &repo, Some("multi")).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, PushEvent::ManifestPushed { reference, .. } if reference == "multi")));
}
