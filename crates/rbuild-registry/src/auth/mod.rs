//! Authentication: credentials from Docker's config and helpers, challenges, cached tokens.

pub mod challenge;
pub mod config;
pub mod helper;
pub mod token;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use self::challenge::Challenge;
use self::config::{config_dir, config_key, Credentials, DockerConfig};
use self::token::Token;
use crate::error::RegistryError;

/// (endpoint host, canonical scope set).
type TokenKey = (String, String);

/// Per-client authentication state, shared by clones of the client.
pub(crate) struct AuthState {
    docker_config: Option<PathBuf>,
    /// Last challenge seen per endpoint host, so later requests authenticate up front.
    challenges: Mutex<HashMap<String, Challenge>>,
    /// Tokens per (endpoint host, scope set).
    tokens: Mutex<HashMap<TokenKey, Token>>,
    /// Credentials per registry: looked up once, or given explicitly (login).
    creds: Mutex<HashMap<String, Option<Credentials>>>,
    /// One token fetch at a time per (host, scope set): parallel requests share its result.
    fetching: Mutex<HashMap<TokenKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// How one request authenticates.
pub(crate) enum Authorization {
    /// No challenge seen yet: try without.
    None,
    /// A ready `Authorization` header value, and the user it was made for.
    Header(String, Option<String>),
}

impl AuthState {
    /// State reading credentials from `docker_config` (else `$DOCKER_CONFIG`, `~/.docker`).
    pub fn new(docker_config: Option<PathBuf>) -> Self {
        AuthState {
            docker_config,
            challenges: Mutex::default(),
            tokens: Mutex::default(),
            creds: Mutex::default(),
            fetching: Mutex::default(),
        }
    }

    /// Uses these credentials for `registry` instead of looking them up.
    pub fn set_credentials(&self, registry: &str, creds: Option<Credentials>) {
        if let Ok(mut m) = self.creds.lock() {
            m.insert(config::normalize_host(registry), creds);
        }
    }

    /// The credentials for `registry`: credHelpers / credsStore helper, then inline `auths`.
    pub async fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let key = config::normalize_host(registry);
        if let Some(found) = self.creds.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(found);
        }
        let found = match config_dir(self.docker_config.as_deref()) {
            Some(dir) => lookup(dir, key.clone()).await?,
            None => None,
        };
        if let Ok(mut m) = self.creds.lock() {
            m.insert(key, found.clone());
        }
        Ok(found)
    }

    /// Remembers the challenge an endpoint sent; forgets the cached token for `scopes` if it
    /// is the one the registry just rejected (`rejected` is the `Authorization` value sent).
    pub fn record_challenge(
        &self,
        host: &str,
        ch: Challenge,
        scopes: &[String],
        rejected: Option<&str>,
    ) {
        if let Ok(mut m) = self.challenges.lock() {
            m.insert(host.to_string(), ch);
        }
        let key = (host.to_string(), scope_key(scopes));
        if let (Ok(mut t), Some(sent)) = (self.tokens.lock(), rejected) {
            if t.get(&key)
                .is_some_and(|tok| sent.strip_prefix("Bearer ") == Some(tok.value.as_str()))
            {
                t.remove(&key);
            }
        }
    }

    fn cached(&self, key: &TokenKey) -> Option<Token> {
        self.tokens
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .filter(Token::is_fresh)
    }

    /// The authorization for a request to `host` needing `scopes`, fetching a token if needed.
    pub async fn authorization(
        &self,
        http: &reqwest::Client,
        transport: &crate::transport::Transport<'_>,
        host: &str,
        registry: &str,
        scopes: &[String],
    ) -> Result<Authorization, RegistryError> {
        let ch = self
            .challenges
            .lock()
            .ok()
            .and_then(|m| m.get(host).cloned());
        let Some(ch) = ch else {
            return Ok(Authorization::None);
        };
        let creds = self.credentials(registry).await?;
        let user = creds
            .as_ref()
            .and_then(Credentials::username)
            .map(str::to_string);
        match ch {
            Challenge::Basic { .. } => Ok(basic(creds, user)),
            Challenge::Bearer { realm, service, .. } => {
                let req = token::TokenRequest {
                    host,
                    realm: &realm,
                    service: service.as_deref(),
                    scopes,
                };
                let value = self.bearer(http, transport, &req, creds.as_ref()).await?;
                Ok(Authorization::Header(format!("Bearer {value}"), user))
            }
        }
    }

    /// A fresh token for `req`'s host and scopes: cached, or fetched once however many
    /// requests ask at the same time.
    async fn bearer(
        &self,
        http: &reqwest::Client,
        transport: &crate::transport::Transport<'_>,
        req: &token::TokenRequest<'_>,
        creds: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let key = (req.host.to_string(), scope_key(req.scopes));
        if let Some(t) = self.cached(&key) {
            return Ok(t.value);
        }
        let gate = self
            .fetching
            .lock()
            .map(|mut m| m.entry(key.clone()).or_default().clone())
            .unwrap_or_default();
        let _turn = gate.lock().await;
        if let Some(t) = self.cached(&key) {
            return Ok(t.value);
        }
        let t = token::fetch_with(http, transport, req, creds).await?;
        let value = t.value.clone();
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(key, t);
        }
        Ok(value)
    }
}

/// Basic authorization with `creds`, if they are a user name and password.
fn basic(creds: Option<Credentials>, user: Option<String>) -> Authorization {
    match creds {
        Some(Credentials::Basic { username, password }) => {
            let raw = format!("{username}:{password}");
            let enc = base64::engine::general_purpose::STANDARD.encode(raw);
            Authorization::Header(format!("Basic {enc}"), user)
        }
        _ => Authorization::None,
    }
}

/// Scopes in a canonical order, as a cache key.
fn scope_key(scopes: &[String]) -> String {
    let mut v: Vec<&str> = scopes.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v.join(" ")
}

/// Reads the config (and runs a helper) on a blocking thread.
async fn lookup(dir: PathBuf, registry: String) -> Result<Option<Credentials>, RegistryError> {
    let task = tokio::task::spawn_blocking(move || lookup_sync(&dir, &registry));
    task.await.map_err(|e| RegistryError::Helper {
        helper: "lookup".to_string(),
        reason: format!("credential lookup task failed: {e}"),
    })?
}

/// Credential lookup as docker does it: a helper first (if configured), then inline `auths`.
pub(crate) fn lookup_sync(
    dir: &std::path::Path,
    registry: &str,
) -> Result<Option<Credentials>, RegistryError> {
    let cfg = DockerConfig::load(dir)?;
    if let Some(h) = cfg.helper_for(registry) {
        if let Some(c) = helper::get(&h, &config_key(registry))? {
            return Ok(Some(c));
        }
    }
    cfg.inline_credentials(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_ignore_order_and_duplicates() {
        let a = vec![
            "repository:b:pull".to_string(),
            "repository:a:pull,push".to_string(),
        ];
        let b = vec![
            "repository:a:pull,push".to_string(),
            "repository:b:pull".to_string(),
            "repository:b:pull".to_string(),
        ];
        assert_eq!(scope_key(&a), scope_key(&b));
    }
}
