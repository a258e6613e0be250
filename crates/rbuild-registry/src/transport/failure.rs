//! What went wrong with a request that got no answer, as a typed error: the host could not be
//! resolved, refused the connection, timed out, or something else broke.

use std::time::Duration;

use reqwest::Url;

use super::Timeouts;
use crate::error::{redact_url, RegistryError};

/// Why a request got no answer.
pub(crate) enum Failure {
    /// The request could not even be built: retrying cannot help.
    Builder(String),
    /// The host name does not resolve.
    NoSuchHost(String),
    /// Nothing listens there (yet).
    Refused,
    /// Connecting took longer than the connect timeout.
    ConnectTimeout(Duration),
    /// No byte moved for the idle timeout.
    Idle(Duration),
    /// Anything else (reset, TLS, protocol errors).
    Other(String),
}

impl Failure {
    /// Classifies a reqwest error, given the timeouts in force.
    pub fn of(e: &reqwest::Error, t: &Timeouts) -> Failure {
        if e.is_builder() {
            Failure::Builder(describe(e))
        } else if e.is_dns() {
            Failure::NoSuchHost(dns_reason(e))
        } else if e.is_connect() && e.is_timeout() {
            Failure::ConnectTimeout(t.connect)
        } else if refused(e) {
            Failure::Refused
        } else if e.is_timeout() {
            Failure::Idle(t.idle)
        } else {
            Failure::Other(describe(e))
        }
    }

    /// Whether another attempt may get through, given the attempt just made and the limit.
    pub fn retryable(&self, attempt: u32, attempts: u32) -> bool {
        match self {
            Failure::Builder(_) | Failure::NoSuchHost(_) => false,
            Failure::Refused | Failure::ConnectTimeout(_) => {
                attempt < attempts.min(super::retry::CONNECT_ATTEMPTS)
            }
            _ => attempt < attempts,
        }
    }

    /// A few words for a progress line (the request is named next to it).
    pub fn summary(&self) -> String {
        match self {
            Failure::Builder(r) | Failure::NoSuchHost(r) | Failure::Other(r) => r.clone(),
            Failure::Refused => "connection refused".to_string(),
            Failure::ConnectTimeout(d) => format!("timed out connecting after {d:?}"),
            Failure::Idle(d) => format!("timed out: no data for {d:?}"),
        }
    }

    /// The error for `method url`.
    pub fn into_error(self, method: &str, url: &Url) -> RegistryError {
        let host = host_of(url);
        let timed_out = |connecting, after| RegistryError::TimedOut {
            method: method.to_string(),
            url: redact_url(url),
            host: host.clone(),
            connecting,
            after,
        };
        match self {
            Failure::NoSuchHost(reason) => RegistryError::UnknownHost { host, reason },
            Failure::Refused => RegistryError::ConnectionRefused {
                method: method.to_string(),
                url: redact_url(url),
                host,
            },
            Failure::ConnectTimeout(after) => timed_out(true, after),
            Failure::Idle(after) => timed_out(false, after),
            Failure::Builder(reason) | Failure::Other(reason) => {
                super::network_error(method, url, reason)
            }
        }
    }
}

/// `host[:port]` of a URL, as the user wrote it in the reference.
pub(crate) fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => url.as_str().to_string(),
    }
}

fn refused(e: &reqwest::Error) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The resolver's own words ("failed to lookup address information: Name or service not
/// known"), without reqwest's framing.
fn dns_reason(e: &reqwest::Error) -> String {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    let mut last = describe(e);
    while let Some(err) = cur {
        if err.source().is_none() {
            last = err.to_string();
        }
        cur = err.source();
    }
    last
}

/// A network error as text, with its causes (the URL is left out: callers add a redacted one).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(r) => {
                let mut s = r.to_string();
                if let Some(u) = r.url() {
                    s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "");
                }
                s
            }
            None => err.to_string(),
        };
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = err.source();
    }
    out
}
