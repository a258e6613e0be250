//! Starting the network helper on the init's new network namespace, before the other
//! namespaces exist: the helper must be forked in the host's PID and mount namespaces, and run
//! its sockets in the host's network namespace. It is forked before the init leaves that
//! namespace, never sent back into it: a rootless init may not enter the host's namespace.

use super::proc_calls::pipe;
use crate::net::{helper_args, log_tail, Helper, NetError};
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

fn step(step: &'static str) -> impl FnOnce(std::io::Error) -> NetError {
    move |source| NetError::Start { step, source }
}

/// The descriptors the helper's child needs.
struct ChildFds {
    /// One byte (1) once the init has its new network namespace; EOF or 0: give up.
    go: OwnedFd,
    log: OwnedFd,
    null: OwnedFd,
    ready: RawFd,
    exit: RawFd,
}

/// Moves this process into a new network namespace and starts the helper on it; returns once
/// the helper has configured it. The returned descriptor is the helper's lifeline: it leaves
/// when every copy is closed, i.e. when the init and its pid 1 are gone.
pub fn start(helper: &Helper) -> Result<OwnedFd, NetError> {
    let (go_r, go_w) = pipe().map_err(step("create the go pipe"))?;
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
        go: go_r,
        log: log.into(),
        null: null.into(),
        ready: ready_w.as_raw_fd(),
        exit: exit_r.as_raw_fd(),
    };
    let pid = match super::proc_calls::fork().map_err(step("fork"))? {
        super::proc_calls::Forked::Child => {
            drop(go_w);
            exec_helper(&exe, &argv, &fds)
        }
        super::proc_calls::Forked::Parent(pid) => pid,
    };
    // Only the helper may hold these ends: EOF on ready then means it is gone.
    drop((ready_w, exit_r, fds));
    let unshared = super::proc_calls::unshare(libc::CLONE_NEWNET);
    let mut go = std::fs::File::from(go_w);
    std::io::Write::write_all(&mut go, &[u8::from(unshared.is_ok())]).map_err(step("start it"))?;
    drop(go);
    unshared.map_err(step("unshare the network namespace"))?;
    wait_ready(ready_r, pid, helper)?;
    Ok(exit_w)
}

/// In the forked child, still in the host's network namespace: waits until the init has left
/// it, sends output to the log, keeps the two descriptors the helper is told about across
/// exec, then execs.
fn exec_helper(exe: &CString, argv: &[CString], fds: &ChildFds) -> ! {
    let mut go = [0u8; 1];
    // SAFETY: reads into a valid one-byte buffer from a descriptor this process owns.
    let n = unsafe { libc::read(fds.go.as_raw_fd(), go.as_mut_ptr().cast(), 1) };
    if n != 1 || go[0] != 1 {
        super::proc_calls::exit_now(126)
    }
    // SAFETY: plain system calls on descriptors this process owns; the init is single-threaded,
    // so the forked child is in a consistent state.
    unsafe {
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
        crate::spec::ExitReason::Exited(126) => "the init never got its network namespace".into(),
        crate::spec::ExitReason::Exited(127) => "it could not be executed".into(),
        crate::spec::ExitReason::Exited(c) => format!("exit status {c}"),
        crate::spec::ExitReason::Signaled(s) => format!("signal {s}"),
        crate::spec::ExitReason::OomKilled => "killed".into(),
    }
}
