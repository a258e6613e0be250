//! The minimal /dev: device nodes, standard links, devpts, shm and mqueue.

use crate::plan::{Kind, Step, Userns, MS_NODEV, MS_NOEXEC, MS_NOSUID};
use std::path::PathBuf;

/// Device nodes created in /dev: (name, major, minor).
pub const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The standard links in /dev: (target, link).
const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

/// The steps that populate the /dev tmpfs. A user namespace may not make device nodes, so a
/// rootless run binds the host's own nodes instead (as rootless runc and podman do).
pub fn dev_steps(shm_size: u64, ns: Userns) -> Vec<Step> {
    let mut steps: Vec<Step> = DEVICES
        .iter()
        .map(|(n, major, minor)| {
            let path = format!("/dev/{n}");
            if ns.rootless() {
                return Step::Bind {
                    source: PathBuf::from(&path),
                    target: path,
                    readonly: false,
                    kind: Kind::File,
                };
            }
            Step::Mknod {
                path,
                major: *major,
                minor: *minor,
            }
        })
        .collect();
    for (target, link) in LINKS {
        steps.push(Step::Symlink {
            target: (*target).into(),
            link: (*link).into(),
        });
    }
    let pts = match ns {
        Userns::Rootless { tty_group: false } => "newinstance,ptmxmode=0666,mode=0620",
        _ => "newinstance,ptmxmode=0666,mode=0620,gid=5",
    };
    steps.push(crate::plan::mount(
        "devpts",
        "/dev/pts",
        MS_NOSUID | MS_NOEXEC,
        pts,
        Kind::Dir,
    ));
    let shm = format!("mode=1777,size={shm_size}");
    steps.push(crate::plan::mount(
        "tmpfs",
        "/dev/shm",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        &shm,
        Kind::Dir,
    ));
    steps.push(crate::plan::mount(
        "mqueue",
        "/dev/mqueue",
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        "",
        Kind::Dir,
    ));
    steps
}
