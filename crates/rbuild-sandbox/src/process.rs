//! The command process: everything prepared before fork, then credentials, limits and exec.

use crate::error::SetupError;
use crate::spec::Ulimit;
use crate::sys::{proc_calls, ProcSys, RealSys};
use std::ffi::CString;

/// The first file named `name` in the directories of $PATH (DEFAULT_PATH without one).
pub fn in_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.into());
    path.split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Docker's default PATH, used for the search when the env has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The paths to try for argv[0]: as given if it has a slash, else each PATH entry in order.
pub fn exec_candidates(argv0: &str, env: &[String]) -> Vec<String> {
    if argv0.contains('/') {
        return vec![argv0.to_string()];
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .map(|d| if d.is_empty() { "." } else { d })
        .map(|d| format!("{}/{argv0}", d.trim_end_matches('/')))
        .collect()
}

/// Maps a Docker ulimit name to the rlimit resource.
pub fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        "as" => libc::RLIMIT_AS,
        _ => return None,
    })
}

fn rlim(v: i64) -> u64 {
    if v < 0 {
        libc::RLIM_INFINITY
    } else {
        v as u64
    }
}

/// What the command keeps of the init's privileges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The capabilities root keeps (bounding set and, for uid 0, the other sets).
    pub caps: u64,
    /// The seccomp filter, installed last (None: none).
    pub seccomp: Option<Vec<crate::seccomp::Insn>>,
    /// The kernel's last capability number, read before the rootfs existed (every capability
    /// up to it that `caps` lacks leaves the bounding set).
    pub last_cap: u32,
}

impl Security {
    /// Docker's default capabilities and the given filter, or for an insecure run every
    /// capability the init holds (`held`, its permitted set) and no filter.
    pub fn new(
        insecure: bool,
        seccomp: Option<Vec<crate::seccomp::Insn>>,
        held: u64,
        last_cap: u32,
    ) -> Security {
        if insecure {
            Security {
                caps: held,
                seccomp: None,
                last_cap,
            }
        } else {
            Security {
                caps: crate::caps::default_mask(),
                seccomp,
                last_cap,
            }
        }
    }
}

/// The command, fully prepared so the forked child only makes system calls.
pub struct Prepared {
    candidates: Vec<CString>,
    argv: Vec<CString>,
    env: Vec<CString>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    security: Security,
    argv0: String,
}

fn cstrings(v: &[String], what: &'static str) -> Result<Vec<CString>, SetupError> {
    v.iter()
        .map(|s| {
            CString::new(s.as_str()).map_err(|_| SetupError::Nul {
                what,
                value: s.clone(),
            })
        })
        .collect()
}

