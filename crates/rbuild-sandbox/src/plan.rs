//! The mount plan of the rootfs as data: built from a RunSpec without touching the kernel.

use crate::spec::{MountSpec, RunSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub(crate) const MS_RDONLY: u64 = libc::MS_RDONLY;
pub(crate) const MS_NOSUID: u64 = libc::MS_NOSUID;
pub(crate) const MS_NODEV: u64 = libc::MS_NODEV;
pub(crate) const MS_NOEXEC: u64 = libc::MS_NOEXEC;
pub(crate) const MS_STRICTATIME: u64 = libc::MS_STRICTATIME;

/// Default /dev/shm size, as Docker's.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Docker's masked paths: hidden behind an empty read-only tmpfs (dirs) or /dev/null (files).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What the plan needs of the user namespace the init runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Userns {
    /// The host's own: root is root.
    Host,
    /// A user namespace (rootless, or a Pod's with `hostUsers: false`).
    Rootless {
        /// gid 5 (tty, the owner devpts gives new terminals) is mapped: with only the caller
        /// mapped it is not, and devpts refuses `gid=5`.
        tty_group: bool,
    },
}

impl Userns {
    /// True in a user namespace.
    pub fn rootless(self) -> bool {
        matches!(self, Userns::Rootless { .. })
    }
}

/// Whether a mountpoint is a directory or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A directory mountpoint.
    Dir,
    /// A file mountpoint.
    File,
}

/// One step of the rootfs setup, run after pivot_root, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A fresh filesystem mount.
    Mount {
        fstype: String,
        target: String,
        flags: u64,
        data: String,
        kind: Kind,
    },
    /// A fresh proc or sysfs made before pivot_root and attached at `target` after it: a user
    /// namespace may mount those only while the host's own are visible (the kernel's
    /// mount_too_revealing check), which ends with pivot_root.
    Early {
        fstype: String,
        target: String,
        flags: u64,
    },
    /// A bind of a host path (opened before pivot_root) onto `target`.
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
        kind: Kind,
    },
    /// A character device node (mode 0666).
    Mknod {
        path: String,
        major: u32,
        minor: u32,
    },
    /// A symlink `link` -> `target`.
    Symlink { target: String, link: String },
    /// Hide a path if it exists.
    Mask { path: String },
    /// Make a path read-only if it exists.
    ReadOnly { path: String },
}

/// What the init created in the rootfs only to mount over it; removed from upper afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stub {
    /// Absolute path inside the rootfs.
    pub path: String,
    /// How the stub came to be.
    pub kind: StubKind,
}

/// How a stub came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StubKind {
    /// An empty file created as a mountpoint.
    File,
    /// An empty directory created as a mountpoint or parent of one.
    Dir,
    /// A directory of the lowers that overlayfs copied up because a stub was created inside it.
    CopiedUp,
}

pub(crate) fn mount(fstype: &str, target: &str, flags: u64, data: &str, kind: Kind) -> Step {
    Step::Mount {
        fstype: fstype.into(),
        target: target.into(),
        flags,
        data: data.into(),
        kind,
    }
}

/// Where secret `i` of a spec is written before pivot_root.
pub fn secret_file(secrets_dir: &Path, i: usize) -> PathBuf {
    secrets_dir.join(i.to_string())
}

/// Builds the post-pivot steps for `spec`; `etc_dir` holds the generated hosts/resolv.conf/hostname,
/// `secrets_dir` the secret files.
pub fn build(spec: &RunSpec, etc_dir: &Path, secrets_dir: &Path, ns: Userns) -> Vec<Step> {
    let rootless = ns.rootless();
    let base = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    let mut steps = vec![
        mount("proc", "/proc", base, "", Kind::Dir),
        mount(
            "tmpfs",
            "/dev",
            MS_NOSUID | MS_STRICTATIME,
            "mode=755,size=65536k",
            Kind::Dir,
        ),
    ];
    steps.extend(crate::devices::dev_steps(
        spec.limits.shm_size.unwrap_or(DEFAULT_SHM_SIZE),
        ns,
    ));
    steps.push(sysfs(spec, rootless));
    if !spec.insecure {
        // Masks and read-only paths come before anything the step chose is mounted: a bind or
        // cache mount on /dev could otherwise make the mask source /dev/null a symlink to a
        // writable sysctl such as core_pattern (runc CVE-2025-31133's class).
        steps.extend(protect_proc());
    }
    for name in ["hosts", "resolv.conf", "hostname"] {
        let target = format!("/etc/{name}");
        steps.push(Step::Bind {
            source: etc_dir.join(name),
            target,
            readonly: false,
            kind: Kind::File,
        });
    }
    let mut secrets = 0;
    for m in &spec.extra_mounts {
        steps.push(extra_mount_step(m, secrets_dir, &mut secrets));
    }
    steps
        .into_iter()
        .map(|s| early_where_rootless(s, rootless))
        .collect()
}

