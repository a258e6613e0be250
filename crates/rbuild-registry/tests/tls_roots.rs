//! The system's CA certificates are read once per process and shared by every client: a
//! build that fetches many HTTPS URLs (each with a client of its own) reads them once.
//!
//! The "system" here is one test CA in `SSL_CERT_FILE`, set before any client exists (this
//! file is its own process, with this one test).

mod common;

use common::client_with;
use common::files::{Behaviour, FileServer};
use common::image::noise;
use common::tls::TestCa;
use rbuild_context::remote::ProxyConfig;
use rbuild_registry::RegistryOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_ca_certificates_are_read_once_for_every_client() {
    let ca = TestCa::new();
    let system = tempfile::tempdir().unwrap();
    let bundle = system.path().join("ca-certificates.crt");
    std::fs::copy(&ca.ca_pem, &bundle).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);
    std::env::set_var("SSL_CERT_DIR", system.path().join("none"));

    let body = noise(13, 1000);
    let server = FileServer::start_tls(body.clone(), Behaviour::default(), ca.acceptor).await;
    let url = format!("https://{}/file.bin", server.addr);
    let fetch = || async {
        let (_c, client) = client_with(RegistryOptions::default());
        let dir = tempfile::tempdir().unwrap();
        let d = client
            .fetch_url(&url, dir.path(), &ProxyConfig::default())
            .await;
        d.map(|d| std::fs::read(d.path).unwrap())
    };
    assert_eq!(fetch().await.unwrap(), body);
    // Gone from the system now: a new client still trusts what the process read.
    std::fs::remove_file(&bundle).unwrap();
    assert_eq!(fetch().await.unwrap(), body);
}
