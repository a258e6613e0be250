//! A throwaway certificate authority (made with the `openssl` command) and a server
//! certificate it signs for 127.0.0.1, for HTTPS tests; also client certificates it signs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

/// A CA and a TLS acceptor presenting a certificate it signed for IP 127.0.0.1.
pub struct TestCa {
    /// The CA certificate (PEM), to trust.
    pub ca_pem: PathBuf,
    /// Accepts TLS connections with the server certificate.
    pub acceptor: TlsAcceptor,
    dir: tempfile::TempDir,
}

/// openssl's options for a new P-256 key without a passphrase.
const EC: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is missing: install Debian's openssl package");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `ca.crt`/`ca.key` and a `server.crt`/`server.key` it signed for IP 127.0.0.1.
fn make_certs(d: &Path) {
    let ec = EC;
    let ca = [
        &["req", "-x509", "-days", "2", "-subj", "/CN=rbuild test CA"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.crt"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign"],
    ]
    .concat();
    openssl(d, &ca);
    sign_server_cert(d, &ec);
}

/// Writes `server.key` and a `server.crt` for IP 127.0.0.1 signed by `ca.crt`.
fn sign_server_cert(d: &Path, ec: &[&str]) {
    let ext =
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    sign(d, ec, "server", "/CN=127.0.0.1", ext);
}

/// Writes `NAME.key` and a `NAME.crt` for `subject` with extensions `ext`, signed by `ca.crt`.
fn sign(d: &Path, ec: &[&str], name: &str, subject: &str, ext: &str) {
    let (key, csr, crt, cnf) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.cnf"),
    );
    let req = [
        &["req", "-subj", subject][..],
        ec,
        &["-keyout", &key, "-out", &csr],
    ]
    .concat();
    openssl(d, &req);
    std::fs::write(d.join(&cnf), ext).unwrap();
    let sign = [
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &cnf,
        "-out",
        &crt,
    ];
    openssl(d, &sign);
}

impl TestCa {
    /// Makes the CA, the server key and certificate, and the acceptor.
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_certs(d);
        let acceptor = acceptor(&d.join("server.crt"), &d.join("server.key"));
        TestCa {
            ca_pem: d.join("ca.crt"),
            acceptor,
            dir,
        }
    }

    /// An acceptor that also requires a client certificate signed by this CA.
    pub fn requiring_client_certs(&self) -> TlsAcceptor {
        let d = self.dir.path();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(d.join("ca.crt")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let clients = WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(clients)
            .with_single_cert(server_chain(&d.join("server.crt")), server_key(d))
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// Writes `client.cert` and `client.key`, a client certificate this CA signed, into
    /// `dir` (Docker's names in a certs.d host directory).
    pub fn client_cert_into(&self, dir: &Path) {
        let d = self.dir.path();
        let ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
        sign(d, &EC, "client", "/CN=rbuild test client", ext);
        std::fs::copy(d.join("client.crt"), dir.join("client.cert")).unwrap();
        std::fs::copy(d.join("client.key"), dir.join("client.key")).unwrap();
    }

    /// A `--registry-certs` directory trusting this CA for `host` (`host:port`).
    pub fn certs_dir(&self, host: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(host)).unwrap();
        std::fs::copy(&self.ca_pem, dir.path().join(host).join("ca.crt")).unwrap();
        dir
    }
}

fn server_chain(cert: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn server_key(d: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(d.join("server.key")).unwrap()
}

fn acceptor(cert: &Path, key: &Path) -> TlsAcceptor {
    let certs = server_chain(cert);
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}
