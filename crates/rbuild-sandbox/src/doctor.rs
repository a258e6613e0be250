//! `rbuild doctor`: what this machine gives the sandbox, each requirement with the command that
//! fixes it. [`Facts`] are read from the system; [`evaluate`] is pure.

use crate::process::in_path;
use crate::rootless::{best_range, subid_ranges, WANTED_IDS};
use std::path::{Path, PathBuf};

/// How a requirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Met.
    Ok,
    /// Not met, and this user needs it.
    Missing,
    /// Not met, but only needed for something optional (rootless runs as root, emulation).
    Optional,
}

/// One requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked.
    pub name: &'static str,
    /// How it stands.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// The command (or step) that fixes it, when it is not met.
    pub fix: Option<String>,
}

/// What the checks look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The effective user id.
    pub euid: u32,
    /// The user's name (for /etc/subuid).
    pub user: String,
    /// The running kernel (major, minor).
    pub kernel: (u32, u32),
    /// user.max_user_namespaces.
    pub max_user_namespaces: Option<u64>,
    /// kernel.unprivileged_userns_clone (Debian, Ubuntu); None when the kernel has no such knob.
    pub userns_clone: Option<u64>,
    /// kernel.apparmor_restrict_unprivileged_userns (Ubuntu ≥ 23.10).
    pub apparmor_restrict: Option<u64>,
    /// /etc/subuid and /etc/subgid.
    pub subuid: String,
    /// See `subuid`.
    pub subgid: String,
    /// newuidmap and newgidmap, when both are in PATH.
    pub idmap_tools: bool,
    /// overlay in /proc/filesystems.
    pub overlay: bool,
    /// A cgroup hierarchy is mounted.
    pub cgroups: bool,
    /// This process may create cgroups below its own (root, or a delegated v2 subtree).
    pub cgroup_writable: bool,
    /// The network helper's path.
    pub net_helper: Option<PathBuf>,
    /// /dev/net/tun opens for reading and writing (the helper of a rootless private network
    /// opens it in the user namespace, where only its mode counts).
    pub tun: bool,
    /// Seccomp filters are available.
    pub seccomp: bool,
    /// Platforms binfmt_misc emulates; None when binfmt_misc is not mounted.
    pub emulated: Option<Vec<&'static str>>,
}

fn check(name: &'static str, ok: bool, need: Status, detail: String, fix: &str) -> Check {
    Check {
        name,
        status: if ok { Status::Ok } else { need },
        detail,
        fix: (!ok).then(|| fix.to_string()),
    }
}

/// Everything rootless needs is optional for root.
fn rootless_need(f: &Facts) -> Status {
    if f.euid == 0 {
        Status::Optional
    } else {
        Status::Missing
    }
}

/// Why this user cannot make user namespaces, with the fix; None when it can.
fn userns_blocked(f: &Facts) -> Option<(&'static str, &'static str)> {
    if f.max_user_namespaces == Some(0) {
        Some((
            "sysctl -w user.max_user_namespaces=15000",
            "user.max_user_namespaces is 0",
        ))
    } else if f.userns_clone == Some(0) {
        Some((
            "sysctl -w kernel.unprivileged_userns_clone=1",
            "kernel.unprivileged_userns_clone is 0",
        ))
    } else if f.apparmor_restrict == Some(1) {
        Some((
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
            "AppArmor restricts unprivileged user namespaces",
        ))
    } else {
        None
    }
}

fn userns(f: &Facts) -> Check {
    let (fix, detail) = userns_blocked(f).unwrap_or(("", "allowed"));
    check(
        "user namespaces",
        fix.is_empty(),
        rootless_need(f),
        detail.into(),
        fix,
    )
}

fn subids(f: &Facts) -> Check {
    let uids = best_range(&subid_ranges(&f.subuid, &f.user, f.euid));
    let gids = best_range(&subid_ranges(&f.subgid, &f.user, f.euid));
    let enough = |r: Option<crate::rootless::IdRange>| r.is_some_and(|r| r.count >= WANTED_IDS);
    let show = |r: Option<crate::rootless::IdRange>| {
        r.map_or("none".to_string(), |r| format!("{}+{}", r.start, r.count))
    };
    let fix = format!(
        "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
        f.user
    );
    check(
        "subordinate ids",
        enough(uids) && enough(gids),
        rootless_need(f),
        format!("{}: uids {}, gids {}", f.user, show(uids), show(gids)),
        &fix,
    )
}

/// Evaluates every requirement: the host's, then what rootless runs will need.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    let mut checks = host(f);
    checks.extend(rootless(f));
    checks
}

