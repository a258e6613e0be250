//! Per-host settings (rbuild.toml's `[registry."host"]`, as buildkitd.toml has them): mirrors
//! for any registry, plain HTTP, HTTPS without verification, extra CAs, a client certificate.

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use crate::client::{Client, Endpoint};
use crate::error::{redact_userinfo, RegistryError};
use crate::tls::TlsSettings;

/// How to reach one host, by its name as written (`docker.io`, `host:port`).
#[derive(Clone, Default)]
pub struct HostOptions {
    /// Mirrors tried in order before this registry on pull: `host[:port][/path]` or a URL;
    /// each mirror's own host settings say how to reach it.
    pub mirrors: Vec<String>,
    /// `Some(true)`: plain HTTP; `Some(false)`: HTTPS even on loopback; `None`: the default.
    pub http: Option<bool>,
    /// HTTPS without checking the server's certificate.
    pub skip_verify: bool,
    /// PEM files of CAs trusted besides the system's.
    pub ca: Vec<PathBuf>,
    /// Client certificate and key (PEM files).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mirrors: Vec<String> = self.mirrors.iter().map(|m| redact_userinfo(m)).collect();
        f.debug_struct("HostOptions")
            .field("mirrors", &mirrors)
            .field("http", &self.http)
            .field("skip_verify", &self.skip_verify)
            .field("ca", &self.ca)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

impl Client {
    /// The settings of `host`; Docker Hub's are written under `docker.io`.
    pub(crate) fn host_options(&self, host: &str) -> Option<&HostOptions> {
        let hosts = &self.options().hosts;
        hosts.get(host).or_else(|| match host {
            "registry-1.docker.io" => hosts.get("docker.io"),
            _ => None,
        })
    }

    /// The mirrors of `registry`: `--registry-mirror` ones first (Docker Hub only), then the
    /// configured ones.
    pub(crate) fn mirrors_of(&self, registry: &str) -> Vec<&str> {
        let flags = self
            .options()
            .mirrors
            .iter()
            .filter(|_| registry == "docker.io");
        let configured = self.host_options(registry).map(|h| h.mirrors.iter());
        flags
            .chain(configured.into_iter().flatten())
            .map(String::as_str)
            .collect()
    }

    /// The TLS setup for `host`: the file's CAs, client certificate and verification switch,
    /// then the certs directory's, so a `--registry-certs` client certificate wins;
    /// `skip_verify` also turns verification off (an insecure host's HTTPS URL).
    pub(crate) fn tls_for(
        &self,
        b: reqwest::ClientBuilder,
        host: &str,
        skip_verify: bool,
    ) -> Result<reqwest::ClientBuilder, RegistryError> {
        let mut tls = TlsSettings::default();
        if let Some(h) = self.host_options(host) {
            for ca in &h.ca {
                tls.add_ca(ca)?;
            }
            if let Some((cert, key)) = &h.client_cert {
                tls.add_identity(cert, key)?;
            }
            if h.skip_verify {
                tls.skip_verify();
            }
        }
        if let Some(dir) = &self.options().certs_dir {
            tls.add_host_certs(&dir.join(host))?;
        }
        if skip_verify {
            tls.skip_verify();
        }
        // reqwest takes the configuration as is only if its rustls is this rustls (one version
        // in Cargo.lock); another would fail every client's build ("unknown TLS backend"),
        // which tests/tls.rs would catch.
        Ok(b.tls_backend_preconfigured(tls.config(host)?))
    }

    /// The endpoint of `repository` on `mirror` (`[scheme://]host[:port][/path]`): a path
    /// goes before the repository (`harbor/proxy` serves `/v2/proxy/<repository>/...`).
    pub(crate) fn mirror_endpoint(
        &self,
        mirror: &str,
        repository: &str,
    ) -> Result<Endpoint, RegistryError> {
        let bad = |reason: String| RegistryError::Protocol {
            host: redact_userinfo(mirror),
            reason,
        };
        let with_scheme = match mirror.contains("://") {
            true => mirror.to_string(),
            false => {
                let host = mirror.split('/').next().unwrap_or(mirror);
                let scheme = if self.is_plain_http(host) {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{mirror}")
            }
        };
        let mut base =
            Url::parse(&with_scheme).map_err(|e| bad(format!("invalid mirror URL: {e}")))?;
        let prefix = base.path().trim_matches('/').to_string();
        base.set_path("/");
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(bad("mirror URL has no host".to_string())),
        };
        let repository = match prefix.is_empty() {
            true => repository.to_string(),
            false => format!("{prefix}/{repository}"),
        };
        Ok(Endpoint {
            registry: host.clone(),
            host,
            base,
            repository,
        })
    }
}
