//! Docker's `config.json`: reading credentials, writing them on login, as docker does.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::RegistryError;

/// The key Docker uses for Docker Hub in `auths` and with credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// User name and password (or access token used as a password).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken {
        /// User name, when known (only for messages).
        username: Option<String>,
        /// The refresh token.
        token: String,
    },
}

impl Credentials {
    /// The user name, for messages.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken { username, .. } => username.as_deref(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credentials::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
        }
    }
}

/// `registry` as a bare host (`docker.io` for every Docker Hub alias): scheme and path dropped.
pub fn normalize_host(registry: &str) -> String {
    let s = registry.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let host = s.split('/').next().unwrap_or(s).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// The key under which Docker stores credentials for `registry`.
pub fn config_key(registry: &str) -> String {
    match normalize_host(registry).as_str() {
        "docker.io" => DOCKER_HUB_KEY.to_string(),
        host => host.to_string(),
    }
}

/// The Docker config directory: `explicit`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".docker"))
}

/// A loaded `config.json`; unknown fields are kept so saving preserves them. `Debug` shows
/// the path and the top-level keys only: `auths` holds passwords and identity tokens.
#[derive(Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("keys", &self.doc.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl DockerConfig {
    /// Loads `<dir>/config.json`; a missing file is an empty config.
    pub fn load(dir: &Path) -> Result<DockerConfig, RegistryError> {
        let path = dir.join("config.json");
        let doc = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| RegistryError::Config {
                path: path.clone(),
                reason: format!("invalid JSON: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        Ok(DockerConfig { path, doc })
    }

    /// The file this config was loaded from (and is saved to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `registry`: its `credHelpers` entry, else `credsStore`.
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let host = normalize_host(registry);
        let specific = self
            .doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| m.iter().find(|(k, _)| normalize_host(k) == host))
            .and_then(|(_, v)| v.as_str());
        let global = self.doc.get("credsStore").and_then(Value::as_str);
        specific
            .or(global)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    fn auth_key(&self, registry: &str) -> Option<String> {
        let host = normalize_host(registry);
        let auths = self.doc.get("auths")?.as_object()?;
        auths.keys().find(|k| normalize_host(k) == host).cloned()
    }

    /// Credentials stored inline in `auths` for `registry`.
    pub fn inline_credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let Some(key) = self.auth_key(registry) else {
            return Ok(None);
        };
        let entry = &self.doc["auths"][&key];
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (mut user, mut pass) = (
            field("username").map(str::to_string),
            field("password").map(str::to_string),
        );
        if let Some(auth) = field("auth") {
            let (u, p) = decode_auth(auth).map_err(|reason| RegistryError::Config {
                path: self.path.clone(),
                reason: format!("auths[{key:?}].auth: {reason}"),
            })?;
            (user, pass) = (Some(u), Some(p));
        }
        if let Some(token) = field("identitytoken") {
            let username = user.filter(|u| !u.is_empty());
            return Ok(Some(Credentials::IdentityToken {
                username,
                token: token.to_string(),
            }));
        }
        Ok(match (user, pass) {
            (Some(username), Some(password)) => Some(Credentials::Basic { username, password }),
            _ => None,
        })
    }

    /// Stores `username:password` inline under `auths`.
    pub fn set_inline(&mut self, registry: &str, username: &str, password: &str) {
        let key = self
            .auth_key(registry)
            .unwrap_or_else(|| config_key(registry));
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Some(m) = auths.as_object_mut() {
            let mut entry = Map::new();
            entry.insert("auth".to_string(), Value::from(auth));
            m.insert(key, Value::Object(entry));
        }
    }

    /// Records that credentials for `registry` live in a helper (an empty `auths` entry, as docker does).
    pub fn set_helper_marker(&mut self, registry: &str) {
        let key = self
            .auth_key(registry)
            .unwrap_or_else(|| config_key(registry));
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = auths.as_object_mut() {
            m.insert(key, Value::Object(Map::new()));
        }
    }

    /// Removes `registry` from `auths`; true when it was there.
    pub fn remove(&mut self, registry: &str) -> bool {
        let Some(key) = self.auth_key(registry) else {
            return false;
        };
        self.doc
            .get_mut("auths")
            .and_then(Value::as_object_mut)
            .is_some_and(|m| m.remove(&key).is_some())
    }

    /// Writes the file atomically with mode 0600 (directory 0700 when created).
    pub fn save(&self) -> Result<(), RegistryError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Io { path, source }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let mut bytes = serde_json::to_vec_pretty(&self.doc).unwrap_or_default();
        bytes.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }
}

/// What is wrong with an `auth` field (never its content: it is a password).
#[derive(Debug, thiserror::Error)]
enum BadAuth {
    #[error("not valid base64")]
    Base64,
    #[error("not UTF-8")]
    Utf8,
    #[error("expected user:password")]
    NoColon,
}

/// Decodes an `auth` field: base64 of `user:password`.
fn decode_auth(auth: &str) -> Result<(String, String), BadAuth> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| BadAuth::Base64)?;
    let text = String::from_utf8(bytes).map_err(|_| BadAuth::Utf8)?;
    match text.split_once(':') {
        Some((u, p)) => Ok((u.to_string(), p.to_string())),
        None => Err(BadAuth::NoColon),
    }
}

#[cfg(test)]
mod tests;
