//! The process seam: every process-level call of the init and of the command before exec
//! (namespaces, fork, keyring, descriptors, hostname, working directory, credentials, capabilities, exec) goes through
//! [`ProcSys`], so the order of the setup can be checked against a recording fake without root.

use super::proc_calls::{self, Forked};
use super::RealSys;
use std::ffi::CString;
use std::io;
use std::path::Path;

/// The process-level calls of the sandbox init and of the command before exec.
pub trait ProcSys {
    /// Replaces fd 0 with /dev/null.
    fn null_stdin(&mut self) -> io::Result<()>;
    /// Kills this process with SIGKILL when its parent dies.
    fn set_parent_death_signal(&mut self) -> io::Result<()>;
    /// Sets the file mode creation mask.
    fn umask(&mut self, mask: u32);
    /// Moves this process into a cgroup by writing its pid to `procs`.
    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()>;
    /// unshare(2).
    fn unshare(&mut self, flags: libc::c_int) -> io::Result<()>;
    /// fork(2); only the single-threaded init calls it.
    fn fork(&mut self) -> io::Result<Forked>;
    /// Joins a new anonymous session keyring.
    fn join_session_keyring(&mut self) -> io::Result<()>;
    /// Marks every descriptor from `first` on close-on-exec.
    fn cloexec_fds_from(&mut self, first: u32) -> io::Result<()>;
    /// sethostname(2).
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    /// Brings `lo` up in the current network namespace.
    fn loopback_up(&mut self) -> io::Result<()>;
    /// Moves into a new network namespace and starts the network helper on it, returning when
    /// the helper is ready; the helper lives as long as this process (and its children).
    fn private_network(&mut self, helper: &crate::net::Helper) -> Result<(), crate::net::NetError>;
    /// Changes into `cwd` inside the current root, creating missing directories (0755).
    fn enter_cwd(&mut self, cwd: &str) -> io::Result<()>;
    /// The kernel's name of the current directory ("(unreachable)/..." outside the root).
    fn current_dir(&mut self) -> io::Result<Vec<u8>>;
    /// Reads a text file; empty when it is missing or unreadable.
    fn read_text(&mut self, path: &Path) -> String;
    /// Starts a new session.
    fn setsid(&mut self);
    /// Restores default signal dispositions and an empty mask.
    fn reset_signals(&mut self);
    /// setrlimit(2).
    fn setrlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()>;
    /// Removes one capability from the bounding set.
    fn drop_bounding(&mut self, cap: u32) -> io::Result<()>;
    /// Clears the ambient capability set.
    fn clear_ambient(&mut self) -> io::Result<()>;
    /// setgroups, setresgid, setresuid.
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()>;
    /// capset(2) with 64-bit masks.
    fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()>;
    /// Sets no_new_privs.
    fn set_no_new_privs(&mut self) -> io::Result<()>;
    /// Installs a seccomp filter on this thread.
    fn install_seccomp(&mut self, program: &[crate::seccomp::Insn]) -> io::Result<()>;
    /// execve(2); returns only on failure.
    fn execve(
        &mut self,
        path: &CString,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> io::Error;
}

impl ProcSys for RealSys {
    fn null_stdin(&mut self) -> io::Result<()> {
        proc_calls::stdin_from_dev_null()
    }
    fn set_parent_death_signal(&mut self) -> io::Result<()> {
        proc_calls::set_parent_death_signal()
    }
    fn umask(&mut self, mask: u32) {
        proc_calls::umask(mask)
    }
    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()> {
        std::fs::write(procs, std::process::id().to_string())
    }
    fn unshare(&mut self, flags: libc::c_int) -> io::Result<()> {
        proc_calls::unshare(flags)
    }
    fn fork(&mut self) -> io::Result<Forked> {
        proc_calls::fork()
    }
    fn join_session_keyring(&mut self) -> io::Result<()> {
        super::keyring::join_new_session()
    }
    fn cloexec_fds_from(&mut self, first: u32) -> io::Result<()> {
        super::fds::cloexec_from(first)
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        proc_calls::sethostname(name)
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        proc_calls::loopback_up()
    }
    fn private_network(&mut self, helper: &crate::net::Helper) -> Result<(), crate::net::NetError> {
        self.net_exit = Some(super::net::start(helper)?);
        Ok(())
    }
    fn enter_cwd(&mut self, cwd: &str) -> io::Result<()> {
        super::cwd::enter(cwd)
    }
    fn current_dir(&mut self) -> io::Result<Vec<u8>> {
        super::cwd::current_raw()
    }
    fn read_text(&mut self, path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }
    fn setsid(&mut self) {
        proc_calls::setsid()
    }
    fn reset_signals(&mut self) {
        proc_calls::reset_signals()
    }
    fn setrlimit(
        &mut self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> io::Result<()> {
        proc_calls::setrlimit(resource, soft, hard)
    }
    fn drop_bounding(&mut self, cap: u32) -> io::Result<()> {
        proc_calls::drop_bounding(cap)
    }
    fn clear_ambient(&mut self) -> io::Result<()> {
        proc_calls::clear_ambient()
    }
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        proc_calls::set_ids(uid, gid, groups)
    }
    fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
        proc_calls::capset(effective, permitted, inheritable)
    }
    fn set_no_new_privs(&mut self) -> io::Result<()> {
        proc_calls::set_no_new_privs()
    }
    fn install_seccomp(&mut self, program: &[crate::seccomp::Insn]) -> io::Result<()> {
        super::seccomp::install(program)
    }
    fn execve(
        &mut self,
        path: &CString,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> io::Error {
        proc_calls::execve(path, argv, envp)
    }
}
