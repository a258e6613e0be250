//! The client: options, endpoints (scheme, mirrors, TLS per host) and the HTTP clients.

mod request;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::Url;

use crate::auth::config::Credentials;
use crate::auth::AuthState;
use crate::error::{redact_userinfo, RegistryError};
use crate::progress::{ProgressFn, PullEvent};
use crate::transport::{self, RetryPolicy, Timeouts, Transport};

pub use crate::endpoint::is_loopback;
use crate::endpoint::strip_port;
pub(crate) use crate::endpoint::Endpoint;
pub(crate) use crate::hosts::HostOptions;

/// Registry settings: insecure hosts, Docker Hub mirrors, CA directory, per-host settings,
/// Docker config directory, timeouts. `Debug` hides any `user:password@` in a mirror URL.
#[derive(Clone, Default)]
pub struct RegistryOptions {
    /// Hosts (`host` or `host:port`) allowed over plain HTTP besides loopback.
    pub insecure: Vec<String>,
    /// Mirrors for docker.io (`https://mirror.example` or `host:port`), tried in order on pull.
    pub mirrors: Vec<String>,
    /// Per-host CA and client certificates, like `/etc/docker/certs.d/<host>/*.crt`.
    pub certs_dir: Option<PathBuf>,
    /// Per-host settings (rbuild.toml's `[registry."host"]`), by host as written.
    pub hosts: BTreeMap<String, HostOptions>,
    /// Docker config directory; default `$DOCKER_CONFIG` or `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// Connect and idle timeouts for every request (default 10 s and 30 s).
    pub timeouts: Timeouts,
}

impl fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mirrors: Vec<String> = self.mirrors.iter().map(|m| redact_userinfo(m)).collect();
        f.debug_struct("RegistryOptions")
            .field("insecure", &self.insecure)
            .field("mirrors", &mirrors)
            .field("certs_dir", &self.certs_dir)
            .field("hosts", &self.hosts)
            .field("docker_config", &self.docker_config)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// A registry client; cheap to clone (clones share connections, tokens and credentials).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
    /// Who hears about this client's progress (per clone: see [`Client::with_progress`]).
    progress: Option<ProgressFn>,
    /// Each request is sent once (per clone: see [`Client::single_attempt`]).
    once: bool,
}

pub(crate) struct Inner {
    opts: RegistryOptions,
    http: Mutex<HashMap<String, reqwest::Client>>,
    pub(crate) auth: AuthState,
    pub(crate) retry: RetryPolicy,
    /// Blobs larger than this are uploaded in PATCH chunks of this size.
    pub(crate) chunk_size: u64,
    /// Blobs transferred at once.
    pub(crate) parallel: usize,
    /// URL downloads larger than this are refused.
    pub(crate) download_limit: u64,
}

impl Client {
    /// A client with these options; no connection is made yet.
    pub fn new(opts: RegistryOptions) -> Result<Client, RegistryError> {
        let auth = AuthState::new(opts.docker_config.clone());
        Ok(Client {
            inner: Arc::new(Inner {
                opts,
                http: Mutex::default(),
                auth,
                retry: RetryPolicy::default(),
                chunk_size: 16 << 20,
                parallel: 4,
                download_limit: u64::MAX,
            }),
            progress: None,
            once: false,
        })
    }

    /// A copy of this client with another retry policy (tests use short delays).
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Client {
        self.rebuild(|i| i.retry = retry)
    }

    /// A copy of this client uploading blobs above `bytes` in chunks of that size.
    pub fn with_chunk_size(&self, bytes: u64) -> Client {
        self.rebuild(|i| i.chunk_size = bytes.max(1))
    }

    /// A copy of this client refusing URL downloads ([`Client::fetch_url`]) above `bytes`.
    pub fn with_download_limit(&self, bytes: u64) -> Client {
        self.rebuild(|i| i.download_limit = bytes)
    }

    /// A copy of this client (sharing connections and tokens) that reports what its pulls do,
    /// and the retries of any request, to `progress`.
    pub fn with_progress(&self, progress: impl Fn(PullEvent) + Send + Sync + 'static) -> Client {
        Client {
            inner: self.inner.clone(),
            progress: Some(Arc::new(progress)),
            once: self.once,
        }
    }

