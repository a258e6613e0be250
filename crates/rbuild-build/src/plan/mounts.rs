//! `RUN --mount`s as the plan holds them: every target absolute (joined to the WORKDIR), every
//! `from` resolved to the context, a named directory or one of the step's inputs.

use std::path::PathBuf;

pub use rbuild_store::Sharing;

/// Where a bind mount (or a cache mount's seed) reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountFrom {
    /// The build context (with its `.dockerignore`).
    Context,
    /// A named local context (`--build-context name=DIR`).
    Dir(PathBuf),
    /// The step's input `inputs[n]`: a stage or an image.
    Input(usize),
}

/// One `RUN --mount`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunMount {
    /// `type=bind`: a path of the context, a stage or an image; writes are discarded.
    Bind {
        /// Absolute path in the step.
        target: String,
        /// Path in the source (`/` by default).
        source: String,
        /// What it reads.
        from: MountFrom,
        /// Read-only (the default).
        readonly: bool,
    },
    /// `type=cache`: a directory kept in the store across builds.
    Cache {
        /// Absolute path in the step.
        target: String,
        /// The cache's id (default: the target).
        id: String,
        /// How concurrent builds share it.
        sharing: Sharing,
        /// What fills it when it is created (`from` + `source`).
        seed: Option<(MountFrom, String)>,
        /// Read-only.
        readonly: bool,
        /// Mode of its root when created.
        mode: u32,
        /// Owner of its root when created.
        uid: u32,
        /// Group of its root when created.
        gid: u32,
        /// `source=` without `from=`: the subdirectory of the cache to mount (BuildKit's
        /// mount selector), cleaned and relative; `None` mounts the whole cache.
        subpath: Option<String>,
        /// The cache has a base of its own (mode/uid/gid given, or `from=`): BuildKit makes
        /// it with an op, and a `--no-cache` build re-runs that op and so gets a new cache.
        own_base: bool,
    },
    /// `type=tmpfs`.
    Tmpfs {
        /// Absolute path in the step.
        target: String,
        /// Size in bytes.
        size: Option<u64>,
    },
    /// `type=secret`: a `--secret` as a file or an environment variable.
    Secret {
        /// The secret's id.
        id: String,
        /// Absolute path of the file (`None` with `env` only).
        target: Option<String>,
        /// The environment variable that holds it instead of (or besides) a file.
        env: Option<String>,
        /// Fail the step when the build has no such secret.
        required: bool,
        /// File mode.
        mode: u32,
        /// File owner.
        uid: u32,
        /// File group.
        gid: u32,
    },
    /// A file the Dockerfile itself holds, shown in directory `target` (BuildKit's is
    /// read-only; here writable, as read-only binds are noexec, its writes dropped): a RUN
    /// heredoc starting with `#!` becomes `/dev/pipes/<name>`, run by its interpreter (as
    /// BuildKit's dispatchRun does it).
    Inline {
        /// Absolute path of the directory holding the file.
        target: String,
        /// The file's name in it.
        name: String,
        /// Its content.
        content: String,
        /// Its mode.
        mode: u32,
    },
    /// `type=ssh`: an agent socket forwarded from `--ssh`.
    Ssh {
        /// The `--ssh` id.
        id: String,
        /// Absolute path of the socket.
        target: String,
        /// Fail the step when the build forwards no such id.
        required: bool,
        /// Socket mode.
        mode: u32,
        /// Socket owner.
        uid: u32,
        /// Socket group.
        gid: u32,
    },
}

impl RunMount {
    /// The path the mount appears at in the step (`None` for an env-only secret).
    pub fn target(&self) -> Option<&str> {
        match self {
            RunMount::Bind { target, .. }
            | RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Inline { target, .. }
            | RunMount::Ssh { target, .. } => Some(target),
            RunMount::Secret { target, .. } => target.as_deref(),
        }
    }

    /// Its type as BuildKit names it.
    pub fn kind(&self) -> &'static str {
        match self {
            RunMount::Bind { .. } => "bind",
            RunMount::Cache { .. } => "cache",
            RunMount::Tmpfs { .. } => "tmpfs",
            RunMount::Inline { .. } => "inline",
            RunMount::Secret { .. } => "secret",
            RunMount::Ssh { .. } => "ssh",
        }
    }
}
