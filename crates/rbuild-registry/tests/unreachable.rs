//! Issue 13: an unreachable registry fails fast and says why (no retries for a host that does
//! not exist, a short bounded retry for a refused connection), and a pull reports what it is
//! doing instead of being silent.

mod common;

use std::time::{Duration, Instant};

use common::image::{blobs_of, make_image};
use common::proxy::{Fault, Faults};
use common::registry::{free_port, Registry};
use common::{amd64, reference};
use rbuild_registry::{Client, PullEvent, RegistryError, RegistryOptions};

/// A client with the default retry policy and timeouts, as the builder uses it.
fn default_client() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let opts = RegistryOptions {
        docker_config: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    (dir, Client::new(opts).unwrap())
}

fn retries(events: &[PullEvent]) -> usize {
    let retrying = |e: &&PullEvent| matches!(e, PullEvent::Retrying { .. });
    events.iter().filter(retrying).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_pull_from_a_host_that_does_not_exist_fails_fast() {
    let (_cfg, client) = default_client();
    let (client, events) = common::recording(&client);
    let (_d, dst) = common::store();
    let started = Instant::now();
    let err = client
        .pull(&dst, &reference("nonexistent.invalid/x:1"), &amd64())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}: {err}");
    assert!(
        matches!(&err, RegistryError::UnknownHost { host, .. } if host == "nonexistent.invalid"),
        "{err:?}"
    );
    assert!(err.to_string().contains("nonexistent.invalid"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(retries(&events.lock().unwrap()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_pull_from_a_refused_port_fails_after_a_short_bounded_retry() {
    let (_cfg, client) = default_client();
    let (client, events) = common::recording(&client);
    let (_d, dst) = common::store();
    let host = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let err = client
        .pull(&dst, &reference(format!("{host}/x:1")), &amd64())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}: {err}");
    assert!(
        matches!(&err, RegistryError::ConnectionRefused { host: h, .. } if *h == host),
        "{err:?}"
    );
    assert!(err.to_string().contains(&host), "{err}");
    // Three attempts in all, whatever the policy's six.
    assert_eq!(retries(&events.lock().unwrap()), 2);
}

/// The `received` counts reported for layer `index` (of 2), in order.
fn received(events: &[PullEvent], index: usize, layer: &rbuild_oci::Descriptor) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Layer {
                index: i,
                count: 2,
                digest,
                received,
                size,
            } if *i == index && *digest == layer.digest && *size == layer.size => Some(*received),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i13_pull_reports_resolving_layers_and_retries() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let m = make_image(&src, 41, &[(3 << 20) + 7, 5_000], "amd64");
    let direct = reference(format!("{}/prog/app:1", reg.addr));
    common::push(&client, &src, &m, &direct).await.unwrap();
    let faults = Faults {
        every: 2,
        kinds: vec![Fault::Status500],
        only: Some("GET /v2/prog/app/blobs/"),
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (client, events) = common::recording(&client);
    let (_d2, dst) = common::store();
    let target = reference(format!("{}/prog/app:1", proxy.addr));
    client.pull(&dst, &target, &amd64()).await.unwrap();

    let events = events.lock().unwrap();
    assert!(
        matches!(&events[0], PullEvent::Resolving { reference, host }
        if *reference == target.to_string() && *host == proxy.addr)
    );
    let retried = events.iter().any(
        |e| matches!(e, PullEvent::Retrying { attempt: 2, reason, .. } if reason.contains("500")),
    );
    assert!(retried, "{events:?}");
    for (i, layer) in blobs_of(&src, &m).iter().skip(1).enumerate() {
        let seen = received(&events, i + 1, layer);
        let ends = (seen.first().copied(), seen.last().copied());
        assert_eq!(ends, (Some(0), Some(layer.size)), "{}: {events:?}", i + 1);
    }
    // The 3 MiB layer reports along the way, at most once per MiB.
    let big = events
        .iter()
        .filter(|e| matches!(e, PullEvent::Layer { index: 1, .. }))
        .count();
    assert!((4..=6).contains(&big), "{events:?}");
}
