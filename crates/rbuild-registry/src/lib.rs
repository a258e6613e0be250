//! Distribution client: pull images into the store and push them from it, with Docker's
//! credential sources (config.json, helpers, `rbuild login`), bearer and basic auth, retries,
//! connect and idle timeouts, cross-repository mounts and chunked, resumable uploads streamed
//! from disk. Also what the remote build cache needs (arbitrary OCI artifacts, single
//! manifests and blobs, blob presence, background uploads) and ADD's URL downloads.

mod artifact;
pub mod auth;
mod blob_bytes;
mod blocking;
mod client;
mod content;
mod endpoint;
mod error;
mod hosts;
mod login;
mod manifest;
mod progress;
mod pull;
mod push;
mod sink;
mod sources;
mod tls;
mod transport;
mod uploader;
mod url;

pub use artifact::Artifact;
pub use auth::config::Credentials;
pub use client::{is_loopback, Client, RegistryOptions};
pub use content::{blob_sources, record_blob_source, ManifestDocument};
pub use error::RegistryError;
pub use hosts::HostOptions;
pub use login::{login, login_with, logout};
pub use progress::{ProgressFn, PullEvent};
pub use pull::PulledImage;
pub use push::{BlobPushed, PushEvent, PushProgress};
/// Platform matching moved to rbuild-oci (the builder needs it too); kept here for callers.
pub use rbuild_oci::platform;
pub use sources::NAMESPACE as BLOB_SOURCES_NAMESPACE;
pub use transport::{RetryPolicy, Timeouts};
pub use uploader::{BlobUpload, UploadProgress, Uploader};
pub use url::UrlFetch;