/// What every run needs (and emulation, which cross-platform RUNs need).
fn host(f: &Facts) -> Vec<Check> {
    let helper = f.net_helper.as_ref();
    let emulated = f.emulated.as_ref();
    vec![
        check(
            "root or a user namespace",
            f.euid == 0 || userns_blocked(f).is_none(),
            Status::Missing,
            if f.euid == 0 {
                "root".to_string()
            } else {
                format!("euid {}: rootless, in a user namespace", f.euid)
            },
            "run as root, or allow user namespaces (below)",
        ),
        check(
            "overlayfs",
            f.overlay,
            Status::Missing,
            "in /proc/filesystems".into(),
            "modprobe overlay",
        ),
        cgroups(f),
        check(
            "network helper",
            helper.is_some(),
            Status::Missing,
            helper.map_or("slirp4netns not in PATH".into(), |p| {
                p.display().to_string()
            }),
            "apt-get install slirp4netns (or build with --network=host / none)",
        ),
        check(
            "seccomp",
            f.seccomp,
            Status::Missing,
            "Seccomp in /proc/self/status".into(),
            "a kernel built with CONFIG_SECCOMP_FILTER",
        ),
        check(
            "binfmt_misc emulation",
            emulated.is_some_and(|e| !e.is_empty()),
            Status::Optional,
            emulated.map_or("binfmt_misc is not mounted".into(), |e| {
                format!("emulates: {}", e.join(", "))
            }),
            "apt-get install qemu-user-static && rbuild setup binfmt",
        ),
    ]
}

/// Root needs a writable hierarchy for every run's device filter; rootless, cgroups only carry
/// resource limits, and a build without them runs, warned.
fn cgroups(f: &Facts) -> Check {
    let (need, fix) = if f.euid == 0 {
        (Status::Missing, "mount -t cgroup2 none /sys/fs/cgroup")
    } else {
        (
            Status::Optional,
            "systemd-run --user --scope -p Delegate=yes rbuild ... (a delegated cgroup v2 \
             subtree; without one, rootless builds run without --memory/--cpu/--pids limits)",
        )
    };
    check(
        "cgroups",
        f.cgroups && f.cgroup_writable,
        need,
        format!("mounted: {}, writable: {}", f.cgroups, f.cgroup_writable),
        fix,
    )
}

/// What a run without root will need.
fn rootless(f: &Facts) -> Vec<Check> {
    let tools = if f.idmap_tools {
        "found"
    } else {
        "not in PATH"
    };
    vec![
        userns(f),
        subids(f),
        check(
            "newuidmap and newgidmap",
            f.idmap_tools,
            rootless_need(f),
            tools.into(),
            "apt-get install uidmap",
        ),
        check(
            "overlayfs in a user namespace",
            f.kernel >= (5, 11),
            // Without it a rootless RUN runs on a copy of its layers (`--rootfs copy`): slower.
            Status::Optional,
            format!("kernel {}.{}", f.kernel.0, f.kernel.1),
            "a kernel ≥ 5.11 (until then rootless RUN steps use a copied rootfs, which is slower)",
        ),
        check(
            "/dev/net/tun for a private network",
            f.tun,
            rootless_need(f),
            if f.tun {
                "usable"
            } else {
                "cannot be opened read-write"
            }
            .into(),
            "chmod 0666 /dev/net/tun (udev's default mode; in a Pod, give it the device), \
             or build with --network=none",
        ),
    ]
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Facts {
    /// Reads the facts of this machine and process.
    pub fn gather() -> Facts {
        let euid = nix::unistd::geteuid().as_raw();
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(euid))
            .ok()
            .flatten()
            .map_or(euid.to_string(), |u| u.name);
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let binfmt = Path::new(crate::emulation::BINFMT_DIR);
        Facts {
            euid,
            user,
            kernel: crate::seccomp::running_kernel(),
            max_user_namespaces: read_u64("/proc/sys/user/max_user_namespaces"),
            userns_clone: read_u64("/proc/sys/kernel/unprivileged_userns_clone"),
            apparmor_restrict: read_u64("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            subuid: std::fs::read_to_string("/etc/subuid").unwrap_or_default(),
            subgid: std::fs::read_to_string("/etc/subgid").unwrap_or_default(),
            idmap_tools: in_path("newuidmap").is_some() && in_path("newgidmap").is_some(),
            overlay: filesystems.lines().any(|l| l.ends_with("\toverlay")),
            cgroups: crate::cgroup::host_layout().is_ok(),
            cgroup_writable: euid == 0 || crate::cgroup::delegated::own_group().is_ok(),
            net_helper: in_path(crate::net::HELPER),
            tun: std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
                .is_ok(),
            seccomp: status.lines().any(|l| l.starts_with("Seccomp:")),
            emulated: binfmt
                .join("status")
                .exists()
                .then(|| crate::emulation::emulated(&crate::emulation::handlers(binfmt))),
        }
    }
}

/// Every requirement of the sandbox on this machine, for this user.
pub fn doctor() -> Vec<Check> {
    evaluate(&Facts::gather())
}

#[cfg(test)]
mod tests;
