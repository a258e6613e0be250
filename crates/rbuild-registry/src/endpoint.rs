//! Endpoints: the scheme and base URL of a repository on a registry or mirror.

use reqwest::Url;

use crate::error::RegistryError;

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
