//! Process-level kernel calls: namespaces, fork, exec, credentials, capabilities, signals.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::check;

/// Repeats `call` while it fails with EINTR; returns its first non-negative result. For blocking
/// calls that a signal (forwarded ones included) may interrupt.
fn retry_eintr<T: Copy + Into<i64>>(mut call: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let rc = call();
        if rc.into() >= 0 {
            return Ok(rc);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid out array of two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new descriptors that only we own.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// unshare(2).
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare has no memory-safety preconditions.
    check(unsafe { libc::unshare(flags) })
}

/// Result of [`fork`].
pub enum Forked {
    /// In the parent, with the child's pid.
    Parent(libc::pid_t),
    /// In the child.
    Child,
}

/// fork(2). Only called from the single-threaded init, where fork is safe.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the init process is single-threaded (it never spawns threads), so the child
    // inherits a consistent address space and may allocate.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p)),
    }
}

/// clone3(2)'s argument block (linux/sched.h, up to `cgroup`: 88 bytes, CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Starts the child in the cgroup given by `clone_args.cgroup` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// fork(2) with the child started in the cgroup v2 directory `dir` (clone3 with
/// CLONE_INTO_CGROUP), so no task is moved between cgroups.
pub fn fork_into_cgroup(dir: &std::path::Path) -> io::Result<Forked> {
    let cgroup = std::fs::File::open(dir)?;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: as for `fork`, only the single-threaded init calls this, so the child may
    // allocate; `args` is a valid clone_args block of the size passed, alive for the call.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        p => Ok(Forked::Parent(p as libc::pid_t)),
    }
}

/// Whether `fork_into_cgroup` failed only because the kernel lacks clone3 or
/// CLONE_INTO_CGROUP (then moving the task is the way).
pub fn clone_into_cgroup_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG | libc::EOPNOTSUPP)
    )
}

/// Waits for any child; returns (pid, raw status); retries on EINTR.
pub fn wait_any() -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    // SAFETY: status is a valid out pointer.
    let pid = retry_eintr(|| unsafe { libc::waitpid(-1, &mut status, 0) })?;
    Ok((pid, status))
}

/// Decodes a wait status into an exit reason.
pub fn exit_reason(status: libc::c_int) -> crate::spec::ExitReason {
    if libc::WIFSIGNALED(status) {
        crate::spec::ExitReason::Signaled(libc::WTERMSIG(status))
    } else {
        crate::spec::ExitReason::Exited(libc::WEXITSTATUS(status))
    }
}

/// _exit(2): leaves without running destructors or atexit handlers (safe after fork).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Kills this process with SIGKILL when its parent dies.
pub fn set_parent_death_signal() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    })
}

/// sethostname(2).
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer/length pair describes `name`.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

/// Brings the loopback interface up in the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: creating a datagram socket has no preconditions.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check(fd)?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: fd is a socket we own and req is a valid ifreq.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) };
    // SAFETY: closing the fd we created.
    unsafe { libc::close(fd) };
    check(rc)
}

/// setrlimit(2).
pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit.
    check(unsafe { libc::setrlimit(resource, &lim) })
}

/// setgroups, setresgid, setresuid, in that order (groups need CAP_SETGID before the uid changes).
pub fn set_ids(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer/length pair describes `groups`.
    match check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }) {
        // A user namespace whose map the process wrote itself (rootless without subordinate
        // ids) forbids setgroups for good; it has no supplementary group to keep anyway.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && setgroups_denied() => {}
        r => r?,
    }
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: integer arguments only.
    check(unsafe { libc::setresuid(uid, uid, uid) })
}

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// Removes capability `cap` from the bounding set.
pub fn drop_bounding(cap: u32) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) })
}

/// Clears the ambient capability set.
pub fn clear_ambient() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    check(rc)
}

/// capset(2) with 64-bit masks.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let split = |v: u64, i: usize| (v >> (32 * i)) as u32;
    let data: [Data; 2] = std::array::from_fn(|i| Data {
        effective: split(effective, i),
        permitted: split(permitted, i),
        inheritable: split(inheritable, i),
    });
    // SAFETY: header and data match the kernel's _LINUX_CAPABILITY_VERSION_3 layout.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) })
}

/// Sets no_new_privs.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

/// Starts a new session (the command does not share the builder's controlling terminal).
pub fn setsid() {
    // SAFETY: no preconditions; failure (already a leader) is harmless.
    unsafe { libc::setsid() };
}

/// Sets the file mode creation mask.
pub fn umask(mask: u32) {
    // SAFETY: no preconditions.
    unsafe { libc::umask(mask) };
}

/// Restores default dispositions and an empty mask, so the command starts like a fresh process
/// (Rust's runtime ignores SIGPIPE, which exec would otherwise keep).
pub fn reset_signals() {
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: SIG_DFL is always a valid disposition.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    // SAFETY: set is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The pid that forwarded signals go to (0 = none yet).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Forwards termination-like signals received by this process to `pid`.
pub fn forward_signals_to(pid: libc::pid_t) {
    FORWARD_TO.store(pid, Ordering::SeqCst);
    let handler = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: `forward` only calls async-signal-safe functions.
        unsafe { libc::signal(sig, handler) };
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: libc::pid_t) {
    // SAFETY: integer arguments only.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// execve(2); returns only on failure.
pub fn execve(
    path: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers into CStrings the caller keeps alive.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Writes all of `buf` to a raw fd, ignoring errors (used after fork, where nothing can be reported).
pub fn write_fd(fd: libc::c_int, buf: &[u8]) {
    // SAFETY: the pointer/length pair describes `buf`.
    unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
}

/// Replaces fd 0 with /dev/null.
pub fn stdin_from_dev_null() -> io::Result<()> {
    let f = std::fs::File::open("/dev/null")?;
    // SAFETY: both fds are valid; dup2 onto 0 replaces stdin.
    check(unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&f), 0) })
}

/// Duplicates `fd` to a new close-on-exec descriptor.
pub fn dup_cloexec(fd: libc::c_int) -> io::Result<std::os::fd::OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we were given; the result is owned by us alone.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    check(new)?;
    // SAFETY: `new` is a fresh fd nobody else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) })
}

/// poll(2) without timeout; retries on EINTR.
pub fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    // SAFETY: the pointer/length pair describes `fds`.
    retry_eintr(|| unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) })?;
    Ok(())
}
