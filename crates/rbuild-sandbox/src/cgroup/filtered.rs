//! The device filter's parent cgroup: `rbuild/devices-<program hash>` on a cgroup2 hierarchy
//! carries the eBPF device filter, and every filtered run's cgroup is made under it: the
//! kernel applies a parent's device programs to all its descendants.
//!
//! Why a parent that outlives the process: loading the program (the verifier and the JIT)
//! and attaching it to each run's own cgroup cost a one-RUN rebuild ~0.5 ms of its ~25. The
//! parent keeps the program attached after the builder exits, so the next build only asks
//! the kernel whether it still is (one BPF_PROG_QUERY) and attaches it only when it is not.
//! Runs without the filter (security.insecure) are made beside it, directly under `rbuild/`.

use std::path::{Path, PathBuf};

use super::bpf;
use super::devices::DeviceRule;
use crate::error::SandboxError;

/// The parent for runs filtered by `rules` on the cgroup2 hierarchy mounted at `root`,
/// created if needed, with the filter attached to it.
pub(crate) fn parent(root: &Path, rules: &[DeviceRule]) -> Result<PathBuf, SandboxError> {
    let code = bpf::encode(&bpf::device_program(rules));
    let dir = root.join("rbuild").join(name(&code));
    std::fs::create_dir_all(&dir).map_err(SandboxError::io("create cgroup", &dir))?;
    // Checked by every run, not once per process: the run that follows must be filtered even
    // if someone removed and remade the directory meanwhile.
    let attached = attached(&dir)?;
    if attached == 0 {
        // Two builds may both find it bare and both attach: the same program twice allows
        // exactly what it allows once.
        crate::sys::bpf::attach_device_filter(&dir, &code).map_err(|source| {
            SandboxError::Cgroup {
                path: dir.clone(),
                op: "attach the device filter (BPF_CGROUP_DEVICE)".into(),
                source,
            }
        })?;
    }
    Ok(dir)
}

/// How many device programs are attached to the cgroup2 directory `dir` itself.
pub fn attached(dir: &Path) -> Result<u32, SandboxError> {
    crate::sys::bpf::attached_device_programs(dir).map_err(|source| SandboxError::Cgroup {
        path: dir.to_path_buf(),
        op: "query the device filters (BPF_PROG_QUERY)".into(),
        source,
    })
}

/// True for the name of a filter parent (`devices-` and 16 hex digits).
pub(crate) fn is_parent_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

const PREFIX: &str = "devices-";

/// `devices-` and the 64-bit FNV-1a hash of the encoded program. The hash only tells
/// versions of the program apart (a new allow-list gets its own parent); it guards nothing,
/// as only root can make or attach anything under `rbuild/`.
fn name(code: &[u8]) -> String {
    let hash = code.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{PREFIX}{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::devices::DEFAULT_ALLOW;

    #[test]
    fn the_parent_is_named_after_the_program() {
        let code = bpf::encode(&bpf::device_program(DEFAULT_ALLOW));
        let n = name(&code);
        assert!(is_parent_name(&n), "{n}");
        assert_eq!(n, name(&code), "the name must not change between processes");
        let fewer = bpf::encode(&bpf::device_program(&DEFAULT_ALLOW[1..]));
        assert_ne!(n, name(&fewer), "another allow-list shares the parent");
        for other in [
            "devices-",
            "devices-xyz0000000000000",
            "1234-0-ab",
            "devices",
        ] {
            assert!(!is_parent_name(other), "{other}");
        }
    }
}
