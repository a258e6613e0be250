//! Typed errors of the sandbox.

use std::path::PathBuf;

/// Everything that can go wrong while preparing, running or cleaning up a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The host lacks something the sandbox needs (root, a namespace, overlayfs...).
    #[error("sandbox unavailable: {0}")]
    Unavailable(String),
    /// The RunSpec is not usable as given.
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    /// The USER of the step could not be resolved inside the rootfs.
    #[error(transparent)]
    User(#[from] crate::user::UserError),
    /// An I/O operation on a host path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Spawning or talking to the re-executed init failed.
    #[error("sandbox init: {0}")]
    Init(String),
    /// The init reported a failure while setting up the sandbox.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// A cgroup operation failed.
    #[error("cgroup {path}: {msg}")]
    Cgroup {
        /// The cgroup file or directory.
        path: PathBuf,
        /// What failed.
        msg: String,
    },
}

impl SandboxError {
    /// Builds an [`SandboxError::Io`] from an operation name and a path.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SandboxError::Io { op, path, source }
    }
}
