//! ADD <url> through the registry client (issue 13): per-host CAs from the certs directory,
//! insecure hosts, the proxies of the build args, timeouts, resumed and bounded bodies.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::client_with;
use common::files::{Behaviour, FileServer};
use common::image::noise;
use common::tls::TestCa;
use rbuild_context::remote::{Download, ProxyConfig, UrlFetcher};
use rbuild_oci::Digest;
use rbuild_registry::{Client, RegistryError, RegistryOptions, UrlFetch};

const LAST_MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn assert_downloaded(d: &Download, dir: &Path, body: &[u8]) {
    assert_eq!(d.path, dir.join("file.bin"));
    assert_eq!(std::fs::read(&d.path).unwrap(), body);
    assert_eq!(d.digest, Digest::of(body).to_string());
    assert_eq!(d.size, body.len() as u64);
    let m = std::fs::metadata(&d.path).unwrap();
    assert_eq!(m.mode() & 0o777, 0o600);
}

/// Fetches `url` into a new temp dir (kept as long as the result).
async fn fetch(
    client: &Client,
    url: &str,
    proxy: &ProxyConfig,
) -> (tempfile::TempDir, Result<Download, RegistryError>) {
    let dir = tempfile::tempdir().unwrap();
    let got = client.fetch_url(url, dir.path(), proxy).await;
    (dir, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_url_is_fetched_only_when_the_certs_dir_trusts_its_ca() {
    let ca = TestCa::new();
    let body = noise(1, 300_000);
    let lm = Behaviour {
        last_modified: Some(LAST_MODIFIED.into()),
        ..Default::default()
    };
    let server = FileServer::start_tls(body.clone(), lm, ca.acceptor.clone()).await;
    let url = format!("https://{}/dir/file.bin", server.addr);
    let none = ProxyConfig::default();

    let (_c, plain) = client_with(RegistryOptions::default());
    let err = fetch(&plain, &url, &none).await.1.unwrap_err();
    assert!(matches!(err, RegistryError::Network { .. }), "{err:?}");
    assert!(server.log().is_empty(), "{:?}", server.log());

    let certs = ca.certs_dir(&server.addr);
    let (_c, trusting) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let d = trusting.fetch_url(&url, dir.path(), &none).await.unwrap();
    assert_downloaded(&d, dir.path(), &body);
    assert_eq!(d.last_modified, Some(784111777));
    assert_eq!(std::fs::metadata(&d.path).unwrap().mtime(), 784111777);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_url_of_an_insecure_host_is_fetched_unverified() {
    let ca = TestCa::new();
    let body = noise(2, 1000);
    let server = FileServer::start_tls(body.clone(), Behaviour::default(), ca.acceptor).await;
    let (_c, client) = client_with(RegistryOptions {
        insecure: vec![server.addr.clone()],
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://{}/file.bin", server.addr);
    let d = client
        .fetch_url(&url, dir.path(), &ProxyConfig::default())
        .await
        .unwrap();
    assert_downloaded(&d, dir.path(), &body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_goes_through_the_build_arg_proxy_but_not_for_no_proxy_or_loopback_hosts() {
    let body = noise(3, 50_000);
    let proxy = FileServer::start(body.clone(), Behaviour::default()).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let args = [("http_proxy", format!("http://{}", proxy.addr))];
    let cfg = ProxyConfig::from_vars(args.iter().map(|(k, v)| (*k, v.as_str())));
    // The host does not resolve: only the proxy can answer.
    let dir = tempfile::tempdir().unwrap();
    let url = "http://files.rbuild-test.invalid/a/file.bin";
    let d = client.fetch_url(url, dir.path(), &cfg).await.unwrap();
    assert_downloaded(&d, dir.path(), &body);
    assert_eq!(proxy.log(), vec![format!("GET {url}")]);

    let bypass = ProxyConfig {
        no_proxy: Some("localhost,.rbuild-test.invalid".into()),
        ..cfg.clone()
    };
    let err = fetch(&client, url, &bypass).await.1.unwrap_err();
    assert!(matches!(err, RegistryError::UnknownHost { .. }), "{err:?}");
    assert_eq!(proxy.log().len(), 1, "{:?}", proxy.log());

    let origin = FileServer::start(b"direct".to_vec(), Behaviour::default()).await;
    let local = format!("http://{}/file.bin", origin.addr);
    let (_d, d) = fetch(&client, &local, &cfg).await;
    let d = d.unwrap();
    assert_eq!(std::fs::read(&d.path).unwrap(), b"direct");
    assert_eq!(origin.log(), vec!["GET /file.bin".to_string()]);
    assert_eq!(proxy.log().len(), 1, "{:?}", proxy.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_from_a_stalling_server_times_out() {
    let stall = Behaviour {
        stall_after: Some(1000),
        ..Default::default()
    };
    let server = FileServer::start(noise(4, 100_000), stall).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let client = client.with_retry_policy(rbuild_registry::RetryPolicy {
        attempts: 2,
        ..common::quick_retries()
    });
    let started = Instant::now();
    let url = format!("http://{}/file.bin", server.addr);
    let err = fetch(&client, &url, &ProxyConfig::default())
        .await
        .1
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            RegistryError::TimedOut {
                connecting: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The second attempt asked for the rest only.
    assert_eq!(server.log().len(), 2, "{:?}", server.log());
    assert!(
        server.log()[1].ends_with("range=1000"),
        "{:?}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_body_cut_short_is_resumed_with_range_or_restarted() {
    let body = noise(5, 200_000);
    for ignore_range in [false, true] {
        let cut = Behaviour {
            cut_first_after: Some(70_000),
            ignore_range,
            ..Default::default()
        };
        let server = FileServer::start(body.clone(), cut).await;
        let (_c, client) = client_with(RegistryOptions::default());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{}/file.bin", server.addr);
        let d = client
            .fetch_url(&url, dir.path(), &ProxyConfig::default())
            .await
            .unwrap();
        assert_downloaded(&d, dir.path(), &body);
        let log = server.log();
        assert_eq!(log, vec!["GET /file.bin", "GET /file.bin range=70000"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_larger_than_the_download_limit_is_refused() {
    let server = FileServer::start(noise(6, 5000), Behaviour::default()).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let client = client.with_download_limit(4096);
    let url = format!("http://{}/file.bin", server.addr);
    let err = fetch(&client, &url, &ProxyConfig::default())
        .await
        .1
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit: 4096, .. }),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_fetch_serves_as_the_builders_fetcher_from_any_thread() {
    let body = noise(7, 10_000);
    let server = FileServer::start(body.clone(), Behaviour::default()).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let fetcher: std::sync::Arc<dyn UrlFetcher> = std::sync::Arc::new(UrlFetch::new(client));
    let url = format!("http://{}/file.bin", server.addr);
    // From inside this runtime's thread…
    let dir = tempfile::tempdir().unwrap();
    let d = fetcher
        .fetch(&url, dir.path(), &ProxyConfig::default())
        .unwrap();
    assert_downloaded(&d, dir.path(), &body);
    // …and from a plain thread, as the builder calls it.
    let f = fetcher.clone();
    let d2 = std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let d = f.fetch(&url, dir.path(), &ProxyConfig::default());
        (d.map(|d| d.digest), dir)
    })
    .join()
    .unwrap();
    assert_eq!(d2.0.unwrap(), d.digest);
    let missing = format!("http://{}/file.bin", "127.0.0.1:1");
    let err = fetcher
        .fetch(&missing, dir.path(), &ProxyConfig::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to download http://127.0.0.1:1/"),
        "{err}"
    );
}
