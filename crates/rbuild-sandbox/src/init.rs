//! The re-executed, single-threaded init: namespaces, then pid 1 builds the rootfs, starts the
//! command, reaps zombies, forwards signals and reports the exit status.

use crate::process::Prepared;
use crate::spec::{InitRequest, NetworkMode, Report};
use crate::sys::proc_calls::{self, Forked};
use crate::sys::RealSys;
use crate::{plan, rootfs, user};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// Entry point of the init; returns the exit code of the init process.
pub fn main() -> i32 {
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
    let e = |what: &'static str| move |err: std::io::Error| format!("{what}: {err}");
    proc_calls::stdin_from_dev_null().map_err(e("open /dev/null"))?;
    proc_calls::set_parent_death_signal().map_err(e("prctl(PR_SET_PDEATHSIG)"))?;
    proc_calls::umask(0o022);
    for procs in &req.cgroup_procs {
        std::fs::write(procs, std::process::id().to_string())
            .map_err(|err| format!("join cgroup {}: {err}", procs.display()))?;
    }
    let mut flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP;
    if req.spec.network == NetworkMode::None {
        flags |= libc::CLONE_NEWNET;
    }
    proc_calls::unshare(flags).map_err(e("unshare namespaces"))?;
    match proc_calls::fork().map_err(e("fork pid 1"))? {
        Forked::Child => proc_calls::exit_now(pid1(req, sock)),
        Forked::Parent(pid) => {
            proc_calls::forward_signals_to(pid);
            loop {
                let (p, _) = proc_calls::wait_any().map_err(e("wait for pid 1"))?;
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
    let prepared = setup(req, &mut stubs);
    send(sock, &Report::Stubs(stubs));
    match prepared {
        Ok(p) => supervise(&p, sock),
        Err(msg) => {
            send(sock, &Report::Error(msg));
            1
        }
    }
}

fn setup(req: &InitRequest, stubs: &mut Vec<plan::Stub>) -> Result<Prepared, String> {
    let spec = &req.spec;
    proc_calls::set_parent_death_signal().map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))?;
    if !spec.hostname.is_empty() {
        proc_calls::sethostname(&spec.hostname)
            .map_err(|e| format!("sethostname {:?}: {e}", spec.hostname))?;
    }
    if spec.network == NetworkMode::None {
        proc_calls::loopback_up().map_err(|e| format!("bring lo up: {e}"))?;
    }
    let steps = plan::build(spec, &req.etc_dir);
    let mut sys = RealSys::default();
    sys.legacy_overlay = req.legacy_overlay;
    let opened = rootfs::enter(&mut sys, req, &plan::bind_sources(&steps))?;
    rootfs::apply(&mut sys, &steps, &opened, stubs)?;
    make_cwd(&spec.cwd)?;
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let who = user::resolve_user(&spec.user, &read("/etc/passwd"), &read("/etc/group"))
        .map_err(|e| e.to_string())?;
    let env = user::env_with_home(&spec.env, &who.home);
    Prepared::new(&spec.argv, &env, &spec.limits.ulimits, &who)
}

fn make_cwd(cwd: &str) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |e: std::io::Error| format!("working directory {cwd}: {e}");
    if !std::path::Path::new(cwd).is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cwd)
            .map_err(err)?;
    }
    std::env::set_current_dir(cwd).map_err(err)
}

fn supervise(prepared: &Prepared, sock: &mut UnixStream) -> i32 {
    let (mut r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => (std::fs::File::from(r), w),
        Err(e) => {
            send(sock, &Report::Error(format!("pipe: {e}")));
            return 1;
        }
    };
    let child = match proc_calls::fork() {
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
