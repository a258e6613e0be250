//! Shared fixtures for the registry tests: a real registry process, a logging / fault-injecting
//! / token-auth proxy, and test images. Everything listens on 127.0.0.1 only.
#![allow(dead_code)]

pub mod files;
pub mod image;
pub mod proxy;
pub mod registry;
pub mod tls;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proxy::{Faults, Proxy, ProxyOptions, TokenAuth};
use rbuild_oci::{Descriptor, Digest, Platform, Reference};
use rbuild_registry::{
    Client, PullEvent, PushEvent, RegistryError, RegistryOptions, RetryPolicy, Timeouts,
};
use rbuild_store::Store;

/// A fresh store in a temp dir (keep the dir alive as long as the store).
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

/// Short delays so retry tests stay fast.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 8,
        base: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(1),
    }
}

/// A client reading credentials only from `docker_config` (an empty temp dir by default).
pub fn client(docker_config: &std::path::Path) -> Client {
    Client::new(RegistryOptions {
        docker_config: Some(docker_config.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
    .with_retry_policy(quick_retries())
}

/// Timeouts short enough for tests: 200 ms to connect, 300 ms without a byte.
pub fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(200),
        idle: Duration::from_millis(300),
    }
}

/// A client with `opts` (its own empty docker config, short timeouts, quick retries).
pub fn client_with(opts: RegistryOptions) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let opts = RegistryOptions {
        docker_config: Some(dir.path().to_path_buf()),
        timeouts: short_timeouts(),
        ..opts
    };
    let client = Client::new(opts)
        .unwrap()
        .with_retry_policy(quick_retries());
    (dir, client)
}

/// An anonymous client with these timeouts and `attempts` quick attempts per request.
pub fn client_with_timeouts(timeouts: Timeouts, attempts: u32) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(RegistryOptions {
        docker_config: Some(dir.path().to_path_buf()),
        timeouts,
        ..Default::default()
    })
    .unwrap()
    .with_retry_policy(RetryPolicy {
        attempts,
        ..quick_retries()
    });
    (dir, client)
}

/// A copy of `client` recording its progress events; the second value reads them.
pub fn recording(client: &Client) -> (Client, Arc<Mutex<Vec<PullEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let client = client.with_progress(move |e| sink.lock().unwrap().push(e));
    (client, events)
}

/// A client without credentials (its empty config dir must outlive it).
pub fn anonymous_client() -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path());
    (dir, client)
}

/// A client whose `config.json` is `json` (its config dir must outlive it).
pub fn client_with_config(json: &str) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    write_docker_config(dir.path(), json);
    let client = client(dir.path());
    (dir, client)
}

/// Writes a `config.json` into `dir`.
pub fn write_docker_config(dir: &std::path::Path, json: &str) {
    std::fs::write(dir.join("config.json"), json).unwrap();
}

/// linux/amd64, the platform most test images are made for.
pub fn amd64() -> Platform {
    Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    }
}

/// Parses a reference the test formatted (host:port of a test registry included).
pub fn reference(s: impl AsRef<str>) -> Reference {
    Reference::parse(s.as_ref()).unwrap()
}

/// Pushes `manifest` from `store` to `target`, ignoring progress.
pub async fn push(
    client: &Client,
    store: &Store,
    manifest: &Descriptor,
    target: &Reference,
) -> Result<Digest, RegistryError> {
    client.push(store, manifest, target, &|_| {}).await
}

/// Pushes like [`push`], asserting success; returns the pushed digest and the progress events.
pub async fn push_events(
    client: &Client,
    store: &Store,
    manifest: &Descriptor,
    target: &Reference,
) -> (Digest, Vec<PushEvent>) {
    let events = Mutex::new(Vec::new());
    let pushed = client
        .push(store, manifest, target, &|e| events.lock().unwrap().push(e))
        .await
        .unwrap();
    (pushed, events.into_inner().unwrap())
}

/// How many of `events` match `pred`.
pub fn count(events: &[PushEvent], pred: impl Fn(&PushEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

/// Pulls `target` for linux/amd64 into `store`; returns the manifest digest it resolved to.
pub async fn pull_digest(client: &Client, store: &Store, target: &Reference) -> Digest {
    client
        .pull(store, target, &amd64())
        .await
        .unwrap()
        .manifest
        .digest
}

/// Pushes `manifest` from `src` to `target`, pulls it into a fresh store; asserts both
/// sides name the same manifest digest.
pub async fn round_trip(client: &Client, src: &Store, manifest: &Descriptor, target: &Reference) {
    let pushed = push(client, src, manifest, target).await.unwrap();
    assert_eq!(pushed, manifest.digest);
    let (_d, dst) = store();
    assert_eq!(pull_digest(client, &dst, target).await, manifest.digest);
}

/// A proxy in front of `upstream` that injects `faults`.
pub async fn faulty_proxy(upstream: &str, faults: Faults) -> Proxy {
    let opts = ProxyOptions {
        faults: Some(faults),
        ..Default::default()
    };
    Proxy::start(upstream, opts).await
}

/// A proxy in front of `upstream` that plays a token-auth registry.
pub async fn token_proxy(upstream: &str, auth: TokenAuth) -> Proxy {
    let opts = ProxyOptions {
        token_auth: Some(auth),
        ..Default::default()
    };
    Proxy::start(upstream, opts).await
}
