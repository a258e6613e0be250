//! Runs one process in an isolated rootfs: namespaces, overlayfs, pivot_root, cgroups (Docker's
//! device allow-list on every run), a fresh session keyring, no inherited descriptors, Docker's
//! default seccomp profile ([`seccomp`]) and a private network with NAT egress ([`net`]) unless
//! the spec asks otherwise; [`doctor::doctor`] says what this machine lacks.
//!
//! The builder calls [`run`], which re-executes the current binary with [`INIT_ARG`]; that
//! process (see [`init_if_requested`]) is single-threaded and does all the forking and
//! mounting, so an async runtime never forks.

mod beneath;
pub use beneath::{clean_subpath, BeneathDir, BeneathError};
mod caps;
mod cgroup;
pub use cgroup::{sweep_stale, sweep_stale_in_background, wait_for_sweep};
mod cleanup;
mod copyfs;
mod devices;
pub mod doctor;
pub mod emulation;
mod error;
mod init;
pub mod net;
pub mod plan;
mod process;
mod rootfs;
pub mod rootless;
mod run;
pub mod seccomp;
mod spec;
mod sys;
pub mod user;

pub use error::SandboxError;
pub use seccomp::{SeccompError, SeccompMode};
pub use spec::{
    ExitReason, Limits, MountSpec, NetworkMode, OutputStream, RootfsMode, RunOutcome, RunSpec,
    SecretBytes, Ulimit,
};

use std::path::Path;

/// The `argv[1]` value that marks the re-executed sandbox init.
pub const INIT_ARG: &str = "__rbuild-sandbox-init";

/// Call first thing in main(): marks every descriptor above stderr close-on-exec, so whatever
/// the caller left open (CI agents do) reaches no child this process spawns (CVE-2024-21626).
/// Never fails: without close_range it marks the descriptors one by one.
pub fn mark_inherited_fds_cloexec() {
    // The fallback only fails on an fd that vanished meanwhile; nothing is left to protect then.
    let _ = sys::fds::cloexec_from(3);
}

/// Call first thing in main(): if `argv[1] == INIT_ARG` this process is the sandbox init; it runs and never returns.
pub fn init_if_requested() {
    if std::env::args_os().nth(1).is_some_and(|a| a == INIT_ARG) {
        std::process::exit(init::main());
    }
}

/// Runs the spec: spawns `exe` (normally /proc/self/exe) with INIT_ARG, passes the spec, streams
/// the child's output to `on_output` as it arrives (never clipped), waits, reports the outcome.
/// Blocking; call from a plain thread.
pub fn run(
    spec: &RunSpec,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<RunOutcome, SandboxError> {
    run::run(spec, exe, on_output, &run::Options::default())
}

/// Like [`run`], but mounts the overlay only with the legacy mount(2) fallback (short relative
/// lowerdir names); for tests of that path.
#[doc(hidden)]
pub fn run_with_legacy_overlay(
    spec: &RunSpec,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<RunOutcome, SandboxError> {
    let opts = run::Options {
        legacy_overlay: true,
        ..Default::default()
    };
    run::run(spec, exe, on_output, &opts)
}

/// Like [`run`], but puts the run's cgroup under `root`, a cgroup2 mount, whatever the host's
/// layout; for tests of the eBPF device filter on hybrid hosts.
#[doc(hidden)]
pub fn run_with_cgroup2_root(
    spec: &RunSpec,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
    root: &Path,
) -> Result<RunOutcome, SandboxError> {
    let opts = run::Options {
        cgroup2_root: Some(root.to_path_buf()),
        ..Default::default()
    };
    run::run(spec, exe, on_output, &opts)
}

/// How many device filters are attached to the cgroup2 directory `dir` itself; for tests of
/// the filter's parent cgroup.
#[doc(hidden)]
pub fn device_filters_attached(dir: &Path) -> Result<u32, SandboxError> {
    cgroup::filtered::attached(dir)
}

/// Like [`run`], but on a hybrid host applies the device allow-list through the v1 devices
/// controller (moving pid 1 into it) instead of the eBPF filter; for tests of that fallback.
pub fn run_with_v1_devices(
    spec: &RunSpec,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<RunOutcome, SandboxError> {
    let opts = run::Options {
        v1_devices: true,
        ..Default::default()
    };
    run::run(spec, exe, on_output, &opts)
}

/// Checks that this process can run sandboxes (root, namespaces, overlayfs); Err names what is missing.
pub fn probe() -> Result<(), SandboxError> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root privileges (euid 0)".to_string());
    }
    for ns in ["mnt", "pid", "uts", "ipc", "cgroup", "net"] {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            missing.push(format!("{ns} namespaces (/proc/self/ns/{ns})"));
        }
    }
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    for want in ["overlay", "proc", "tmpfs", "sysfs", "devpts"] {
        if !fs
            .lines()
            .any(|l| l.split_whitespace().last() == Some(want))
        {
            missing.push(format!("the {want} filesystem (/proc/filesystems)"));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SandboxError::Unavailable(format!(
            "missing {}",
            missing.join(", ")
        )))
    }
}
