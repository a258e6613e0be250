//! The init's setup sequence, generic over the kernel seams so its order is testable without
//! root: namespaces before the fork of pid 1, then in pid 1 a fresh session keyring, the descriptors, the hostname, the
//! rootfs, the working directory (checked to be inside the root) and the user, which yield the
//! prepared command.

use crate::error::SetupError;
use crate::plan::{self, Stub};
use crate::process::{Prepared, Security};
use crate::spec::{InitRequest, NetworkMode};
use crate::sys::{ProcSys, Sys};
use crate::{rootfs, user};
use std::path::Path;

fn err(what: &'static str) -> impl Fn(std::io::Error) -> SetupError {
    move |e| SetupError::Call(what, e)
}

/// Before pid 1 exists: stdin, death signal, umask, the private network (its helper is
/// forked here, outside the run's cgroup and in the host's PID namespace), the run's cgroups,
/// then the other namespaces.
pub fn enter_namespaces<S: ProcSys>(sys: &mut S, req: &InitRequest) -> Result<(), SetupError> {
    sys.null_stdin().map_err(err("open /dev/null"))?;
    sys.set_parent_death_signal()
        .map_err(err("prctl(PR_SET_PDEATHSIG)"))?;
    sys.umask(0o022);
    let helper = req.net_helper.as_ref();
    match (req.spec.network, helper) {
        (NetworkMode::Private, Some(h)) => sys.private_network(h)?,
        (NetworkMode::Host, _) => {}
        // Without its helper a private network is an isolated one.
        (NetworkMode::Private | NetworkMode::None, _) => {
            sys.unshare(libc::CLONE_NEWNET)
                .map_err(err("unshare the network namespace"))?;
        }
    }
    for procs in &req.cgroup_procs {
        sys.join_cgroup(procs)
            .map_err(|e| SetupError::path("join cgroup", procs, e))?;
    }
    let mut flags =
        libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC;
    // Started in its cgroup, pid 1 makes its own cgroup namespace there (see `setup`), so the
    // step sees its cgroup as the root either way.
    if req.cgroup_dir.is_none() {
        flags |= libc::CLONE_NEWCGROUP;
    }
    sys.unshare(flags).map_err(err("unshare namespaces"))
}

/// In pid 1: everything up to the prepared command; mountpoints created on the way go to `stubs`.
pub fn setup<S: Sys + ProcSys>(
    sys: &mut S,
    req: &InitRequest,
    stubs: &mut Vec<Stub>,
) -> Result<Prepared, SetupError> {
    let spec = &req.spec;
    if req.cgroup_dir.is_some() {
        sys.unshare(libc::CLONE_NEWCGROUP)
            .map_err(err("unshare the cgroup namespace"))?;
    }
    sys.set_parent_death_signal()
        .map_err(err("prctl(PR_SET_PDEATHSIG)"))?;
    // Keys of the invoking session (tokens, credentials) must not be found from the step.
    sys.join_session_keyring()
        .map_err(err("join a new session keyring"))?;
    // The init closed what it inherited; anything opened since must not outlive the exec.
    sys.cloexec_fds_from(3)
        .map_err(err("mark descriptors close-on-exec"))?;
    if !spec.hostname.is_empty() {
        sys.sethostname(&spec.hostname)
            .map_err(|e| SetupError::Hostname(spec.hostname.clone(), e))?;
    }
    if spec.network != NetworkMode::Host {
        sys.loopback_up().map_err(err("bring lo up"))?;
    }
    write_secrets(sys, req)?;
    // What the kernel says about capabilities is read from the host's /proc, before any mount
    // of the step can cover the fresh one (a bind on /proc/sys with a fake cap_last_cap would
    // otherwise leave the bounding set whole: runc CVE-2025-52881's class).
    let last_cap = crate::caps::last_cap();
    let held = crate::caps::permitted(&sys.read_text(Path::new("/proc/self/status")), last_cap);
    let maps = req.rootless.then(|| {
        let mut read = |p: &str| sys.read_text(Path::new(p));
        (read("/proc/self/uid_map"), read("/proc/self/gid_map"))
    });
    let ns = match &maps {
        Some((_, gid_map)) => plan::Userns::Rootless {
            tty_group: crate::rootless::maps_id(gid_map, 5),
        },
        None => plan::Userns::Host,
    };
    let steps = plan::build(spec, &req.etc_dir, &req.secrets_dir, ns);
    let opened = rootfs::enter(sys, req, &steps)?;
    rootfs::apply(sys, &steps, &opened, stubs)?;
    enter_cwd(sys, &spec.cwd)?;
    let passwd = sys.read_text(Path::new("/etc/passwd"));
    let group = sys.read_text(Path::new("/etc/group"));
    let who = user::resolve_user(&spec.user, &passwd, &group)?;
    if let Some((uid_map, gid_map)) = &maps {
        check_mapped(&spec.user, &who, uid_map, gid_map)?;
    }
    let env = user::env_with_home(&spec.env, &who.home);
    let security = Security::new(spec.insecure, req.seccomp.clone(), held, last_cap);
    Prepared::new(&spec.argv, &env, &spec.limits.ulimits, &who, security)
}