    /// A copy of this client (sharing everything) sending each request only once: for the
    /// requests of a loop that retries (resumes, restarts) on its own, so retries do not nest.
    pub(crate) fn single_attempt(&self) -> Client {
        Client {
            once: true,
            ..self.clone()
        }
    }

    fn rebuild(&self, f: impl FnOnce(&mut Inner)) -> Client {
        let mut inner = Inner {
            opts: self.inner.opts.clone(),
            http: Mutex::default(),
            auth: AuthState::new(self.inner.opts.docker_config.clone()),
            retry: self.inner.retry.clone(),
            chunk_size: self.inner.chunk_size,
            parallel: self.inner.parallel,
            download_limit: self.inner.download_limit,
        };
        f(&mut inner);
        Client {
            inner: Arc::new(inner),
            progress: self.progress.clone(),
            once: self.once,
        }
    }

    /// Uses these credentials for `registry` instead of Docker's config (e.g. `--username`).
    pub fn set_credentials(&self, registry: &str, username: &str, password: &str) {
        let creds = Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        };
        self.inner.auth.set_credentials(registry, Some(creds));
    }

    /// Whether `host` is spoken to over plain HTTP: an `--insecure-registry` host always is,
    /// others as their settings say, else loopback only.
    pub fn is_plain_http(&self, host: &str) -> bool {
        if self.is_insecure(host) {
            return true;
        }
        match self.host_options(host).and_then(|h| h.http) {
            Some(http) => http,
            None => is_loopback(host),
        }
    }

    /// Whether `host` is listed as insecure (`--insecure-registry`), with or without port.
    pub(crate) fn is_insecure(&self, host: &str) -> bool {
        self.inner
            .opts
            .insecure
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(strip_port(host)))
    }

    /// The options this client was made with.
    pub(crate) fn options(&self) -> &RegistryOptions {
        &self.inner.opts
    }

    /// How this client sends requests: its retry policy, timeouts and progress observer.
    pub(crate) fn transport(&self) -> Transport<'_> {
        Transport {
            retry: if self.once {
                &transport::SINGLE_ATTEMPT
            } else {
                &self.inner.retry
            },
            timeouts: &self.inner.opts.timeouts,
            progress: self.progress.as_ref(),
        }
    }

    /// Reports `event` to the observer, if any.
    pub(crate) fn report(&self, event: PullEvent) {
        if let Some(p) = &self.progress {
            p(event);
        }
    }

    /// The endpoint for `registry`'s host (`registry-1.docker.io` for docker.io).
    pub(crate) fn endpoint(
        &self,
        registry: &str,
        host: &str,
        repository: &str,
    ) -> Result<Endpoint, RegistryError> {
        let scheme = if self.is_plain_http(host) {
            "http"
        } else {
            "https"
        };
        let base =
            Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Protocol {
                host: host.to_string(),
                reason: format!("invalid registry host: {e}"),
            })?;
        Ok(Endpoint {
            host: host.to_string(),
            base,
            registry: registry.to_string(),
            repository: repository.to_string(),
        })
    }

    /// The endpoints to pull `reference` from: its registry's mirrors first, then the registry.
    pub(crate) fn pull_endpoints(
        &self,
        reference: &rbuild_oci::Reference,
    ) -> Result<Vec<Endpoint>, RegistryError> {
        let mut out = Vec::new();
        for m in self.mirrors_of(&reference.registry) {
            out.push(self.mirror_endpoint(m, &reference.repository)?);
        }
        out.push(self.endpoint(
            &reference.registry,
            reference.endpoint_host(),
            &reference.repository,
        )?);
        Ok(out)
    }

    /// The HTTP client for `host`, with the CAs and client certificate of `certs_dir/<host>`.
    /// Only connecting has a reqwest timeout: silence later is caught by the idle watch,
    /// which, unlike reqwest's read timeout, lets a long upload run while it moves.
    pub(crate) fn http(&self, host: &str) -> Result<reqwest::Client, RegistryError> {
        if let Some(c) = self
            .inner
            .http
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned())
        {
            return Ok(c);
        }
        let b = reqwest::Client::builder()
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.inner.opts.timeouts.connect);
        let c = self
            .tls_for(b, host, false)?
            .build()
            .map_err(|e| RegistryError::ClientSetup {
                host: host.to_string(),
                reason: transport::describe(&e),
            })?;
        if let Ok(mut m) = self.inner.http.lock() {
            m.insert(host.to_string(), c.clone());
        }
        Ok(c)
    }
}
