//! Entering the working directory without leaving the root: every lookup goes through
//! openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so `..` and absolute symlinks stay inside
//! the root and /proc magic links (`/proc/self/fd/N`, `/proc/1/root`, CVE-2024-21626) are refused.

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::io;
use std::os::fd::OwnedFd;

/// The components of `cwd` after lexical cleaning, as Go's path.Clean: `.` dropped, `..` pops
/// (never above the root).
pub fn clean(cwd: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in cwd.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Changes into `cwd` resolved inside the current root, creating missing directories (0755,
/// less the umask) one level at a time beneath directories that resolved inside it.
pub fn enter(cwd: &str) -> io::Result<()> {
    let root = rustix::fs::open("/", dir_flags(), Mode::empty())?;
    let comps = clean(cwd);
    let dir = match resolve(&root, &comps) {
        Ok(d) => d,
        Err(Errno::NOENT) => create(&root, &comps)?,
        // Before Linux 5.6 there is no openat2; the caller still checks where the cwd ended up.
        Err(Errno::NOSYS) => return enter_legacy(cwd),
        Err(e) => return Err(e.into()),
    };
    rustix::process::fchdir(&dir)?;
    Ok(())
}

pub(crate) fn dir_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn resolve(root: &OwnedFd, comps: &[&str]) -> Result<OwnedFd, Errno> {
    let rel = if comps.is_empty() {
        ".".to_string()
    } else {
        comps.join("/")
    };
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    loop {
        // EAGAIN: a concurrent rename or mount raced the lookup; it is safe to retry.
        match rustix::fs::openat2(root, rel.as_str(), dir_flags(), Mode::empty(), how) {
            Err(Errno::AGAIN) => continue,
            r => return r,
        }
    }
}

fn create(root: &OwnedFd, comps: &[&str]) -> io::Result<OwnedFd> {
    let mut parent = resolve(root, &[])?;
    for i in 0..comps.len() {
        parent = match resolve(root, &comps[..=i]) {
            Ok(d) => d,
            Err(Errno::NOENT) => {
                // One name beneath a directory that resolved inside the root cannot leave it.
                match rustix::fs::mkdirat(&parent, comps[i], Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                resolve(root, &comps[..=i])?
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(parent)
}

fn enter_legacy(cwd: &str) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !std::path::Path::new(cwd).is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cwd)?;
    }
    std::env::set_current_dir(cwd)
}

/// The kernel's name for the current directory. Unlike glibc's getcwd, the raw syscall returns
/// "(unreachable)/..." for a directory outside the root instead of failing.
pub fn current_raw() -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the pointer/length pair describes `buf`.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    super::check(n)?;
    buf.truncate((n as usize).saturating_sub(1));
    Ok(buf)
}

/// Err naming `cwd` unless `raw` (from [`current_raw`]) is a path inside the root.
pub fn check_inside_root(raw: &[u8], cwd: &str) -> Result<(), crate::error::SetupError> {
    if raw.first() == Some(&b'/') {
        return Ok(());
    }
    Err(crate::error::SetupError::CwdOutside {
        cwd: cwd.to_string(),
        name: String::from_utf8_lossy(raw).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_is_lexical_and_stays_at_the_root() {
        assert_eq!(clean("/"), Vec::<&str>::new());
        assert_eq!(clean("/a/./b//c/"), vec!["a", "b", "c"]);
        assert_eq!(clean("/a/../../../b"), vec!["b"]);
        assert_eq!(clean("/proc/self/fd/7/../../.."), vec!["proc"]);
    }

    #[test]
    fn f1_cwd_outside_the_root_is_refused() {
        assert!(check_inside_root(b"/app", "/app").is_ok());
        let e = check_inside_root(b"(unreachable)/tmp/rt", "/proc/self/fd/7")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/proc/self/fd/7") && e.contains("outside"),
            "{e}"
        );
        assert!(check_inside_root(b"", "/x").is_err());
    }
}
