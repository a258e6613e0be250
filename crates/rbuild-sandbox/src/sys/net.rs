//! Starting the network helper on the init's new network namespace, before the other
//! namespaces exist: the helper must be forked in the host's PID and mount namespaces, and run
//! its sockets in the host's network namespace.

use crate::net::{helper_args, log_tail, Helper, NetError};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn step(step: &'static str) -> impl FnOnce(std::io::Error) -> NetError {
    move |source| NetError::Start { step, source }
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array of two ints.
    super::check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new descriptors that only we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The descriptors the helper's child needs.
struct ChildFds {
    host_ns: OwnedFd,
    log: OwnedFd,
    null: OwnedFd,
    ready: RawFd,
    exit: RawFd,
}

/// Moves this process into a new network namespace and starts the helper on it; returns once
/// the helper has configured it. The returned descriptor is the helper's lifeline: it leaves
/// when every copy is closed, i.e. when the init and its pid 1 are gone.
pub fn start(helper: &Helper) -> Result<OwnedFd, NetError> {
    let host_ns = std::fs::File::open("/proc/self/ns/net")
        .map_err(step("open the host network namespace"))?;
    super::proc_calls::unshare(libc::CLONE_NEWNET)
        .map_err(step("unshare the network namespace"))?;
    let (ready_r, ready_w) = pipe().map_err(step("create the ready pipe"))?;
    let (exit_r, exit_w) = pipe().map_err(step("create the exit pipe"))?;
    let log = std::fs::File::create(&helper.log).map_err(step("create its log"))?;
    let null = std::fs::File::open("/dev/null").map_err(step("open /dev/null"))?;
    let args = helper_args(std::process::id(), ready_w.as_raw_fd(), exit_r.as_raw_fd());
    let exe = CString::new(helper.exe.as_os_str().as_encoded_bytes())
        .map_err(|_| step("name the helper")(std::io::ErrorKind::InvalidInput.into()))?;
    let argv: Vec<CString> = args
        .iter()
        .filter_map(|a| CString::new(a.as_str()).ok())
        .collect();
    let fds = ChildFds {
        host_ns: host_ns.into(),
        log: log.into(),
        null: null.into(),
        ready: ready_w.as_raw_fd(),
        exit: exit_r.as_raw_fd(),
    };
    let pid = match super::proc_calls::fork().map_err(step("fork"))? {
        super::proc_calls::Forked::Child => exec_helper(&exe, &argv, &fds),
        super::proc_calls::Forked::Parent(pid) => pid,
    };
    // Only the helper may hold these ends: EOF on ready then means it is gone.
    drop((ready_w, exit_r, fds));
    wait_ready(ready_r, pid, helper)?;
    Ok(exit_w)
}

/// In the forked child: back to the host's network namespace, output to the log, the two
/// descriptors the helper is told about kept across exec, then exec.
fn exec_helper(exe: &CString, argv: &[CString], fds: &ChildFds) -> ! {
    // SAFETY: plain system calls on descriptors this process owns; the init is single-threaded,
    // so the forked child is in a consistent state.
    unsafe {
        if libc::setns(fds.host_ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            libc::_exit(126);
        }
        libc::dup2(fds.null.as_raw_fd(), 0);
        libc::dup2(fds.log.as_raw_fd(), 1);
        libc::dup2(fds.log.as_raw_fd(), 2);
        libc::fcntl(fds.ready, libc::F_SETFD, 0);
        libc::fcntl(fds.exit, libc::F_SETFD, 0);
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let env = [std::ptr::null()];
    let _ = super::proc_calls::execve(exe, &ptrs, &env);
    super::proc_calls::exit_now(127)
}

/// Reads the helper's one-byte "ready"; EOF means it ended, and its log says why.
fn wait_ready(ready: OwnedFd, pid: libc::pid_t, helper: &Helper) -> Result<(), NetError> {
    let mut byte = [0u8; 1];
    let mut f = std::fs::File::from(ready);
    let n = loop {
        match f.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.map_err(step("wait until it is ready"))?,
        }
    };
    if n == 1 {
        return Ok(());
    }
    let mut status = 0;
    // SAFETY: status is a valid out pointer; pid is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Err(NetError::NotReady {
        status: describe(status),
        log: log_tail(&helper.log),
    })
}

fn describe(status: libc::c_int) -> String {
    match super::proc_calls::exit_reason(status) {
        crate::spec::ExitReason::Exited(126) => "it could not return to the host's network".into(),
        crate::spec::ExitReason::Exited(127) => "it could not be executed".into(),
        crate::spec::ExitReason::Exited(c) => format!("exit status {c}"),
        crate::spec::ExitReason::Signaled(s) => format!("signal {s}"),
        crate::spec::ExitReason::OomKilled => "killed".into(),
    }
}
