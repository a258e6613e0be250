//! `login` and `logout`: verify credentials against the registry, then store them as docker does.

use std::path::Path;

use base64::Engine as _;
use reqwest::{StatusCode, Url};

use crate::auth::challenge::{self, Challenge};
use crate::auth::config::{self, config_dir, config_key, Credentials, DockerConfig};
use crate::auth::{helper, token};
use crate::client::{Client, RegistryOptions};
use crate::error::{error_message, redact_url, RegistryError};
use crate::transport::Transport;

/// Verifies `username`/`password` against `registry`, then writes them to `config.json` (mode
/// 0600) or the configured credential helper. Blocking; safe to call inside or outside a runtime.
pub fn login(
    config_dir: Option<&Path>,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<(), RegistryError> {
    let opts = RegistryOptions {
        docker_config: config_dir.map(Path::to_path_buf),
        ..Default::default()
    };
    block_on(login_with(&opts, registry, username, password))
}

/// Async [`login`] honouring all registry options (insecure hosts, CAs).
pub async fn login_with(
    opts: &RegistryOptions,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<(), RegistryError> {
    let client = Client::new(opts.clone())?;
    client
        .verify_credentials(registry, username, password)
        .await?;
    let dir = config_dir(opts.docker_config.as_deref()).ok_or_else(no_config_dir)?;
    let (registry, username, password) = (
        registry.to_string(),
        username.to_string(),
        password.to_string(),
    );
    tokio::task::spawn_blocking(move || store_credentials(&dir, &registry, &username, &password))
        .await
        .map_err(|e| RegistryError::Io {
            path: "config.json".into(),
            source: std::io::Error::other(e.to_string()),
        })?
}

/// Removes the stored credentials for `registry`; false when there were none.
pub fn logout(config_dir: Option<&Path>, registry: &str) -> Result<bool, RegistryError> {
    let dir = config::config_dir(config_dir).ok_or_else(no_config_dir)?;
    let mut cfg = DockerConfig::load(&dir)?;
    let mut removed = false;
    if let Some(h) = cfg.helper_for(registry) {
        removed |= helper::erase(&h, &config_key(registry))?;
    }
    if cfg.remove(registry) {
        cfg.save()?;
        removed = true;
    }
    Ok(removed)
}

fn no_config_dir() -> RegistryError {
    RegistryError::Config {
        path: "~/.docker".into(),
        reason: "no Docker config directory: set DOCKER_CONFIG or HOME".into(),
    }
}

fn store_credentials(
    dir: &Path,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<(), RegistryError> {
    let mut cfg = DockerConfig::load(dir)?;
    match cfg.helper_for(registry) {
        Some(h) => {
            helper::store(&h, &config_key(registry), username, password)?;
            cfg.set_helper_marker(registry);
        }
        None => cfg.set_inline(registry, username, password),
    }
    cfg.save()
}

/// Runs a future to completion on a private runtime in a scoped thread, so callers may already
/// be inside a runtime.
fn block_on<T: Send>(
    fut: impl std::future::Future<Output = Result<T, RegistryError>> + Send,
) -> Result<T, RegistryError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| RegistryError::Io {
                    path: "<tokio runtime>".into(),
                    source,
                })?;
            rt.block_on(fut)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(RegistryError::Io {
                path: "<login thread>".into(),
                source: std::io::Error::other("login thread panicked"),
            })
        })
    })
}

impl Client {
    /// Checks credentials the way `docker login` does: `GET /v2/`, then answer its challenge.
    pub async fn verify_credentials(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<(), RegistryError> {
        let (host, url) = self.base_url(registry)?;
        let http = self.http(&host)?;
        let resp = self
            .transport()
            .send("GET", &url, || Ok(http.get(url.clone())))
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(challenge::parse);
        let Some(ch) = header else {
            return Err(RegistryError::Status {
                method: "GET".into(),
                url: redact_url(&url),
                status: resp.status().as_u16(),
                message: String::new(),
            });
        };
        let check = Check {
            http: &http,
            url: &url,
            host: &host,
            username,
            password,
        };
        self.answer(&check, ch).await
    }

    /// The host to contact for `registry` and its `/v2/` URL.
    fn base_url(&self, registry: &str) -> Result<(String, Url), RegistryError> {
        let registry = config::normalize_host(registry);
        let host = match registry.as_str() {
            "docker.io" => "registry-1.docker.io".to_string(),
            _ => registry.clone(),
        };
        let ep = self.endpoint(&registry, &host, "")?;
        let url = ep
            .base
            .join("v2/")
            .map_err(|e| ep.protocol(e.to_string()))?;
        Ok((host, url))
    }

    /// Answers the registry's challenge with the credentials being checked.
    async fn answer(&self, c: &Check<'_>, ch: Challenge) -> Result<(), RegistryError> {
        let transport = self.transport();
        match ch {
            Challenge::Bearer { realm, service, .. } => {
                let req = token::TokenRequest {
                    host: c.host,
                    realm: &realm,
                    service: service.as_deref(),
                    scopes: &[],
                };
                let creds = Credentials::Basic {
                    username: c.username.to_string(),
                    password: c.password.to_string(),
                };
                token::fetch_with(c.http, &transport, &req, Some(&creds))
                    .await
                    .map(drop)
            }
            Challenge::Basic { .. } => basic_check(c, &transport).await,
        }
    }
}

/// Credentials being checked against one registry.
struct Check<'a> {
    http: &'a reqwest::Client,
    url: &'a Url,
    host: &'a str,
    username: &'a str,
    password: &'a str,
}

/// Sends the credentials as Basic auth: a 2xx answer means they are right.
async fn basic_check(c: &Check<'_>, transport: &Transport<'_>) -> Result<(), RegistryError> {
    let (http, url) = (c.http, c.url);
    let enc =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    let resp = transport
        .send("GET", url, || {
            Ok(http
                .get(url.clone())
                .header("authorization", format!("Basic {enc}")))
        })
        .await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = transport
        .read_small(resp, "GET", url, 1 << 16)
        .await
        .unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            host: c.host.to_string(),
            user: Some(c.username.to_string()),
            detail: format!("incorrect username or password{}", error_message(&body)),
        });
    }
    Err(RegistryError::Status {
        method: "GET".into(),
        url: redact_url(url),
        status: status.as_u16(),
        message: error_message(&body),
    })
}
