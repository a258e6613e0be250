//! The description of one sandboxed process, shared by the builder and the init.

use crate::seccomp::{Insn, SeccompMode};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Network isolation of a RUN step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Its own network namespace with NAT egress through slirp4netns (BuildKit's `default`
    /// with a private network): the internet and the host's resolver are reachable, the host's
    /// loopback services are not.
    #[default]
    Private,
    /// Share the host's network namespace (`--network=host`, an entitlement in BuildKit).
    Host,
    /// A new network namespace with only `lo`, brought up.
    None,
}

/// One `--ulimit name=soft:hard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Docker's name: core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc,
    /// rss, rtprio, rttime, sigpending, stack, as.
    pub name: String,
    /// Soft limit (-1 = unlimited).
    pub soft: i64,
    /// Hard limit (-1 = unlimited).
    pub hard: i64,
}

/// Resource limits of a RUN step; `None` means no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// Memory plus swap in bytes, as Docker's `--memory-swap` (-1 = unlimited swap).
    pub memory_swap: Option<i64>,
    /// CFS quota in microseconds per period.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (default 100000).
    pub cpu_period: Option<u64>,
    /// Number of CPUs, as Docker's `--cpus` (turned into a quota over the period).
    pub cpus: Option<f64>,
    /// Maximum number of tasks.
    pub pids: Option<i64>,
    /// Size of /dev/shm in bytes (default 64 MiB).
    pub shm_size: Option<u64>,
    /// Resource limits set with setrlimit before exec.
    pub ulimits: Vec<Ulimit>,
}

impl Limits {
    /// True when a limit needs a resource controller (every run has a cgroup for its devices).
    pub fn needs_cgroup(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.cpu_quota.is_some()
            || self.cpus.is_some()
            || self.pids.is_some()
    }
}

/// An extra mount for `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSpec {
    /// Bind a host path into the rootfs.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Absolute path inside the rootfs.
        target: String,
        /// Mount read-only.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Absolute path inside the rootfs.
        target: String,
        /// Size in bytes (None = kernel default).
        size: Option<u64>,
    },
    /// A secret: a read-only file whose content lives only in memory (a tmpfs in the run's
    /// mount namespace), never on disk, bound at `target`.
    Secret {
        /// Absolute path inside the rootfs.
        target: String,
        /// The content.
        data: SecretBytes,
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Group.
        gid: u32,
    },
}

impl MountSpec {
    /// The absolute target path inside the rootfs.
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Bind { target, .. }
            | MountSpec::Tmpfs { target, .. }
            | MountSpec::Secret { target, .. } => target,
        }
    }
}

/// A secret's bytes: kept out of `Debug` output, so a logged spec never shows them.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretBytes(pub Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret, {} bytes>", self.0.len())
    }
}

/// Everything needed to run one process of a RUN step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Snapshot dirs, top-most first (overlay lowerdir order); empty for FROM scratch.
    pub lowers: Vec<PathBuf>,
    /// Fresh, empty upper dir on the same filesystem as `work`.
    pub upper: PathBuf,
    /// Overlay workdir.
    pub work: PathBuf,
    /// The argv to exec (already SHELL-wrapped for shell form).
    pub argv: Vec<String>,
    /// "K=V" entries, exactly the environment of the process.
    pub env: Vec<String>,
    /// Absolute working directory in the rootfs; created if missing.
    pub cwd: String,
    /// USER as written in the Dockerfile ("" = root).
    pub user: String,
    /// Hostname of the UTS namespace.
    pub hostname: String,
    /// Network isolation.
    pub network: NetworkMode,
    /// Resource limits.
    pub limits: Limits,
    /// Extra mounts (RUN --mount).
    pub extra_mounts: Vec<MountSpec>,
    /// Contents of /etc/hosts (None = a localhost file with the hostname).
    pub hosts: Option<String>,
    /// Contents of /etc/resolv.conf (None = the host's).
    pub resolv_conf: Option<String>,
    /// An existing, empty, absolute directory for the run's own files (the overlay mountpoint,
    /// the generated /etc files, the empty lower); None = a fresh `rbuild-sandbox-*` directory
    /// in the temp dir. The caller owns it: the sandbox empties it after the run, never removes it.
    #[serde(default)]
    pub run_dir: Option<PathBuf>,
    /// The syscall filter (Docker's default profile unless unconfined or a profile file).
    #[serde(default)]
    pub seccomp: SeccompMode,
    /// BuildKit's `security.insecure` (`RUN --security=insecure`): every capability, no
    /// seccomp filter, no masked or read-only /proc paths, a writable /sys and no device
    /// allow-list. Everything else (namespaces, rootfs, user) stays.
    #[serde(default)]
    pub insecure: bool,
    /// How the rootfs is assembled from the lowers.
    #[serde(default)]
    pub rootfs: RootfsMode,
}

