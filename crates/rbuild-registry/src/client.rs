//! The client: options, endpoints (scheme, mirrors, TLS per host) and authenticated requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, Url};

use crate::auth::challenge;
use crate::auth::config::Credentials;
use crate::auth::{AuthState, Authorization};
use crate::error::{error_message, redact_url, RegistryError};
use crate::transport::{self, RetryPolicy};

pub use crate::endpoint::is_loopback;
pub(crate) use crate::endpoint::Endpoint;
use crate::endpoint::{add_host_certs, strip_port};

/// Registry settings: insecure hosts, Docker Hub mirrors, CA directory, Docker config directory.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Hosts (`host` or `host:port`) allowed over plain HTTP besides loopback.
    pub insecure: Vec<String>,
    /// Mirrors for docker.io (`https://mirror.example` or `host:port`), tried in order on pull.
    pub mirrors: Vec<String>,
    /// Per-host CA and client certificates, like `/etc/docker/certs.d/<host>/*.crt`.
    pub certs_dir: Option<PathBuf>,
    /// Docker config directory; default `$DOCKER_CONFIG` or `~/.docker`.
    pub docker_config: Option<PathBuf>,
}

/// A registry client; cheap to clone (clones share connections, tokens and credentials).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
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
            }),
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

    fn rebuild(&self, f: impl FnOnce(&mut Inner)) -> Client {
        let mut inner = Inner {
            opts: self.inner.opts.clone(),
            http: Mutex::default(),
            auth: AuthState::new(self.inner.opts.docker_config.clone()),
            retry: self.inner.retry.clone(),
            chunk_size: self.inner.chunk_size,
            parallel: self.inner.parallel,
        };
        f(&mut inner);
        Client {
            inner: Arc::new(inner),
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

    /// Whether `host` is spoken to over plain HTTP.
    pub fn is_plain_http(&self, host: &str) -> bool {
        is_loopback(host)
            || self
                .inner
                .opts
                .insecure
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(strip_port(host)))
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

    /// The endpoints to pull `reference` from: mirrors first for docker.io, then the registry.
    pub(crate) fn pull_endpoints(
        &self,
        reference: &rbuild_oci::Reference,
    ) -> Result<Vec<Endpoint>, RegistryError> {
        let mut out = Vec::new();
        if reference.registry == "docker.io" {
            for m in &self.inner.opts.mirrors {
                out.push(self.mirror_endpoint(m, &reference.repository)?);
            }
        }
        out.push(self.endpoint(
            &reference.registry,
            reference.endpoint_host(),
            &reference.repository,
        )?);
        Ok(out)
    }

    fn mirror_endpoint(&self, mirror: &str, repository: &str) -> Result<Endpoint, RegistryError> {
        let with_scheme = if mirror.contains("://") {
            mirror.to_string()
        } else {
            let scheme = if self.is_plain_http(mirror.trim_end_matches('/')) {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{mirror}")
        };
        let bad = |reason: String| RegistryError::Protocol {
            host: mirror.to_string(),
            reason,
        };
        let mut base =
            Url::parse(&with_scheme).map_err(|e| bad(format!("invalid mirror URL: {e}")))?;
        base.set_path("/");
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(bad("mirror URL has no host".to_string())),
        };
        Ok(Endpoint {
            registry: host.clone(),
            host,
            base,
            repository: repository.to_string(),
        })
    }

    /// The HTTP client for `host`, with the CAs and client certificate of `certs_dir/<host>`.
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
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120));
        if let Some(dir) = &self.inner.opts.certs_dir {
            b = add_host_certs(b, &dir.join(host))?;
        }
        let c = b.build().map_err(|e| RegistryError::ClientSetup {
            host: host.to_string(),
            reason: transport::describe(&e),
        })?;
        if let Ok(mut m) = self.inner.http.lock() {
            m.insert(host.to_string(), c.clone());
        }
        Ok(c)
    }

    /// Sends an authenticated request, answering one 401 challenge (token or basic) and retrying.
    pub(crate) async fn request(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        method: Method,
        url: &Url,
        build: &(dyn Fn(RequestBuilder) -> Result<RequestBuilder, RegistryError> + Sync),
    ) -> Result<Response, RegistryError> {
        let http = self.http(&ep.host)?;
        let policy = &self.inner.retry;
        let mut answered = false;
        loop {
            let auth = self
                .inner
                .auth
                .authorization(&http, policy, &ep.host, &ep.registry, scopes)
                .await?;
            let (header, user) = match auth {
                Authorization::Header(h, u) => (Some(h), u),
                Authorization::None => (None, None),
            };
            let resp = transport::send(policy, method.as_str(), url, || {
                let rb = build(http.request(method.clone(), url.clone()))?;
                Ok(match &header {
                    Some(h) => rb.header(reqwest::header::AUTHORIZATION, h),
                    None => rb,
                })
            })
            .await?;
            if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let ch = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = transport::read_small(resp, method.as_str(), url, 1 << 16)
                .await
                .unwrap_or_default();
            let parsed = ch.as_deref().and_then(challenge::parse);
            match parsed {
                Some(c) if !answered => {
                    self.inner
                        .auth
                        .record_challenge(&ep.host, c, scopes, header.as_deref());
                    answered = true;
                }
                _ => {
                    return Err(unauthorized(
                        ep,
                        user,
                        header.is_some(),
                        ch.as_deref(),
                        &body,
                    ))
                }
            }
        }
    }
}

