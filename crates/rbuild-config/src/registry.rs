//! `[registry."host"]`: how to reach one registry, as buildkitd.toml spells it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings of one registry host (`docker.io`, `host:port`, or a mirror's host).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Mirrors tried in order before this registry on pull (`host[:port][/path]`).
    pub mirrors: Option<Vec<String>>,
    /// Speak plain HTTP to this host (loopback does by default).
    pub http: Option<bool>,
    /// Speak HTTPS without verifying the certificate (self-signed registries).
    pub insecure: Option<bool>,
    /// CA certificates (PEM files) trusted for this host, besides the system's.
    pub ca: Option<Vec<PathBuf>>,
    /// The client certificate presented to this host.
    pub keypair: Option<Vec<KeyPair>>,
}

/// A client certificate and its key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// The private key.
    pub key: PathBuf,
    /// The certificate.
    pub cert: PathBuf,
}

impl RegistryConfig {
    /// Whether plain HTTP is asked for.
    pub fn plain_http(&self) -> bool {
        self.http == Some(true)
    }

    /// Whether certificate verification is turned off.
    pub fn skip_verify(&self) -> bool {
        self.insecure == Some(true)
    }

    /// `later`'s keys replace this one's, key by key.
    pub(crate) fn merge(&mut self, later: RegistryConfig) {
        let RegistryConfig {
            mirrors,
            http,
            insecure,
            ca,
            keypair,
        } = later;
        self.mirrors = mirrors.or(self.mirrors.take());
        self.http = http.or(self.http);
        self.insecure = insecure.or(self.insecure);
        self.ca = ca.or(self.ca.take());
        self.keypair = keypair.or(self.keypair.take());
    }

    /// Relative certificate paths are taken from the file's directory (not the working one).
    pub(crate) fn anchor(&mut self, dir: &Path) {
        for p in self.ca.iter_mut().flatten() {
            *p = dir.join(&*p);
        }
        for k in self.keypair.iter_mut().flatten() {
            k.key = dir.join(&k.key);
            k.cert = dir.join(&k.cert);
        }
    }

    /// Why these settings cannot be used together, naming the key.
    pub(crate) fn refusal(&self) -> Option<(&'static str, String)> {
        if self.plain_http() && self.skip_verify() {
            let why = "http = true and insecure = true together: plain HTTP has no certificate \
                       to skip; choose one";
            return Some(("insecure", why.to_string()));
        }
        if self.keypair.as_ref().is_some_and(|k| k.len() > 1) {
            let why = "only one client certificate per host is supported";
            return Some(("keypair", why.to_string()));
        }
        if let Some(m) = self
            .mirrors
            .iter()
            .flatten()
            .find(|m| mirror_host(m).is_empty())
        {
            return Some(("mirrors", format!("{m:?} names no host")));
        }
        None
    }
}

/// The host part of a mirror (`https://h:1/p` or `h:1/p` → `h:1`): the section its own
/// `http`/`insecure`/`ca` settings are read from.
pub fn mirror_host(mirror: &str) -> &str {
    let rest = mirror.split_once("://").map_or(mirror, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}
