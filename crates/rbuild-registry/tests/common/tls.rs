//! A throwaway certificate authority (made with the `openssl` command) and a server
//! certificate it signs for 127.0.0.1, for HTTPS tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A CA and a TLS acceptor presenting a certificate it signed for IP 127.0.0.1.
pub struct TestCa {
    /// The CA certificate (PEM), to trust.
    pub ca_pem: PathBuf,
    /// Accepts TLS connections with the server certificate.
    pub acceptor: TlsAcceptor,
    _dir: tempfile::TempDir,
}

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
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
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
    let csr = [
        &["req", "-subj", "/CN=127.0.0.1"][..],
        ec,
        &["-keyout", "server.key", "-out", "server.csr"],
    ]
    .concat();
    openssl(d, &csr);
    let ext =
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    std::fs::write(d.join("ext.cnf"), ext).unwrap();
    let sign = [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
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
            _dir: dir,
        }
    }

    /// A `--registry-certs` directory trusting this CA for `host` (`host:port`).
    pub fn certs_dir(&self, host: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(host)).unwrap();
        std::fs::copy(&self.ca_pem, dir.path().join(host).join("ca.crt")).unwrap();
        dir
    }
}

fn acceptor(cert: &Path, key: &Path) -> TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
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