/// In a user namespace, the step's ids must be mapped: else setresuid would fail with a bare
/// EINVAL.
fn check_mapped(
    user: &str,
    who: &user::ResolvedUser,
    uid_map: &str,
    gid_map: &str,
) -> Result<(), SetupError> {
    let unmapped = |what, id| SetupError::Unmapped {
        user: if user.is_empty() {
            "root".into()
        } else {
            user.into()
        },
        what,
        id,
    };
    if !crate::rootless::maps_id(uid_map, who.uid) {
        return Err(unmapped("uid", who.uid));
    }
    if !crate::rootless::maps_id(gid_map, who.gid) {
        return Err(unmapped("gid", who.gid));
    }
    Ok(())
}

/// Writes the spec's secrets into a tmpfs mounted on the run's secrets dir: only this mount
/// namespace sees it, and the content never touches a disk.
fn write_secrets<S: Sys>(sys: &mut S, req: &InitRequest) -> Result<(), SetupError> {
    let secrets = req.spec.extra_mounts.iter().filter_map(|m| match m {
        crate::spec::MountSpec::Secret {
            data,
            mode,
            uid,
            gid,
            ..
        } => Some((data, *mode, (*uid, *gid))),
        _ => None,
    });
    let mut secrets = secrets.peekable();
    if secrets.peek().is_none() {
        return Ok(());
    }
    let dir = &req.secrets_dir;
    let flags = plan::MS_NOSUID | plan::MS_NODEV | plan::MS_NOEXEC;
    sys.mount("tmpfs", dir, "tmpfs", flags, "mode=0700")
        .map_err(|e| SetupError::path("mount the secrets tmpfs on", dir, e))?;
    for (i, (data, mode, owner)) in secrets.enumerate() {
        let path = plan::secret_file(dir, i);
        sys.write_file(&path, &data.0, mode, owner)
            .map_err(|e| SetupError::path("write a secret to", &path, e))?;
    }
    Ok(())
}

/// Enters the working directory inside the new root and proves it is there: a directory
/// reached through an inherited descriptor would be outside it (CVE-2024-21626).
fn enter_cwd<S: ProcSys>(sys: &mut S, cwd: &str) -> Result<(), SetupError> {
    let cwd_err = |source: std::io::Error| {
        let cwd = cwd.to_string();
        if source.raw_os_error() == Some(libc::ELOOP) {
            SetupError::CwdLoop { cwd, source }
        } else {
            SetupError::Cwd { cwd, source }
        }
    };
    sys.enter_cwd(cwd).map_err(cwd_err)?;
    let raw = sys.current_dir().map_err(cwd_err)?;
    crate::sys::cwd::check_inside_root(&raw, cwd)
}
