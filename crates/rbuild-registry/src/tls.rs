//! The TLS setup of registry and URL clients as one rustls configuration: extra CAs, a client
//! certificate, or no verification at all. The system's CA certificates are read on the
//! first handshake that checks a server, once per process, not when each client is made:
//! reading /etc/ssl/certs took ~6 ms of a 65 ms cold build pulling from a plain-HTTP registry
//! that never used them, and failed such a pull outright on a host without CA certificates.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::RegistryError;

/// What one host's connections trust and present.
#[derive(Default)]
pub(crate) struct TlsSettings {
    /// CA certificates trusted besides the system's.
    roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and its key.
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// No check of the server's certificate.
    skip_verify: bool,
}

impl TlsSettings {
    /// Trusts the CA certificates of the PEM file `path` besides the system's.
    pub fn add_ca(&mut self, path: &Path) -> Result<(), RegistryError> {
        let pem = read(path)?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(path, format!("not a PEM certificate: {e}")))?;
            // Checked now, so a broken CA file is reported with its path, not at a handshake.
            RootCertStore::empty()
                .add(cert.clone())
                .map_err(|e| bad(path, format!("not a usable CA certificate: {e}")))?;
            self.roots.push(cert);
        }
        Ok(())
    }

    /// Presents the certificate chain of `cert` with the private key of `key` (PEM files).
    pub fn add_identity(&mut self, cert: &Path, key: &Path) -> Result<(), RegistryError> {
        let chain = CertificateDer::pem_slice_iter(&read(cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(cert, format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(bad(cert, "no certificate in the file".into()));
        }
        let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
            .map_err(|e| bad(key, format!("no private key in the file: {e}")))?;
        self.identity = Some((chain, key_der));
        Ok(())
    }

    /// Adds `dir/*.crt` as extra CAs and `dir/*.cert` + `*.key` as the client certificate, as
    /// Docker reads `/etc/docker/certs.d/<host>/`.
    pub fn add_host_certs(&mut self, dir: &Path) -> Result<(), RegistryError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in &paths {
            match p.extension().and_then(|e| e.to_str()) {
                Some("crt") => self.add_ca(p)?,
                Some("cert") => self.add_identity(p, &p.with_extension("key"))?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Accepts any server certificate (`insecure` hosts, `skip_verify`).
    pub fn skip_verify(&mut self) {
        self.skip_verify = true;
    }

    /// The client configuration for `host` (named in errors), speaking HTTP/2 or 1.1.
    pub fn config(self, host: &str) -> Result<rustls::ClientConfig, RegistryError> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let roots = (!self.skip_verify).then_some(self.roots);
        let verifier = Arc::new(Verifier::new(provider.clone(), roots));
        let setup = |reason: String| RegistryError::ClientSetup {
            host: host.to_string(),
            reason,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| setup(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Checks a server's certificate by WebPKI against the system's CAs and the configured ones,
/// loaded once, on the first certificate to check; or accepts any certificate. Either way
/// the handshake's signatures are checked against the certificate the server sent.
struct Verifier {
    provider: Arc<CryptoProvider>,
    /// `None`: any certificate is accepted.
    roots: Option<LazyRoots>,
}

/// The trusted CAs, read when first needed.
struct LazyRoots {
    extra: Vec<CertificateDer<'static>>,
    loaded: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl Verifier {
    fn new(provider: Arc<CryptoProvider>, roots: Option<Vec<CertificateDer<'static>>>) -> Self {
        let roots = roots.map(|extra| LazyRoots {
            extra,
            loaded: OnceLock::new(),
        });
        Verifier { provider, roots }
    }

    fn webpki(&self, roots: &LazyRoots) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        roots
            .loaded
            .get_or_init(|| load(&roots.extra, &self.provider))
            .clone()
            .map_err(rustls::Error::General)
    }
}

/// The system's CA certificates, read once per process: every client of every host (a build
/// may fetch many HTTPS URLs, each with a client of its own) shares them. Unreadable ones are
/// skipped, as the platform verifier skipped them.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

fn load(
    extra: &[CertificateDer<'static>],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut store = RootCertStore::empty();
    // The configured ones were checked when they were read.
    store.add_parsable_certificates(extra.iter().cloned());
    store.add_parsable_certificates(system_roots().iter().cloned());
    if store.is_empty() {
        return Err(
            "no CA certificates: none on this system (is ca-certificates \
                    installed?) and none configured for the host"
                .into(),
        );
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| format!("CA certificates: {e}"))
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(roots) = &self.roots else {
            return Ok(ServerCertVerified::assertion());
        };
        self.webpki(roots)?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots = self
            .roots
            .as_ref()
            .map(|r| (r.extra.len(), r.loaded.get().is_some()));
        f.debug_struct("Verifier")
            .field("(extra CAs, loaded)", &roots)
            .finish()
    }
}

fn read(p: &Path) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(p).map_err(|source| RegistryError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn bad(p: &Path, reason: String) -> RegistryError {
    RegistryError::Certificate {
        path: p.to_path_buf(),
        reason,
    }
}
