//! Rootless cgroups: the cgroup v2 subtree delegated to the user (systemd's `Delegate=yes`, or a
//! chown by root). Its processes (this one, and the shell or CI agent that started it) first
//! move into a leaf, so run cgroups may be made beside it: cgroup v2 lets a cgroup enable
//! controllers for its children only while it holds no process itself. Rootless BuildKit and
//! Docker move a container's processes into an `init` leaf the same way.

use super::{Cgroup, Layout};
use crate::spec::{Limits, OutputStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why run cgroups cannot go in a delegated subtree.
#[derive(Debug, thiserror::Error)]
pub enum NoDelegation {
    /// The cgroup mounts could not be read.
    #[error("the cgroup hierarchies are unreadable: {0}")]
    Layout(String),
    /// Only cgroup v1 is mounted.
    #[error("this host has no cgroup v2 hierarchy")]
    NoV2,
    /// /proc/self/cgroup names no v2 group.
    #[error("this process is in no cgroup v2 group")]
    NoGroup,
    /// The group or its control files are not the user's.
    #[error("{} is not delegated to this user", .0.display())]
    NotDelegated(PathBuf),
    /// Making the leaf or moving a process into it failed.
    #[error("cannot move the processes of the subtree into {}", path.display())]
    Leaf {
        /// The leaf.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

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
pub fn root() -> Result<&'static Path, &'static NoDelegation> {
    static ROOT: OnceLock<Result<PathBuf, NoDelegation>> = OnceLock::new();
    match ROOT.get_or_init(find) {
        Ok(p) => Ok(p),
        Err(why) => Err(why),
    }
}

/// This process's cgroup v2 group, if it is delegated to this user: it and its control files
/// are writable.
pub fn own_group() -> Result<PathBuf, NoDelegation> {
    let layout = super::host_layout().map_err(|e| NoDelegation::Layout(crate::error::chain(&e)))?;
    let mount = match layout {
        Layout::V2 { root } => root,
        Layout::V1(m) => m.unified.ok_or(NoDelegation::NoV2)?,
    };
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let own = own_path(&text).ok_or(NoDelegation::NoGroup)?;
    let dir = mount.join(own.trim_start_matches('/'));
    let files = [dir.join("cgroup.procs"), dir.join("cgroup.subtree_control")];
    if !writable(&dir) || !files.iter().all(|f| writable(f)) {
        return Err(NoDelegation::NotDelegated(dir));
    }
    Ok(dir)
}

fn find() -> Result<PathBuf, NoDelegation> {
    let dir = own_group()?;
    let leaf = dir.join(LEAF);
    let leaf_err = |source| NoDelegation::Leaf {
        path: leaf.clone(),
        source,
    };
    std::fs::create_dir_all(&leaf).map_err(leaf_err)?;
    // Twice: a process may have forked while the first pass moved its parent.
    for _ in 0..2 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids(&procs) {
            match std::fs::write(leaf.join("cgroup.procs"), pid.to_string()) {
                // Gone meanwhile.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                r => r.map_err(leaf_err)?,
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
    root: Result<&Path, &NoDelegation>,
    name: &str,
    limits: &Limits,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Option<Cgroup> {
    let made = root.map_err(|e| crate::error::chain(e)).and_then(|root| {
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
        let why = NoDelegation::NotDelegated("/cg/here".into());
        let none = in_root(Err(&why), "run2", &limits, &mut |_, b| {
            said.extend_from_slice(b)
        });
        assert!(none.is_none());
        let text = String::from_utf8(said).unwrap();
        assert!(
            text.contains("are not applied: /cg/here is not delegated to this user"),
            "{text}"
        );
        // Without limits there is no cgroup to make and nothing to say.
        let quiet = for_run("run3", &Limits::default(), &mut |_, _| {
            panic!("said something")
        });
        assert!(quiet.is_none());
    }
}
