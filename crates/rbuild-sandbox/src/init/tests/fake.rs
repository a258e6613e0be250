//! A recording fake of both kernel seams.

use crate::sys::proc_calls::Forked;
use crate::sys::{FileType, OverlayDirs, ProcSys, Sys};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// Records every call as one line; `fail` makes the call whose line starts with it fail.
#[derive(Default)]
pub struct Recorder {
    pub calls: Vec<String>,
    pub fail: Option<&'static str>,
    pub cwd_name: Option<&'static [u8]>,
    pub single_map: bool,
}

impl Recorder {
    fn call(&mut self, line: String) -> io::Result<()> {
        let failing = self.fail.is_some_and(|f| line.starts_with(f));
        self.calls.push(line);
        if failing {
            Err(io::Error::from_raw_os_error(libc::EPERM))
        } else {
            Ok(())
        }
    }
    pub fn has(&self, prefix: &str) -> bool {
        self.calls.iter().any(|c| c.starts_with(prefix))
    }
    pub fn position(&self, prefix: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls))
    }
}

impl Sys for Recorder {
    fn mount(&mut self, _: &str, t: &Path, fstype: &str, _: u64, data: &str) -> io::Result<()> {
        self.call(format!("mount {fstype} {} {data}", t.display()))
    }
    fn mount_overlay(&mut self, t: &Path, _: &OverlayDirs) -> io::Result<()> {
        self.call(format!("overlay {}", t.display()))
    }
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        self.call(format!("pivot_root {}", new_root.display()))
    }
    fn clone_tree(&mut self, path: &Path) -> io::Result<usize> {
        self.call(format!("clone_tree {}", path.display()))?;
        Ok(0)
    }
    fn new_fs(&mut self, fstype: &str, _: u64) -> io::Result<usize> {
        self.call(format!("new_fs {fstype}"))?;
        Ok(0)
    }
    fn attach_tree(&mut self, _: usize, t: &Path) -> io::Result<()> {
        self.call(format!("bind {}", t.display()))
    }
    fn lstat(&mut self, _: &Path) -> io::Result<Option<FileType>> {
        Ok(Some(FileType::Dir))
    }
    fn stat(&mut self, _: &Path) -> io::Result<Option<FileType>> {
        Ok(Some(FileType::Dir))
    }
    fn canonicalize(&mut self, p: &Path) -> io::Result<PathBuf> {
        Ok(p.to_path_buf())
    }
    fn mkdir(&mut self, p: &Path) -> io::Result<()> {
        self.call(format!("mkdir {}", p.display()))
    }
    fn create_file(&mut self, p: &Path) -> io::Result<()> {
        self.call(format!("create {}", p.display()))
    }
    fn mknod_char(&mut self, p: &Path, major: u32, minor: u32) -> io::Result<()> {
        self.call(format!("mknod {} {major}:{minor}", p.display()))
    }
    fn symlink(&mut self, _: &str, link: &Path) -> io::Result<()> {
        self.call(format!("symlink {}", link.display()))
    }
    fn write_file(&mut self, p: &Path, data: &[u8], mode: u32, _: (u32, u32)) -> io::Result<()> {
        self.call(format!(
            "write {} ({} bytes, {mode:o})",
            p.display(),
            data.len()
        ))
    }
}

impl ProcSys for Recorder {
    fn null_stdin(&mut self) -> io::Result<()> {
        self.call("null_stdin".into())
    }
    fn set_parent_death_signal(&mut self) -> io::Result<()> {
        self.call("pdeathsig".into())
    }
    fn umask(&mut self, mask: u32) {
        let _ = self.call(format!("umask {mask:o}"));
    }
    fn join_cgroup(&mut self, procs: &Path) -> io::Result<()> {
        self.call(format!("join_cgroup {}", procs.display()))
    }
    fn unshare(&mut self, flags: libc::c_int) -> io::Result<()> {
        self.call(format!("unshare {flags:#x}"))
    }
    fn fork(&mut self) -> io::Result<Forked> {
        self.call("fork".into())?;
        Ok(Forked::Child)
    }
    fn join_session_keyring(&mut self) -> io::Result<()> {
        self.call("join_session_keyring".into())
    }
    fn cloexec_fds_from(&mut self, first: u32) -> io::Result<()> {
        self.call(format!("cloexec_fds_from {first}"))
    }
    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.call(format!("hostname {name}"))
    }
    fn loopback_up(&mut self) -> io::Result<()> {
        self.call("loopback_up".into())
    }
    fn private_network(&mut self, h: &crate::net::Helper) -> Result<(), crate::net::NetError> {
        self.call(format!("private_network {}", h.exe.display()))
            .map_err(|source| crate::net::NetError::Start {
                step: "fork",
                source,
            })
    }
    fn enter_cwd(&mut self, cwd: &str) -> io::Result<()> {
        self.call(format!("enter_cwd {cwd}"))
    }
    fn current_dir(&mut self) -> io::Result<Vec<u8>> {
        self.call("current_dir".into())?;
        Ok(self.cwd_name.unwrap_or(b"/app").to_vec())
    }
    fn read_text(&mut self, path: &Path) -> String {
        let _ = self.call(format!("read {}", path.display()));
        match path.to_str() {
            // The maps of a rootless namespace, or the caller alone when `single_map` is set.
            Some("/proc/self/uid_map" | "/proc/self/gid_map") if self.single_map => {
                "0 1000 1\n".into()
            }
            Some("/proc/self/uid_map" | "/proc/self/gid_map") => {
                "0 1000 1\n1 100000 65536\n".into()
            }
            Some("/etc/passwd") => {
                "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".into()
            }
            _ => String::new(),
        }
    }
    fn setsid(&mut self) {
        let _ = self.call("setsid".into());
    }
    fn reset_signals(&mut self) {
        let _ = self.call("reset_signals".into());
    }
    fn setrlimit(&mut self, r: libc::__rlimit_resource_t, s: u64, h: u64) -> io::Result<()> {
        self.call(format!("setrlimit {r} {s} {h}"))
    }
    fn drop_bounding(&mut self, cap: u32) -> io::Result<()> {
        self.call(format!("drop_bounding {cap}"))
    }
    fn clear_ambient(&mut self) -> io::Result<()> {
        self.call("clear_ambient".into())
    }
    fn set_ids(&mut self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        self.call(format!("set_ids {uid} {gid} {groups:?}"))
    }
    fn capset(&mut self, e: u64, p: u64, i: u64) -> io::Result<()> {
        self.call(format!("capset {e:x} {p:x} {i:x}"))
    }
    fn set_no_new_privs(&mut self) -> io::Result<()> {
        self.call("no_new_privs".into())
    }
    fn install_seccomp(&mut self, program: &[crate::seccomp::Insn]) -> io::Result<()> {
        self.call(format!("seccomp {}", program.len()))
    }
    fn execve(
        &mut self,
        path: &CString,
        _: &[*const libc::c_char],
        _: &[*const libc::c_char],
    ) -> io::Error {
        let _ = self.call(format!("execve {}", path.to_string_lossy()));
        io::Error::from_raw_os_error(libc::ENOENT)
    }
}
