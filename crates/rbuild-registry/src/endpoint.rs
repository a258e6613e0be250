//! Endpoints (scheme and base URL of a repository on a registry or mirror) and per-host TLS.

use std::path::{Path, PathBuf};

use reqwest::Url;

use crate::error::RegistryError;
use crate::transport;
/// One repository at one endpoint (the registry itself or a mirror).
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    /// `host[:port]` contacted.
    pub host: String,
    /// `scheme://host[:port]/`.
    pub base: Url,
    /// Name credentials are looked up under.
    pub registry: String,
    /// Repository path.
    pub repository: String,
}

impl Endpoint {
    /// `<base>/v2/<repository>/<tail>`.
    pub fn url(&self, tail: &str) -> Result<Url, RegistryError> {
        self.base
            .join(&format!("v2/{}/{tail}", self.repository))
            .map_err(|e| self.protocol(format!("bad URL for {tail:?}: {e}")))
    }

    /// A protocol error naming this endpoint.
    pub fn protocol(&self, reason: String) -> RegistryError {
        RegistryError::Protocol {
            host: self.host.clone(),
            reason,
        }
    }

    /// `registry/repository`, the name recorded as a blob's source.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The scope for `actions` (`pull` or `pull,push`) on this repository.
    pub fn scope(&self, actions: &str) -> String {
        format!("repository:{}:{actions}", self.repository)
    }
}

/// Whether `host` (optionally with port) is loopback: plain HTTP is always allowed there.
pub fn is_loopback(host: &str) -> bool {
    let bare = strip_port(host);
    bare == "localhost"
        || bare == "::1"
        || bare
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Adds `dir/*.crt` as extra roots and `dir/*.cert` + `*.key` as client identity.
pub(crate) fn add_host_certs(
    mut b: reqwest::ClientBuilder,
    dir: &Path,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(b);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in &paths {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => b = add_ca(b, p)?,
            Some("cert") => b = add_identity(b, p, &p.with_extension("key"))?,
            _ => {}
        }
    }
    Ok(b)
}

/// Trusts the CA certificates of the PEM file `path` besides the system's.
pub(crate) fn add_ca(
    b: reqwest::ClientBuilder,
    path: &Path,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let certs = reqwest::Certificate::from_pem_bundle(&read(path)?).map_err(|e| bad(path, e))?;
    Ok(b.tls_certs_merge(certs))
}

/// Presents the certificate `cert` with its private key `key` (PEM files) to the server.
pub(crate) fn add_identity(
    b: reqwest::ClientBuilder,
    cert: &Path,
    key: &Path,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let mut pem = read(cert)?;
    pem.extend_from_slice(b"\n");
    pem.extend(read(key)?);
    let identity = reqwest::Identity::from_pem(&pem).map_err(|e| bad(cert, e))?;
    Ok(b.identity(identity))
}

fn read(p: &Path) -> Result<Vec<u8>, RegistryError> {
    std::fs::read(p).map_err(|source| RegistryError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn bad(p: &Path, e: reqwest::Error) -> RegistryError {
    RegistryError::Certificate {
        path: p.to_path_buf(),
        reason: transport::describe(&e),
    }
}