/// sysfs shows the network devices of the mounting process's netns, so it is fresh either
/// way; but a user namespace may only mount it for a netns it owns, so a rootless step on the
/// host's network gets the host's /sys bound read-only (as rootless runc does).
fn sysfs(spec: &RunSpec, rootless: bool) -> Step {
    if rootless && spec.network == crate::spec::NetworkMode::Host {
        return Step::Bind {
            source: PathBuf::from("/sys"),
            target: "/sys".into(),
            readonly: true,
            kind: Kind::Dir,
        };
    }
    let sys_ro = if spec.insecure { 0 } else { MS_RDONLY };
    mount(
        "sysfs",
        "/sys",
        MS_NOSUID | MS_NODEV | MS_NOEXEC | sys_ro,
        "",
        Kind::Dir,
    )
}

/// Docker's masked and read-only paths; an insecure step (security.insecure) gets none of
/// them, /proc as the kernel shows it, as BuildKit's insecure spec does.
fn protect_proc() -> impl Iterator<Item = Step> {
    let masks = MASKED_PATHS
        .iter()
        .map(|p| Step::Mask { path: (*p).into() });
    let read_only = READONLY_PATHS
        .iter()
        .map(|p| Step::ReadOnly { path: (*p).into() });
    masks.chain(read_only)
}

fn extra_mount_step(m: &MountSpec, secrets_dir: &Path, secrets: &mut usize) -> Step {
    match m {
        MountSpec::Secret { target, .. } => {
            *secrets += 1;
            Step::Bind {
                source: secret_file(secrets_dir, *secrets - 1),
                target: target.clone(),
                readonly: true,
                kind: Kind::File,
            }
        }
        MountSpec::Bind {
            source,
            target,
            readonly,
        } => {
            let kind = if source.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            Step::Bind {
                source: source.clone(),
                target: target.clone(),
                readonly: *readonly,
                kind,
            }
        }
        MountSpec::Tmpfs { target, size } => {
            let data = size.map_or(String::from("mode=1777"), |s| format!("mode=1777,size={s}"));
            mount("tmpfs", target, MS_NOSUID | MS_NODEV, &data, Kind::Dir)
        }
    }
}

/// In a user namespace, proc and sysfs are made early (see [`Step::Early`]); they are mounted
/// without options, which an early filesystem does not carry.
fn early_where_rootless(step: Step, rootless: bool) -> Step {
    match step {
        Step::Mount {
            fstype,
            target,
            flags,
            data,
            ..
        } if rootless && data.is_empty() && (fstype == "proc" || fstype == "sysfs") => {
            Step::Early {
                fstype,
                target,
                flags,
            }
        }
        other => other,
    }
}

/// Host paths the init must open before pivot_root (bind sources).
pub fn bind_sources(steps: &[Step]) -> Vec<PathBuf> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Bind { source, .. } => Some(source.clone()),
            _ => None,
        })
        .collect()
}

/// Legacy overlay options using short names relative to a links dir (entries "0", "1", ..., "U", "W": upper-case never clashes with base-36 names).
pub fn legacy_overlay_options(n_lowers: usize, rootless: bool) -> String {
    let lowers: Vec<String> = (0..n_lowers).map(short_name).collect();
    format!(
        "lowerdir={},upperdir=U,workdir=W,{}",
        lowers.join(":"),
        overlay_options(rootless).join(",")
    )
}

/// Overlay options we always set so the upper dir is a plain, portable diff.
pub const OVERLAY_EXTRA: &[&str] = &["index=off", "redirect_dir=off", "metacopy=off"];

/// The same in a user namespace: xattrs in user.* (trusted.* needs host root), and
/// `redirect_dir=off` would mean "follow", which the kernel refuses with `userxattr`.
pub const OVERLAY_ROOTLESS: &[&str] = &[
    "userxattr",
    "redirect_dir=nofollow",
    "index=off",
    "metacopy=off",
];

/// The options of an overlay mounted by root, or in a user namespace.
pub fn overlay_options(rootless: bool) -> &'static [&'static str] {
    if rootless {
        OVERLAY_ROOTLESS
    } else {
        OVERLAY_EXTRA
    }
}

/// A short base-36 name for lower number `i`.
pub fn short_name(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[i % 36]);
        i /= 36;
        if i == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
