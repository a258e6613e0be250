//! TLS of the registry and URL clients: the system's CA certificates are read only when a
//! server's certificate is checked, so plain HTTP works on a host without any; per-host CAs
//! and client certificates from the certs directory; a plain-HTTP host's redirect to HTTPS is
//! verified.
//!
//! Every test in this file runs as if the host had no CA certificates (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` name nothing, as in a minimal CI container without ca-certificates).

mod common;

use common::client_with;
use common::files::{Behaviour, FileServer};
use common::image::{make_image, noise};
use common::reference;
use common::registry::Registry;
use common::tls::TestCa;
use rbuild_context::remote::ProxyConfig;
use rbuild_registry::{Client, RegistryOptions};

fn no_system_cas() {
    // Set once, first thing in every test, before any of them reads the environment.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::set_var("SSL_CERT_FILE", "/nonexistent/rbuild-test/cert.pem");
        std::env::set_var("SSL_CERT_DIR", "/nonexistent/rbuild-test/certs");
    });
}

/// Downloads `url` with `client`: the body, or the error's text.
async fn get(client: &Client, url: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().unwrap();
    match client
        .fetch_url(url, dir.path(), &ProxyConfig::default())
        .await
    {
        Ok(d) => Ok(std::fs::read(&d.path).unwrap()),
        Err(e) => Err(format!("{e}: {e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_needs_no_system_ca_certificates() {
    no_system_cas();
    let body = noise(7, 5000);
    let server = FileServer::start(body.clone(), Behaviour::default()).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let url = format!("http://{}/file.bin", server.addr);
    assert_eq!(get(&client, &url).await.unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_pull_with_a_plain_http_registry_need_no_system_ca_certificates() {
    no_system_cas();
    let reg = Registry::start();
    let (_c, client) = client_with(RegistryOptions::default());
    let (_d1, src) = common::store();
    let m = make_image(&src, 11, &[20_000], "amd64");
    let target = reference(format!("{}/tls/plain:1", reg.addr));
    common::round_trip(&client, &src, &m, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_redirect_from_a_plain_http_host_is_still_verified() {
    no_system_cas();
    let ca = TestCa::new();
    let body = noise(12, 4000);
    let tls = FileServer::start_tls(body.clone(), Behaviour::default(), ca.acceptor.clone()).await;
    let to = format!("https://{}/storage/file.bin", tls.addr);
    let redirect = Behaviour {
        redirect_to: Some(to),
        ..Default::default()
    };
    let plain = FileServer::start(Vec::new(), redirect).await;
    let url = format!("http://{}/file.bin", plain.addr);

    // No CA at all: the HTTPS hop is refused, not taken unverified.
    let (_c, client) = client_with(RegistryOptions::default());
    let text = get(&client, &url).await.unwrap_err();
    assert!(text.contains("no CA certificates"), "{text}");
    assert!(tls.log().is_empty(), "{:?}", tls.log());

    // The plain host's configured CA is what the hop is checked against.
    let certs = ca.certs_dir(&plain.addr);
    let (_c, trusting) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    assert_eq!(get(&trusting, &url).await.unwrap(), body);
    assert_eq!(tls.log().len(), 1, "{:?}", tls.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_without_any_ca_fails_naming_the_missing_certificates() {
    no_system_cas();
    let ca = TestCa::new();
    let server = FileServer::start_tls(noise(8, 100), Behaviour::default(), ca.acceptor).await;
    let (_c, client) = client_with(RegistryOptions::default());
    let url = format!("https://{}/file.bin", server.addr);
    let text = get(&client, &url).await.unwrap_err();
    assert!(text.contains("no CA certificates"), "{text}");
    assert!(server.log().is_empty(), "{:?}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certs_dir_ca_alone_is_enough_for_https() {
    no_system_cas();
    let ca = TestCa::new();
    let body = noise(9, 3000);
    let server =
        FileServer::start_tls(body.clone(), Behaviour::default(), ca.acceptor.clone()).await;
    let certs = ca.certs_dir(&server.addr);
    let (_c, client) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    let url = format!("https://{}/file.bin", server.addr);
    assert_eq!(get(&client, &url).await.unwrap(), body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certs_dir_client_certificate_is_presented() {
    no_system_cas();
    let ca = TestCa::new();
    let body = noise(10, 2000);
    let server = FileServer::start_tls(
        body.clone(),
        Behaviour::default(),
        ca.requiring_client_certs(),
    )
    .await;
    let url = format!("https://{}/file.bin", server.addr);

    // Trusting the server is not enough: it wants a client certificate.
    let certs = ca.certs_dir(&server.addr);
    let (_c, anonymous) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    assert!(get(&anonymous, &url).await.is_err());
    assert!(server.log().is_empty(), "{:?}", server.log());

    ca.client_cert_into(&certs.path().join(&server.addr));
    let (_c, identified) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    assert_eq!(get(&identified, &url).await.unwrap(), body);
}

#[test]
fn a_broken_ca_file_is_reported_with_its_path_when_the_client_is_made() {
    no_system_cas();
    let certs = tempfile::tempdir().unwrap();
    let host_dir = certs.path().join("127.0.0.1:9");
    std::fs::create_dir(&host_dir).unwrap();
    let broken = host_dir.join("ca.crt");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (_c, client) = client_with(RegistryOptions {
        certs_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt
        .block_on(get(&client, "https://127.0.0.1:9/f"))
        .unwrap_err();
    assert!(
        text.contains("ca.crt") && text.contains("certificate"),
        "{text}"
    );
}