/// How the rootfs of a run is assembled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootfsMode {
    /// overlayfs, unless this process is in a user namespace on a kernel that cannot mount it
    /// there (before 5.11): then a copy.
    #[default]
    Auto,
    /// Always overlayfs.
    Overlay,
    /// The layers copied into one directory and the changes collected after the run (see
    /// `copyfs`): slower, but needs no overlayfs at all.
    Copy,
}

impl RootfsMode {
    /// True when a run in this mode copies the layers; `kernel` is asked only when it decides.
    pub fn copies(self, rootless: bool, kernel: impl FnOnce() -> (u32, u32)) -> bool {
        match self {
            RootfsMode::Auto => rootless && kernel() < (5, 11),
            RootfsMode::Overlay => false,
            RootfsMode::Copy => true,
        }
    }
}

/// Why the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitReason {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Killed by the kernel's OOM killer because of the memory limit.
    OomKilled,
}

/// What `run` reports about the finished process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Why the process ended.
    pub reason: ExitReason,
}

/// Which output stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// The process's stdout.
    Stdout,
    /// The process's stderr.
    Stderr,
}

/// What the builder sends to the re-executed init: the spec plus host-side paths it prepared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InitRequest {
    pub spec: RunSpec,
    /// Empty dir where the overlay is mounted before pivot_root.
    pub root_dir: PathBuf,
    /// Dir holding hosts, resolv.conf and hostname to bind into the rootfs.
    pub etc_dir: PathBuf,
    /// Empty dir the init mounts a tmpfs on to hold secret files (in its own namespace).
    #[serde(default)]
    pub secrets_dir: PathBuf,
    /// Empty dir used as the only lower when `spec.lowers` is empty.
    pub empty_lower: PathBuf,
    /// Dir for short symlinks to the lowers, for the legacy mount fallback.
    pub links_dir: PathBuf,
    /// cgroup.procs files the init joins before unsharing.
    pub cgroup_procs: Vec<PathBuf>,
    /// The cgroup v2 directory pid 1 starts in (`clone3(CLONE_INTO_CGROUP)`): no task moves
    /// into it, and a move costs an RCU grace period (5-27 ms here) on every RUN.
    #[serde(default)]
    pub cgroup_dir: Option<PathBuf>,
    /// Skip the new mount API (tests of the legacy fallback).
    #[serde(default)]
    pub legacy_overlay: bool,
    /// The compiled seccomp filter the command installs last (None: no filter).
    #[serde(default)]
    pub seccomp: Option<Vec<Insn>>,
    /// The network helper of a private network.
    #[serde(default)]
    pub net_helper: Option<crate::net::Helper>,
    /// The builder runs in a user namespace (rootless): device nodes are bound from the
    /// host's /dev, the overlay keeps its xattrs in user.*, and sysfs of the host's network
    /// namespace is bound rather than mounted.
    #[serde(default)]
    pub rootless: bool,
    /// The merged copy of the lowers to bind as the rootfs instead of mounting an overlay.
    #[serde(default)]
    pub rootfs_copy: Option<PathBuf>,
}

/// One line the init sends back to the builder over the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Report {
    /// Paths (inside the rootfs) the init created only to mount over them, in creation order.
    Stubs(Vec<crate::plan::Stub>),
    /// The exec of the command failed with this message.
    ExecFailed(String),
    /// The main process ended.
    Exit(ExitReason),
    /// The setup failed.
    Error(String),
}