/// The error for a 401 that answering the challenge did not cure.
fn unauthorized(
    ep: &Endpoint,
    user: Option<String>,
    sent_auth: bool,
    challenge: Option<&str>,
    body: &[u8],
) -> RegistryError {
    let said = error_message(body);
    if challenge.is_some_and(|c| c.contains("insufficient_scope")) {
        return RegistryError::Denied {
            host: ep.host.clone(),
            repository: ep.repository.clone(),
            user,
            detail: format!("insufficient scope{said}"),
        };
    }
    let detail = match (sent_auth, &user) {
        (true, Some(_)) => format!("incorrect username or password{said}"),
        _ => format!(
            "the registry requires credentials{said}; run `rbuild login {}`",
            ep.registry
        ),
    };
    RegistryError::Unauthorized {
        host: ep.host.clone(),
        user,
        detail,
    }
}

/// Turns an unexpected response into the matching error (404, 403, other statuses).
pub(crate) async fn status_error(
    resp: Response,
    method: &Method,
    ep: &Endpoint,
    what: &str,
) -> RegistryError {
    let status = resp.status().as_u16();
    let url = resp.url().clone();
    let body = transport::read_small(resp, method.as_str(), &url, 1 << 16)
        .await
        .unwrap_or_default();
    match status {
        404 => RegistryError::NotFound {
            host: ep.host.clone(),
            repository: ep.repository.clone(),
            what: what.to_string(),
        },
        403 => RegistryError::Denied {
            host: ep.host.clone(),
            repository: ep.repository.clone(),
            user: None,
            detail: format!("{what}{}", error_message(&body)),
        },
        _ => RegistryError::Status {
            method: method.to_string(),
            url: redact_url(&url),
            status,
            message: error_message(&body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_insecure_hosts_use_http() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1"));
        let c = Client::new(RegistryOptions {
            insecure: vec!["reg.lan:5000".into(), "other.lan".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(c.is_plain_http("reg.lan:5000"));
        assert!(c.is_plain_http("other.lan:443"));
        assert!(!c.is_plain_http("reg.lan:5001"));
        assert!(!c.is_plain_http("docker.io"));
    }

    #[test]
    fn mirrors_come_first_for_docker_hub_only() {
        let c = Client::new(RegistryOptions {
            mirrors: vec!["127.0.0.1:5001".into(), "https://mirror.example/".into()],
            ..Default::default()
        })
        .unwrap();
        let hub = rbuild_oci::Reference::parse("busybox").unwrap();
        let eps = c.pull_endpoints(&hub).unwrap();
        let bases: Vec<String> = eps.iter().map(|e| e.base.to_string()).collect();
        assert_eq!(
            bases,
            [
                "http://127.0.0.1:5001/",
                "https://mirror.example/",
                "https://registry-1.docker.io/"
            ]
        );
        assert_eq!(
            eps[2].url("manifests/latest").unwrap().as_str(),
            "https://registry-1.docker.io/v2/library/busybox/manifests/latest"
        );
        let other = rbuild_oci::Reference::parse("localhost:5000/a/b:1").unwrap();
        assert_eq!(c.pull_endpoints(&other).unwrap().len(), 1);
    }
}
