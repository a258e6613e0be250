//! Descriptor hygiene (runc CVE-2024-21626, "Leaky Vessels"): a descriptor inherited from
//! whoever started us must never reach a RUN, directly or through `/proc/self/fd/N`.

use std::io;

/// close_range(2) flag: mark close-on-exec instead of closing (Linux 5.11).
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Closes every descriptor from `first` on. Only for a process that owns none of them yet
/// (the init, before it opens anything).
pub fn close_from(first: u32) {
    if sweep(first, 0).is_err() {
        for fd in open_fds(first) {
            // SAFETY: the caller owns no descriptor in this range, so nothing refers to it.
            unsafe { libc::close(fd) };
        }
    }
}

/// Marks every descriptor from `first` on close-on-exec; safe for descriptors others own.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    if sweep(first, CLOSE_RANGE_CLOEXEC).is_ok() {
        return Ok(());
    }
    for fd in open_fds(first) {
        // SAFETY: F_SETFD only changes a flag; a number that is not open gives EBADF.
        let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        let e = io::Error::last_os_error();
        if rc < 0 && e.raw_os_error() != Some(libc::EBADF) {
            return Err(e);
        }
    }
    Ok(())
}

fn sweep(first: u32, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: close_range takes integers only; with flags 0 the caller guarantees ownership.
    super::check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) })
}

/// The open descriptors from `first` on: from /proc/self/fd, else every number below the limit
/// (kernels without close_range, or CLOSE_RANGE_CLOEXEC, before 5.9 and 5.11).
fn open_fds(first: u32) -> Vec<i32> {
    let listed = std::fs::read_dir("/proc/self/fd").map(|rd| {
        let names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        numbers_from(names.iter().map(String::as_str), first)
    });
    listed.unwrap_or_else(|_| {
        // SAFETY: lim is a valid out pointer.
        let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        let top = lim.rlim_cur.clamp(1024, 1 << 20) as i32;
        (first as i32..top).collect()
    })
}

/// The descriptor numbers at or above `first` among /proc/self/fd entry names.
pub fn numbers_from<'a>(names: impl Iterator<Item = &'a str>, first: u32) -> Vec<i32> {
    let mut fds: Vec<i32> = names
        .filter_map(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= first && *n <= i32::MAX as u32)
        .map(|n| n as i32)
        .collect();
    fds.sort_unstable();
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f1_listing_keeps_numbers_from_the_first() {
        let names = ["0", "1", "2", "3", "17", "x", "4294967295", "9"];
        assert_eq!(numbers_from(names.into_iter(), 3), vec![3, 9, 17]);
        assert!(numbers_from(["0", "2"].into_iter(), 3).is_empty());
    }

    /// Raw calls that create a descriptor.
    const CREATORS: &[&str] = &[
        "libc::open(",
        "libc::openat(",
        "libc::dup(",
        "libc::dup3(",
        "libc::pipe(",
        "pipe2(",
        "libc::socket(",
        "libc::socketpair(",
        "libc::accept",
        "memfd_create(",
        "fsopen(",
        "fsmount(",
        "open_tree(",
        "openat2(",
        "fs::open(",
        "F_DUPFD",
        "epoll_create",
        "eventfd(",
        "signalfd(",
        "inotify_init",
    ];

    /// Checks every creating call of one source names a close-on-exec flag within four lines;
    /// returns how many it checked.
    fn scan(name: &str, text: &str) -> usize {
        let lines: Vec<&str> = text.lines().collect();
        let mut checked = 0;
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !CREATORS.iter().any(|c| code.contains(c)) || code.contains("fn ") {
                continue;
            }
            let stmt = lines[i.saturating_sub(4)..(i + 5).min(lines.len())].join(" ");
            assert!(
                stmt.contains("CLOEXEC") || stmt.contains("dir_flags()"),
                "{name}:{}: a descriptor without close-on-exec: {line}",
                i + 1
            );
            checked += 1;
        }
        checked
    }

    /// std's own opens (File, UnixStream, Command pipes) always set close-on-exec; the raw calls
    /// of the crate must too.
    #[test]
    fn f1_every_descriptor_the_crate_opens_is_cloexec() {
        let sources = [
            ("sys.rs", include_str!("../sys.rs")),
            ("sys/proc_calls.rs", include_str!("proc_calls.rs")),
            ("sys/cwd.rs", include_str!("cwd.rs")),
            ("sys/process.rs", include_str!("process.rs")),
            ("sys/bpf.rs", include_str!("bpf.rs")),
            ("sys/keyring.rs", include_str!("keyring.rs")),
            ("sys/seccomp.rs", include_str!("seccomp.rs")),
            ("sys/net.rs", include_str!("net.rs")),
            ("sys/overlay.rs", include_str!("overlay.rs")),
            ("init.rs", include_str!("../init.rs")),
            ("init/setup.rs", include_str!("../init/setup.rs")),
            ("run.rs", include_str!("../run.rs")),
            ("run/pump.rs", include_str!("../run/pump.rs")),
            ("run/dir.rs", include_str!("../run/dir.rs")),
            ("cgroup/mod.rs", include_str!("../cgroup/mod.rs")),
        ];
        let checked: usize = sources.iter().map(|(n, t)| scan(n, t)).sum();
        assert!(checked >= 6, "the scan found only {checked} calls");
        assert!(super::super::cwd::dir_flags().contains(rustix::fs::OFlags::CLOEXEC));
    }
}
