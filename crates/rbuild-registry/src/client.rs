//! The client: options, endpoints (scheme, mirrors, TLS per host) and authenticated requests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, Url};

use crate::auth::challenge;
use crate::auth::config::Credentials;
use crate::auth::{AuthState, Authorization};
use crate::error::{error_message, redact_url, RegistryError};
use crate::transport::{self, RetryPolicy};

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

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
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

/// Adds `dir/*.crt` as extra roots and `dir/*.cert` + `*.key` as client identity.
fn add_host_certs(
    mut b: reqwest::ClientBuilder,
    dir: &Path,
) -> Result<reqwest::ClientBuilder, RegistryError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(b);
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| RegistryError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let bad = |p: &Path, e: reqwest::Error| RegistryError::Certificate {
        path: p.to_path_buf(),
        reason: transport::describe(&e),
    };
    for p in &paths {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let certs =
                    reqwest::Certificate::from_pem_bundle(&read(p)?).map_err(|e| bad(p, e))?;
                b = b.tls_certs_merge(certs);
            }
            Some("cert") => {
                let key = p.with_extension("key");
                let mut pem = read(p)?;
                pem.extend_from_slice(b"\n");
                pem.extend(read(&key)?);
                b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| bad(p, e))?);
            }
            _ => {}
        }
    }
    Ok(b)
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
