//! The effectful half of rootless runs: the process (still single-threaded) moves into a new
//! user namespace whose map a helper child writes with newuidmap/newgidmap, as podman and
//! rootlesskit do; afterwards it is uid 0 there with every capability over what it owns.

use super::{best_range, id_map, is_identity_map, newidmap_args, subid_ranges, IdRange};
use crate::error::SandboxError;
use crate::process::in_path;
use crate::sys::proc_calls::{fork, pipe, Forked};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::OnceLock;

/// How the ids of the namespace are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Root is the caller; ids 1.. are the caller's subordinate range (newuidmap/newgidmap).
    Subordinate {
        /// The uid range.
        uids: IdRange,
        /// The gid range.
        gids: IdRange,
    },
    /// Only root (the caller) is mapped: no /etc/subuid range or no uidmap tools. Files of
    /// other owners keep root's, and a USER other than root cannot run.
    Single,
}

/// The rootless session this process entered.
#[derive(Debug, Clone)]
pub struct Session {
    /// The caller's name (the key of /etc/subuid).
    pub user: String,
    /// The caller's uid on the host.
    pub uid: u32,
    /// The caller's gid on the host.
    pub gid: u32,
    /// How ids are mapped.
    pub mapping: Mapping,
}

static SESSION: OnceLock<Session> = OnceLock::new();

/// The session [`enter`] made, if this process entered one.
pub fn session() -> Option<&'static Session> {
    SESSION.get()
}

/// True when this process is in a user namespace other than the initial one (rootless, or a
/// container's): chown to unmapped ids, device nodes, trusted.* xattrs and cgroups are refused.
/// Read once: [`enter`] runs first thing in `main`, and nothing leaves a user namespace.
pub fn in_user_namespace() -> bool {
    static IN: OnceLock<bool> = OnceLock::new();
    *IN.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| !is_identity_map(&m))
    })
}

fn rootless_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Rootless { what, source }
}

/// The mapping this user can have: subordinate ranges when /etc/subuid and /etc/subgid list
/// them and newuidmap/newgidmap are installed, else the caller alone.
fn choose_mapping(user: &str, uid: u32) -> Mapping {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let uids = best_range(&subid_ranges(&read("/etc/subuid"), user, uid));
    let gids = best_range(&subid_ranges(&read("/etc/subgid"), user, uid));
    match (uids, gids) {
        (Some(uids), Some(gids))
            if in_path("newuidmap").is_some() && in_path("newgidmap").is_some() =>
        {
            Mapping::Subordinate { uids, gids }
        }
        _ => Mapping::Single,
    }
}

/// Moves this process into a new user namespace where it is root. Call while the process is
/// single-threaded (unshare(CLONE_NEWUSER) refuses otherwise), before anything reads its uid.
/// Idempotent: a second call returns the first session.
pub fn enter() -> Result<&'static Session, SandboxError> {
    if let Some(s) = SESSION.get() {
        return Ok(s);
    }
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or(uid.to_string(), |u| u.name);
    let mapping = choose_mapping(&user, uid);
    match mapping {
        Mapping::Subordinate { uids, gids } => enter_mapped(uid, gid, uids, gids)?,
        Mapping::Single => enter_single(uid, gid)?,
    }
    let session = Session {
        user,
        uid,
        gid,
        mapping,
    };
    Ok(SESSION.get_or_init(|| session))
}

/// The caller alone: the process writes its own one-line maps (no helper needed).
fn enter_single(uid: u32, gid: u32) -> Result<(), SandboxError> {
    crate::sys::proc_calls::unshare(libc::CLONE_NEWUSER)
        .map_err(rootless_err("create a user namespace"))?;
    let write = |path: &str, text: String| {
        std::fs::write(path, text).map_err(rootless_err(format!("write {path}")))
    };
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    write("/proc/self/gid_map", format!("0 {gid} 1\n"))
}

/// Subordinate ranges: a forked helper waits until this process has unshared, then runs
/// newuidmap and newgidmap on it (setuid tools; a process cannot map itself beyond its own id).
fn enter_mapped(uid: u32, gid: u32, uids: IdRange, gids: IdRange) -> Result<(), SandboxError> {
    let (go_r, go_w) = pipe().map_err(rootless_err("create a pipe"))?;
    let (done_r, done_w) = pipe().map_err(rootless_err("create a pipe"))?;
    let me = std::process::id();
    let helper = match fork().map_err(rootless_err("fork the id-map helper"))? {
        Forked::Child => {
            drop((go_w, done_r));
            let ok = write_maps(go_r, me, id_map(uid, uids), id_map(gid, gids));
            let _ = std::fs::File::from(done_w).write_all(&[u8::from(ok)]);
            // SAFETY: _exit ends the forked helper without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        Forked::Parent(pid) => pid,
    };
    drop((go_r, done_w));
    let unshared = crate::sys::proc_calls::unshare(libc::CLONE_NEWUSER);
    let _ = std::fs::File::from(go_w).write_all(&[u8::from(unshared.is_ok())]);
    let mut mapped = [0u8; 1];
    let read = std::fs::File::from(done_r).read_exact(&mut mapped);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
    unshared.map_err(rootless_err("create a user namespace"))?;
    if read.is_err() || mapped[0] != 1 {
        let e = io::Error::other("newuidmap or newgidmap failed (their message is above)");
        return Err(rootless_err("map the subordinate ids")(e));
    }
    // Supplementary groups of the host mean nothing inside; drop them (allowed: newgidmap
    // left setgroups enabled).
    let _ = nix::unistd::setgroups(&[]);
    Ok(())
}

/// In the helper: waits for the go byte, then writes both maps of `pid`.
fn write_maps(
    go: OwnedFd,
    pid: u32,
    uids: [(u32, u32, u32); 2],
    gids: [(u32, u32, u32); 2],
) -> bool {
    let mut byte = [0u8; 1];
    if std::fs::File::from(go).read_exact(&mut byte).is_err() || byte[0] != 1 {
        return false;
    }
    let run = |tool: &str, map: &[(u32, u32, u32)]| {
        let args = newidmap_args(tool, pid, map);
        Command::new(&args[0])
            .args(&args[1..])
            .status()
            .is_ok_and(|s| s.success())
    };
    run("newuidmap", &uids) && run("newgidmap", &gids)
}