/// Why the command did not start; the exit code tells the caller which (127 not found).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A step between fork and exec failed.
    #[error("setting up process: {step}")]
    Setup {
        /// The step.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bare command name found in no PATH entry.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    /// A path that does not exist.
    #[error("exec: {0:?}: no such file or directory")]
    NoSuchFile(String),
    /// exec failed otherwise (permissions, format...).
    #[error("exec: {name:?}")]
    Exec {
        /// argv[0].
        name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    /// The exit status a shell would give: 127 for a missing command, else 126.
    pub fn code(&self) -> i32 {
        match self {
            ExecError::NotInPath(_) | ExecError::NoSuchFile(_) => 127,
            _ => 126,
        }
    }
}

/// Names the failing step of the privilege drop.
fn step(step: &'static str) -> impl FnOnce(std::io::Error) -> ExecError {
    move |source| ExecError::Setup { step, source }
}

impl Prepared {
    /// Prepares argv, env, limits and ids.
    pub fn new(
        argv: &[String],
        env: &[String],
        ulimits: &[Ulimit],
        user: &crate::user::ResolvedUser,
        security: Security,
    ) -> Result<Self, SetupError> {
        let argv0 = argv.first().ok_or(SetupError::EmptyArgv)?.clone();
        let mut rlimits = Vec::new();
        for u in ulimits {
            let r = rlimit_resource(&u.name)
                .ok_or_else(|| SetupError::UnknownUlimit(u.name.clone()))?;
            rlimits.push((r, rlim(u.soft), rlim(u.hard)));
        }
        Ok(Prepared {
            candidates: cstrings(&exec_candidates(&argv0, env), "path")?,
            argv: cstrings(argv, "argv")?,
            env: cstrings(env, "env")?,
            rlimits,
            uid: user.uid,
            gid: user.gid,
            groups: user.groups.clone(),
            security,
            argv0,
        })
    }

    /// In the forked child: drops privileges and execs; on failure writes the reason to
    /// stderr and to `err_fd`, and exits 127 (not found) or 126.
    pub fn exec(&self, err_fd: libc::c_int) -> ! {
        let e = self.start(&mut RealSys::default());
        let msg = crate::error::chain(&e);
        proc_calls::write_fd(2, format!("rbuild-sandbox: {msg}\n").as_bytes());
        proc_calls::write_fd(err_fd, msg.as_bytes());
        proc_calls::exit_now(e.code())
    }

    /// Drops privileges and execs through `sys`; returns only on failure.
    pub fn start<P: ProcSys>(&self, sys: &mut P) -> ExecError {
        if let Err(e) = self.setup(sys) {
            return e;
        }
        let argv = ptrs(&self.argv);
        let env = ptrs(&self.env);
        let mut best: Option<std::io::Error> = None;
        for c in &self.candidates {
            let e = sys.execve(c, &argv, &env);
            // EACCES from one PATH entry wins over ENOENT from the others, like execvp.
            if best
                .as_ref()
                .is_none_or(|b| b.kind() == std::io::ErrorKind::NotFound)
            {
                best = Some(e);
            }
        }
        let e = best.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound));
        let name = self.argv0.clone();
        match (e.kind() == std::io::ErrorKind::NotFound, name.contains('/')) {
            (true, false) => ExecError::NotInPath(name),
            (true, true) => ExecError::NoSuchFile(name),
            _ => ExecError::Exec { name, source: e },
        }
    }

    /// Session, signals, limits, then credentials: the bounding set shrinks while CAP_SETPCAP
    /// is still held, the ids change, the final sets follow, then no_new_privs and, last of
    /// all, the seccomp filter (which need not allow any of the calls before it).
    fn setup<P: ProcSys>(&self, sys: &mut P) -> Result<(), ExecError> {
        sys.setsid();
        sys.reset_signals();
        for (r, soft, hard) in &self.rlimits {
            sys.setrlimit(*r, *soft, *hard).map_err(step("setrlimit"))?;
        }
        let keep = self.security.caps;
        crate::caps::limit_bounding(sys, self.security.last_cap, keep)
            .map_err(step("limit the bounding set"))?;
        sys.set_ids(self.uid, self.gid, &self.groups)
            .map_err(step("set user and group ids"))?;
        crate::caps::apply_sets(sys, self.uid, keep).map_err(step("set capabilities"))?;
        sys.set_no_new_privs().map_err(step("set no_new_privs"))?;
        match &self.security.seccomp {
            Some(program) => sys
                .install_seccomp(program)
                .map_err(step("install the seccomp filter")),
            None => Ok(()),
        }
    }
}

fn ptrs(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_path_of_given_env() {
        let env = vec!["PATH=/a:/b/".to_string()];
        assert_eq!(exec_candidates("sh", &env), vec!["/a/sh", "/b/sh"]);
        assert_eq!(exec_candidates("./x", &env), vec!["./x"]);
        assert_eq!(exec_candidates("sh", &[]).len(), 6);
        assert_eq!(
            exec_candidates("sh", &["PATH=:/c".to_string()]),
            vec!["./sh", "/c/sh"]
        );
    }

    #[test]
    fn ulimit_names() {
        assert_eq!(rlimit_resource("nofile"), Some(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("bogus"), None);
        assert_eq!(rlim(-1), libc::RLIM_INFINITY);
    }
}
