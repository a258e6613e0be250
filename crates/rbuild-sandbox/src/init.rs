//! The re-executed, single-threaded init: namespaces, then pid 1 builds the rootfs, starts the
//! command, reaps zombies, forwards signals and reports the exit status.

mod setup;
#[cfg(test)]
mod tests;

use crate::error::{chain, SetupError};
use crate::process::Prepared;
use crate::spec::{InitRequest, Report};
use crate::sys::proc_calls::{self, Forked};
use crate::sys::{ProcSys, RealSys};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// Entry point of the init; returns the exit code of the init process.
pub fn main() -> i32 {
    // Whatever the builder's caller left open must not live one step longer (CVE-2024-21626):
    // the init owns nothing above stderr yet, so everything there is inherited.
    crate::sys::fds::close_from(3);
    let Ok(fd) = proc_calls::dup_cloexec(0) else {
        return 125;
    };
    let mut sock = UnixStream::from(fd);
    match read_request(&mut sock).and_then(|req| outer(&req, &mut sock)) {
        Ok(()) => 0,
        Err(e) => {
            report_error(&mut sock, &e);
            125
        }
    }
}

fn read_request(sock: &mut UnixStream) -> Result<InitRequest, SetupError> {
    let mut buf = Vec::new();
    sock.read_to_end(&mut buf)
        .map_err(SetupError::ReadRequest)?;
    serde_json::from_slice(&buf).map_err(SetupError::BadRequest)
}

/// Sends the whole chain as text: the error does not survive the process boundary otherwise.
fn report_error(sock: &mut UnixStream, e: &SetupError) {
    send(sock, &Report::Error(chain(e)));
}

pub(crate) fn send(sock: &mut UnixStream, report: &Report) {
    if let Ok(mut line) = serde_json::to_vec(report) {
        line.push(b'\n');
        // The builder may be gone; nothing useful can be done about a failed report.
        let _ = sock.write_all(&line);
    }
}

fn outer(req: &InitRequest, sock: &mut UnixStream) -> Result<(), SetupError> {
    let mut sys = RealSys::default();
    setup::enter_namespaces(&mut sys, req)?;
    match fork_pid1(&mut sys, req)? {
        Forked::Child => proc_calls::exit_now(pid1(req, sock)),
        Forked::Parent(pid) => {
            proc_calls::forward_signals_to(pid);
            loop {
                let (p, _) =
                    proc_calls::wait_any().map_err(|e| SetupError::Call("wait for pid 1", e))?;
                if p == pid {
                    return Ok(());
                }
            }
        }
    }
}

/// Forks pid 1, straight into its cgroup when there is one; a kernel without
/// `CLONE_INTO_CGROUP` (before 5.7) gets the move instead.
fn fork_pid1(sys: &mut RealSys, req: &InitRequest) -> Result<Forked, SetupError> {
    let fork_err = |e| SetupError::Call("fork pid 1", e);
    let Some(dir) = &req.cgroup_dir else {
        return sys.fork().map_err(fork_err);
    };
    match proc_calls::fork_into_cgroup(dir) {
        Err(e) if proc_calls::clone_into_cgroup_unsupported(&e) => {
            let procs = dir.join("cgroup.procs");
            sys.join_cgroup(&procs)
                .map_err(|e| SetupError::path("join cgroup", &procs, e))?;
            sys.fork().map_err(fork_err)
        }
        Err(e) => Err(SetupError::path("clone pid 1 into cgroup", dir, e)),
        Ok(f) => Ok(f),
    }
}

/// Runs as pid 1 of the new PID namespace.
fn pid1(req: &InitRequest, sock: &mut UnixStream) -> i32 {
    let mut stubs = Vec::new();
    let mut sys = RealSys::default();
    sys.legacy_overlay = req.legacy_overlay;
    let prepared = setup::setup(&mut sys, req, &mut stubs);
    send(sock, &Report::Stubs(stubs));
    match prepared {
        Ok(p) => supervise(&p, sock),
        Err(e) => {
            report_error(sock, &e);
            1
        }
    }
}

fn supervise(prepared: &Prepared, sock: &mut UnixStream) -> i32 {
    let (mut r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => (std::fs::File::from(r), w),
        Err(e) => {
            report_error(sock, &SetupError::Call("pipe", e.into()));
            return 1;
        }
    };
    let child = match RealSys::default().fork() {
        Ok(Forked::Child) => prepared.exec(w.as_raw_fd()),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            report_error(sock, &SetupError::Call("fork", e));
            return 1;
        }
    };
    drop(w);
    proc_calls::forward_signals_to(child);
    let mut msg = String::new();
    // EOF without data means exec succeeded (the pipe is close-on-exec).
    if r.read_to_string(&mut msg).is_ok() && !msg.is_empty() {
        send(sock, &Report::ExecFailed(msg));
    }
    loop {
        match proc_calls::wait_any() {
            Ok((p, status)) if p == child => {
                send(sock, &Report::Exit(proc_calls::exit_reason(status)));
                return 0;
            }
            Ok(_) => {}
            Err(e) => {
                report_error(sock, &SetupError::Call("wait", e));
                return 1;
            }
        }
    }
}
