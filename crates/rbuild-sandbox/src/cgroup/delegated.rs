//! Rootless cgroups: the cgroup v2 subtree delegated to the user (systemd's `Delegate=yes`, or a
//! chown by root). Its processes (this one, and the shell or CI agent that started it) first
//! move into a leaf, so run cgroups may be made beside it: cgroup v2 lets a cgroup enable
//! controllers for its children only while it holds no process itself. Rootless BuildKit and
//! Docker move a container's processes into an `init` leaf the same way.

use super::{Cgroup, Layout};
use crate::spec::{Limits, OutputStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The leaf this process moves into.
const LEAF: &str = "rbuild-builder";

/// The cgroup v2 path of this process, from /proc/self/cgroup text ("0::/path").
pub fn own_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The pids a cgroup.procs file lists.
pub fn pids(procs: &str) -> Vec<u32> {
    procs
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn writable(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: access(2) only reads the NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The delegated directory run cgroups go below, or why there is none. Decided (and the move
/// into the leaf made) once per process.
pub fn root() -> Result<&'static Path, &'static str> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ROOT.get_or_init(find) {
        Ok(p) => Ok(p),
        Err(why) => Err(why),
    }
}

fn find() -> Result<PathBuf, String> {
    let mount = match super::host_layout().map_err(|e| e.to_string())? {
        Layout::V2 { root } => root,
        Layout::V1(m) => m.unified.ok_or("this host has no cgroup v2 hierarchy")?,
    };
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = own_path(&text).ok_or("this process is in no cgroup v2 group")?;
    let dir = mount.join(own.trim_start_matches('/'));
    let files = [dir.join("cgroup.procs"), dir.join("cgroup.subtree_control")];
    if !writable(&dir) || !files.iter().all(|f| writable(f)) {
        return Err(format!("{} is not delegated to this user", dir.display()));
    }
    let leaf = dir.join(LEAF);
    std::fs::create_dir_all(&leaf).map_err(|e| format!("cannot create {}: {e}", leaf.display()))?;
    // Twice: a process may have forked while the first pass moved its parent.
    for _ in 0..2 {
        let procs = std::fs::read_to_string(&files[0]).unwrap_or_default();
        for pid in pids(&procs) {
            match std::fs::write(leaf.join("cgroup.procs"), pid.to_string()) {
                // Gone meanwhile, or not the user's: the latter makes the creation fail below.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                r => {
                    r.map_err(|e| format!("cannot move pid {pid} into {}: {e}", leaf.display()))?
                }
            }
        }
    }
    Ok(dir)
}

/// The cgroup of a rootless run: only for limits (a user namespace makes no device nodes, so
/// no device filter is needed), in the delegated subtree; when limits cannot hold there, the
/// step's own output says so and why, and the step runs without them.
pub fn for_run(
    name: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Option<Cgroup> {
    if !limits.needs_cgroup() {
        return None;
    }
    in_root(root(), name, limits, on_output)
}

/// [`for_run`] below `root` (or told why there is none).
fn in_root(
    root: Result<&Path, &str>,
    name: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Option<Cgroup> {
    let made = root.map_err(str::to_string).and_then(|root| {
        let layout = Layout::V2 {
            root: root.to_path_buf(),
        };
        Cgroup::create(&layout, name, limits, None).map_err(|e| crate::error::chain(&e))
    });
    match made {
        Ok(cg) => Some(cg),
        Err(why) => {
            let msg = format!(
                "rbuild: WARNING: rootless: the resource limits of this step (--memory, \
                 --cpu-*, --pids-limit) are not applied: {why} (see `rbuild doctor`)\n"
            );
            on_output(OutputStream::Stderr, msg.as_bytes());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_group_and_being_alone_in_it() {
        let text = "12:pids:/user.slice\n0::/user.slice/user-1000.slice/app.scope\n";
        assert_eq!(
            own_path(text),
            Some("/user.slice/user-1000.slice/app.scope")
        );
        assert_eq!(own_path("9:name=systemd:/\n"), None);
        assert_eq!(pids("42\n43\n"), [42, 43]);
        assert!(pids("").is_empty());
    }

    #[test]
    fn limits_are_written_below_the_delegated_root_or_said_not_applied() {
        let root = tempfile::tempdir().unwrap();
        let limits = Limits {
            memory: Some(64 << 20),
            pids: Some(20),
            ..Default::default()
        };
        let mut said = Vec::new();
        let cg = in_root(Ok(root.path()), "run1", &limits, &mut |_, b| {
            said.extend_from_slice(b)
        })
        .unwrap();
        let dir = root.path().join("rbuild/run1");
        assert_eq!(cg.start_dir(), Some(dir.clone()));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&dir.join("memory.max")), "67108864");
        assert_eq!(read(&dir.join("pids.max")), "20");
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+memory +pids"
        );
        assert!(said.is_empty());
        // A real cgroup directory empties itself; this one is emptied for the drop's rmdir.
        for f in ["memory.max", "pids.max"] {
            std::fs::remove_file(dir.join(f)).unwrap();
        }
        drop(cg);
        assert!(!dir.exists());
        // No delegation: nothing is made, and the step is told why.
        let none = in_root(Err("not delegated here"), "run2", &limits, &mut |_, b| {
            said.extend_from_slice(b)
        });
        assert!(none.is_none());
        let text = String::from_utf8(said).unwrap();
        assert!(
            text.contains("are not applied: not delegated here"),
            "{text}"
        );
        // Without limits there is no cgroup to make and nothing to say.
        let quiet = for_run("run3", &Limits::default(), &mut |_, _| {
            panic!("said something")
        });
        assert!(quiet.is_none());
    }
}
