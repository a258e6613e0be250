//! The setup sequence against a recording fake of both kernel seams.

use super::setup::{enter_namespaces, setup};
use crate::error::chain;
use crate::spec::{InitRequest, NetworkMode, RunSpec};
use crate::sys::proc_calls::Forked;
use crate::sys::{FileType, OverlayDirs, ProcSys, Sys};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

/// Records every call as one line; `fail` makes the call whose line starts with it fail.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
    fail: Option<&'static str>,
    cwd_name: Option<&'static [u8]>,
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
    fn position(&self, prefix: &str) -> usize {
        self.calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls))
    }
}

impl Sys for Recorder {
    fn mount(&mut self, _: &str, t: &Path, fstype: &str, _: u64, _: &str) -> io::Result<()> {
        self.call(format!("mount {fstype} {}", t.display()))
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
    fn enter_cwd(&mut self, cwd: &str) -> io::Result<()> {
        self.call(format!("enter_cwd {cwd}"))
    }
    fn current_dir(&mut self) -> io::Result<Vec<u8>> {
        self.call("current_dir".into())?;
        Ok(self.cwd_name.unwrap_or(b"/app").to_vec())
    }
    fn read_text(&mut self, path: &Path) -> String {
        let _ = self.call(format!("read {}", path.display()));
        String::new()
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

fn request() -> InitRequest {
    InitRequest {
        spec: RunSpec {
            lowers: vec!["/layers/0".into()],
            upper: "/run/upper".into(),
            work: "/run/work".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/app".into(),
            hostname: "box".into(),
            network: NetworkMode::None,
            ..Default::default()
        },
        root_dir: "/run/root".into(),
        etc_dir: "/run/etc".into(),
        empty_lower: "/run/empty".into(),
        links_dir: "/run/l".into(),
        cgroup_procs: vec!["/cg/rbuild/x/cgroup.procs".into()],
        legacy_overlay: false,
    }
}

/// How a sequence against the fake ended: the setup failed, or the exec (the fake never execs).
enum Ended {
    Setup(String),
    Exec(String, i32),
}

/// Runs the whole sequence (pid 1's setup, then the command's) against `rec`.
fn run_sequence(rec: &mut Recorder) -> Ended {
    let req = request();
    match enter_namespaces(rec, &req).and_then(|()| setup(rec, &req, &mut Vec::new())) {
        Err(e) => Ended::Setup(chain(&e)),
        Ok(prepared) => {
            let e = prepared.start(rec);
            Ended::Exec(chain(&e), e.code())
        }
    }
}

#[test]
fn namespaces_come_after_the_cgroup_is_joined() {
    let mut rec = Recorder::default();
    enter_namespaces(&mut rec, &request()).unwrap();
    assert_eq!(rec.position("null_stdin"), 0);
    assert!(rec.position("join_cgroup /cg/rbuild/x") < rec.position("unshare"));
    let flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWNET;
    assert!(rec.calls.contains(&format!("unshare {flags:#x}")));
}

#[test]
fn setup_runs_in_order_up_to_exec() {
    let mut rec = Recorder::default();
    let Ended::Exec(msg, code) = run_sequence(&mut rec) else {
        panic!("setup failed: {:#?}", rec.calls)
    };
    assert_eq!(
        (msg.as_str(), code),
        ("exec: \"/bin/sh\": no such file or directory", 127)
    );
    let order = [
        "join_session_keyring",
        "cloexec_fds_from 3",
        "hostname box",
        "loopback_up",
        "overlay /run/root",
        "pivot_root /run/root",
        "mount proc /proc",
        "enter_cwd /app",
        "current_dir",
        "read /etc/passwd",
        "setsid",
        "drop_bounding",
        "clear_ambient",
        "set_ids 0 0",
        "capset a80425fb a80425fb 0",
        "no_new_privs",
        "execve /bin/sh",
    ];
    let at: Vec<usize> = order.iter().map(|c| rec.position(c)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{order:?} at {at:?}: {:#?}",
        rec.calls
    );
}

#[test]
fn a_failing_step_stops_the_sequence_before_exec() {
    for (failing, named) in [
        ("join_session_keyring", "join a new session keyring"),
        ("cloexec_fds_from", "mark descriptors close-on-exec"),
        ("hostname", "sethostname \"box\""),
        ("pivot_root", "pivot_root into /run/root"),
        ("enter_cwd", "working directory /app"),
        ("set_ids", "setting up process"),
        ("no_new_privs", "setting up process"),
    ] {
        let mut rec = Recorder {
            fail: Some(failing),
            ..Default::default()
        };
        let msg = match run_sequence(&mut rec) {
            Ended::Setup(m) => m,
            Ended::Exec(m, code) => {
                assert_eq!(code, 126);
                m
            }
        };
        assert!(msg.contains(named), "{failing}: {msg}");
        assert_eq!(msg.matches("Operation not permitted").count(), 1, "{msg}");
        assert!(
            !rec.calls.iter().any(|c| c.starts_with("execve")),
            "{failing}: exec after failure"
        );
    }
}

#[test]
fn f1_a_cwd_that_resolved_outside_the_root_fails_the_step() {
    let mut rec = Recorder {
        cwd_name: Some(b"(unreachable)/tmp/rt"),
        ..Default::default()
    };
    let Ended::Setup(msg) = run_sequence(&mut rec) else {
        panic!("the step ran")
    };
    assert!(msg.contains("working directory /app is outside"), "{msg}");
    assert!(!rec
        .calls
        .iter()
        .any(|c| c.starts_with("set_ids") || c.starts_with("execve")));
}
