//! The re-executed, single-threaded init: namespaces, then pid 1 builds the rootfs, starts the
//! command, reaps zombies, forwards signals and reports the exit status.

mod setup;
#[cfg(test)]
mod tests;

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
    let mut buf = Vec::new();
    let req = match sock
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())
        .and_then(|_| {
            serde_json::from_slice::<InitRequest>(&buf).map_err(|e| format!("bad request: {e}"))
        }) {
        Ok(r) => r,
        Err(e) => {
            send(&mut sock, &Report::Error(e));
            return 125;
        }
    };
    match outer(&req, &mut sock) {
        Ok(()) => 0,
        Err(msg) => {
            send(&mut sock, &Report::Error(msg));
            125
        }
    }
}

pub(crate) fn send(sock: &mut UnixStream, report: &Report) {
    if let Ok(mut line) = serde_json::to_vec(report) {
        line.push(b'\n');
        // The builder may be gone; nothing useful can be done about a failed report.
        let _ = sock.write_all(&line);
    }
}

fn outer(req: &InitRequest, sock: &mut UnixStream) -> Result<(), String> {
    let mut sys = RealSys::default();
    setup::enter_namespaces(&mut sys, req)?;
    match sys.fork().map_err(|e| format!("fork pid 1: {e}"))? {
        Forked::Child => proc_calls::exit_now(pid1(req, sock)),
        Forked::Parent(pid) => {
            proc_calls::forward_signals_to(pid);
            loop {
                let (p, _) = proc_calls::wait_any().map_err(|e| format!("wait for pid 1: {e}"))?;
                if p == pid {
                    return Ok(());
                }
            }
        }
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
        Err(msg) => {
            send(sock, &Report::Error(msg));
            1
        }
    }
}

fn supervise(prepared: &Prepared, sock: &mut UnixStream) -> i32 {
    let (mut r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => (std::fs::File::from(r), w),
        Err(e) => {
            send(sock, &Report::Error(format!("pipe: {e}")));
            return 1;
        }
    };
    let child = match RealSys::default().fork() {
        Ok(Forked::Child) => prepared.exec(w.as_raw_fd()),
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            send(sock, &Report::Error(format!("fork: {e}")));
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
                send(sock, &Report::Error(format!("wait: {e}")));
                return 1;
            }
        }
    }
}
