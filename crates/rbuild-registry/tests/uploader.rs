//! Export during the build (issue 15): blobs submitted to an [`Uploader`] start uploading at
//! once in the background; `finish` reports how each got there and the bytes sent.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::image::noise;
use common::reference;
use common::registry::Registry;
use rbuild_oci::Digest;
use rbuild_registry::{BlobPushed, BlobUpload, Client, Uploader};
use rbuild_store::Store;
use tokio::runtime::Handle;

/// A store holding blobs of these sizes; returns it and their digests.
fn blobs(sizes: &[usize], seed: u64) -> (tempfile::TempDir, Arc<Store>, Vec<Digest>) {
    let (dir, store) = common::store();
    let digests = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| store.put_blob(&noise(seed + i as u64, *n)).unwrap())
        .collect();
    (dir, Arc::new(store), digests)
}

fn outcome(done: &[BlobUpload], d: &Digest) -> BlobPushed {
    done.iter().find(|u| u.digest == *d).unwrap().pushed.clone()
}

/// Waits (bounded) until `client` sees every one of `digests` in `repo`.
async fn until_present(client: &Client, repo: &rbuild_oci::Reference, digests: &[Digest]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .has_blobs(repo, digests)
        .await
        .unwrap()
        .iter()
        .all(|h| *h)
    {
        assert!(
            Instant::now() < deadline,
            "uploads did not complete in the background"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitted_blobs_upload_in_the_background_and_finish_reports_bytes_sent() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let client = client.with_chunk_size(1 << 20);
    let (_d, store, digests) = blobs(&[(3 << 20) + 7, 200_000, 10], 100);
    let repo = reference(format!("{}/export/app", reg.addr));
    let up = Uploader::new(&client, store.clone(), &repo, Handle::current()).unwrap();
    for d in &digests {
        up.submit(d).unwrap();
    }
    up.submit(&digests[0]).unwrap();
    // Nobody waits on the uploader: the blobs arrive anyway.
    until_present(&client, &repo, &digests).await;
    let progress = up.progress();
    assert_eq!(progress.len(), 3, "a blob submitted twice is uploaded once");
    let done = up.finish().await.unwrap();
    for d in &digests {
        let size = store.blob_size(d).unwrap();
        assert_eq!(outcome(&done, d), BlobPushed::Uploaded { sent: size });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_already_there_are_not_sent_and_others_of_the_registry_are_mounted() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, store, digests) = blobs(&[20_000, 30_000, 10], 300);
    let repo = reference(format!("{}/export/app", reg.addr));
    let first = Uploader::new(&client, store.clone(), &repo, Handle::current()).unwrap();
    for d in &digests {
        first.submit(d).unwrap();
    }
    first.finish().await.unwrap();
    let again = Uploader::new(&client, store.clone(), &repo, Handle::current()).unwrap();
    again.submit(&digests[1]).unwrap();
    assert_eq!(
        outcome(&again.finish().await.unwrap(), &digests[1]),
        BlobPushed::Exists
    );
    let other = reference(format!("{}/export/other", reg.addr));
    let mount = Uploader::new(&client, store, &other, Handle::current()).unwrap();
    mount.submit(&digests[2]).unwrap();
    let from = "export/app".to_string();
    assert_eq!(
        outcome(&mount.finish().await.unwrap(), &digests[2]),
        BlobPushed::Mounted { from }
    );
}

#[test]
fn the_builder_submits_and_waits_from_plain_threads() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, store, digests) = blobs(&[50_000, 60_000], 200);
    let repo = reference(format!("{}/export/sync", reg.addr));
    let up = Uploader::new(&client, store.clone(), &repo, rt.handle().clone()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| up.submit(&digests[0]).unwrap());
        s.spawn(|| up.submit(&digests[1]).unwrap());
    });
    let missing = Digest::of(b"not in the store");
    assert!(
        up.submit(&missing).is_err(),
        "only store blobs can be submitted"
    );
    let done = up.wait().unwrap();
    assert_eq!(done.len(), 2);
    let sent: u64 = done
        .iter()
        .map(|u| match u.pushed {
            BlobPushed::Uploaded { sent } => sent,
            ref other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(sent, 110_000);
}
