//! The registry client's error type. No variant ever carries a password, token or `auth` value.

mod text;

pub(crate) use text::{error_message, redact_url, redact_userinfo};

use std::path::PathBuf;
use std::time::Duration;

use rbuild_oci::Digest;
use rbuild_store::StoreError;

/// Anything that can go wrong talking to a registry or handling credentials.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client for {host}: {reason}")]
    ClientSetup {
        /// Registry host.
        host: String,
        /// What failed.
        reason: String,
    },
    /// A custom CA or client certificate could not be read.
    #[error("certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection failed or broke (after retries).
    #[error("{method} {url}: {reason}")]
    Network {
        /// HTTP method.
        method: String,
        /// Request URL (query removed).
        url: String,
        /// What failed.
        reason: String,
    },
    /// The registry host name does not resolve (not retried: it will not start to).
    #[error("cannot resolve registry host {host}: {reason}")]
    UnknownHost {
        /// Registry host.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// Nothing accepts connections at the registry's address (after a few quick retries).
    #[error("{method} {url}: connection to {host} refused")]
    ConnectionRefused {
        /// HTTP method.
        method: String,
        /// Request URL (query removed).
        url: String,
        /// Registry host.
        host: String,
    },
    /// Connecting took too long, or no byte moved for the idle timeout (after retries).
    #[error("{method} {url}: timed out {} {host} after {after:?}", if *connecting { "connecting to" } else { "waiting for data from" })]
    TimedOut {
        /// HTTP method.
        method: String,
        /// Request URL (query removed).
        url: String,
        /// Registry host.
        host: String,
        /// Whether it was the connection (rather than data on it) that did not come.
        connecting: bool,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The registry answered with an unexpected status (after retries).
    #[error("{method} {url}: registry answered {status}{message}")]
    Status {
        /// HTTP method.
        method: String,
        /// Request URL (query removed).
        url: String,
        /// HTTP status code.
        status: u16,
        /// The registry's error codes and messages, prefixed with ": " when present.
        message: String,
    },
    /// Credentials were rejected, or none were given where they are needed.
    #[error("authentication to {host} failed{}: {detail}", user.as_ref().map(|u| format!(" for user {u:?}")).unwrap_or_default())]
    Unauthorized {
        /// Registry host.
        host: String,
        /// The user name used, if any.
        user: Option<String>,
        /// What the registry said, and what to do.
        detail: String,
    },
    /// The registry refused access to a repository.
    #[error("access to {repository} on {host} denied{}: {detail}", user.as_ref().map(|u| format!(" for user {u:?}")).unwrap_or_default())]
    Denied {
        /// Registry host.
        host: String,
        /// Repository.
        repository: String,
        /// The user name used, if any.
        user: Option<String>,
        /// What the registry said.
        detail: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found in {repository} on {host}")]
    NotFound {
        /// Registry host.
        host: String,
        /// Repository.
        repository: String,
        /// Tag, digest or blob.
        what: String,
    },
    /// Content did not hash to the digest it should have; nothing was stored.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was being fetched.
        what: String,
        /// The digest it should have.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Content did not have the size it should have; nothing was stored.
    #[error("size mismatch for {what}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was being fetched.
        what: String,
        /// Expected size.
        expected: u64,
        /// Size that arrived (or at least that much).
        actual: u64,
    },
    /// A document is larger than we accept (manifests, indexes, configs, error bodies).
    #[error("{what}: larger than the {limit}-byte limit")]
    TooLarge {
        /// Which document (and where from).
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// No manifest in an index matches the requested platform.
    #[error("{reference}: no image for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        /// The reference pulled.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms the index lists.
        available: String,
    },
    /// A manifest, index or config is malformed or of an unsupported kind.
    #[error("{what}: {reason}")]
    InvalidContent {
        /// Which document.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A protocol violation by the registry (missing Location header, bad Range…).
    #[error("{host}: protocol error: {reason}")]
    Protocol {
        /// Registry host.
        host: String,
        /// What is wrong.
        reason: String,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a downloaded URL's file failed.
    #[error(transparent)]
    Download(#[from] rbuild_context::remote::RemoteError),
    /// A URL to download does not parse.
    #[error("invalid URL {url}: {reason}")]
    BadUrl {
        /// The URL, without user info or query.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Docker config file (`config.json`) is unreadable or malformed.
    #[error("docker config {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `docker-credential-*` helper failed.
    #[error("credential helper docker-credential-{helper}: {reason}")]
    Helper {
        /// Helper suffix (e.g. `pass`, `desktop`).
        helper: String,
        /// What failed (never the secret).
        reason: String,
    },
    /// A local I/O operation failed.
    #[error("{}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether retrying the same request may succeed (network trouble, timeouts, 5xx, 429);
    /// an unknown host is not.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Network { .. }
            | RegistryError::ConnectionRefused { .. }
            | RegistryError::TimedOut { .. } => true,
            RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
