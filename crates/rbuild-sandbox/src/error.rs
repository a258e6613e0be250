//! Typed errors of the sandbox. A variant's message never repeats its source: callers print the
//! whole chain (`{:#}` with anyhow, or [`chain`]).

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while preparing, running or cleaning up a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The host lacks something the sandbox needs (root, a namespace, overlayfs...).
    #[error("sandbox unavailable: {0}")]
    Unavailable(String),
    /// Entering the rootless user namespace failed.
    #[error("rootless: {what} (run `rbuild doctor` for what this machine lacks)")]
    Rootless {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The RunSpec is not usable as given.
    #[error("invalid run spec: {0}")]
    InvalidSpec(String),
    /// The USER of the step could not be resolved inside the rootfs.
    #[error(transparent)]
    User(#[from] crate::user::UserError),
    /// The seccomp profile could not be read or compiled.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The private network of the run could not be set up.
    #[error(transparent)]
    Network(#[from] crate::net::NetError),
    /// An I/O operation on a host path failed.
    #[error("{op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Starting the re-executed init failed.
    #[error("start the sandbox init {}", exe.display())]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Talking to the re-executed init failed.
    #[error("sandbox init: {what}")]
    Init {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The request for the init could not be encoded.
    #[error("encode the sandbox request")]
    Encode(#[source] serde_json::Error),
    /// The init sent a line that is not a report.
    #[error("unreadable report from the sandbox init")]
    Report(#[source] serde_json::Error),
    /// The init ended without a report saying why.
    #[error("the sandbox init ended ({status}) without reporting an exit status")]
    InitEnded {
        /// How the init process ended.
        status: String,
    },
    /// The init reported a failure while setting up the sandbox (its whole error chain, as text:
    /// it crossed a process boundary).
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// A cgroup operation failed.
    #[error("cgroup {}: {op}", path.display())]
    Cgroup {
        /// The cgroup file or directory.
        path: PathBuf,
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl SandboxError {
    /// Builds an [`SandboxError::Io`] from an operation name and a path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| SandboxError::Io { op, path, source }
    }
}

/// An error and its sources joined with ": ", as `{:#}` prints them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// A failure of the init's setup, before the command runs; it reaches the builder as the text
/// of [`chain`] in [`SandboxError::Setup`].
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Reading the request from the builder failed.
    #[error("read the request")]
    ReadRequest(#[source] io::Error),
    /// The request was not valid JSON for this version.
    #[error("bad request")]
    BadRequest(#[source] serde_json::Error),
    /// A process-level call failed.
    #[error("{0}")]
    Call(&'static str, #[source] io::Error),
    /// A call on a path failed.
    #[error("{what} {}", path.display())]
    Path {
        /// What was being done.
        what: String,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The step's user or group has no id in this user namespace.
    #[error("USER {user}: {what} {id} is not mapped in this user namespace (only root is, when the caller has no subordinate ids: see `rbuild doctor`)")]
    Unmapped {
        /// The USER as written.
        user: String,
        /// "uid" or "gid".
        what: &'static str,
        /// The id.
        id: u32,
    },
    /// sethostname failed.
    #[error("sethostname {0:?}")]
    Hostname(String, #[source] io::Error),
    /// A mount target that is relative or climbs with `..`.
    #[error("mount target {0:?} must be absolute without '..'")]
    BadTarget(String),
    /// A mount target under a dangling symlink.
    #[error("mount target {target}: dangling symlink at {}", at.display())]
    DanglingSymlink {
        /// The mount target.
        target: String,
        /// The dangling symlink.
        at: PathBuf,
    },
    /// A bind source the init did not open before pivot_root.
    #[error("bind source {} was not opened", .0.display())]
    NotOpened(PathBuf),
    /// The working directory resolves through a loop or a magic link.
    #[error("working directory {cwd}: it resolves through a symlink loop or a /proc magic link such as /proc/self/fd/N")]
    CwdLoop {
        /// The working directory.
        cwd: String,
        /// The underlying error (ELOOP).
        #[source]
        source: io::Error,
    },
    /// Entering the working directory failed.
    #[error("working directory {cwd}")]
    Cwd {
        /// The working directory.
        cwd: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The working directory is not inside the new root.
    #[error("working directory {cwd} is outside the container's root filesystem (the kernel names it {name:?})")]
    CwdOutside {
        /// The working directory.
        cwd: String,
        /// What the kernel calls it.
        name: String,
    },
    /// The USER could not be resolved.
    #[error(transparent)]
    User(#[from] crate::user::UserError),
    /// An argument, variable or path with a NUL byte.
    #[error("{what} contains a NUL byte: {value:?}")]
    Nul {
        /// argv, env or path.
        what: &'static str,
        /// The offending value.
        value: String,
    },
    /// The private network could not be set up.
    #[error(transparent)]
    Network(#[from] crate::net::NetError),
    /// A ulimit name Docker does not know.
    #[error("unknown ulimit {0:?}")]
    UnknownUlimit(String),
    /// Nothing to execute.
    #[error("empty argv")]
    EmptyArgv,
}

impl SetupError {
    /// Builds a [`SetupError::Path`] for a failed call on `path`.
    pub(crate) fn path(what: impl Into<String>, path: &std::path::Path, source: io::Error) -> Self {
        SetupError::Path {
            what: what.into(),
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_each_message_once() {
        let e = SandboxError::Io {
            op: "create",
            path: "/x".into(),
            source: io::Error::from_raw_os_error(libc::EACCES),
        };
        assert_eq!(chain(&e), "create /x: Permission denied (os error 13)");
        let e = SetupError::Call("unshare namespaces", io::Error::from_raw_os_error(1));
        assert_eq!(
            chain(&e),
            "unshare namespaces: Operation not permitted (os error 1)"
        );
    }
}
