//! Per-run cgroups enforcing memory, CPU and pids limits, on cgroup v1 or v2.

mod v1;
mod v2;

use crate::error::SandboxError;
use crate::spec::Limits;
use std::path::{Path, PathBuf};

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Legacy hierarchies, one mount per controller.
    V1 {
        /// The memory controller's mount.
        memory: Option<PathBuf>,
        /// The pids controller's mount.
        pids: Option<PathBuf>,
        /// The cpu controller's mount.
        cpu: Option<PathBuf>,
    },
    /// The unified hierarchy.
    V2 {
        /// Its mount point.
        root: PathBuf,
    },
}

/// Detects the layout from /proc/self/mountinfo text: v1 when the memory or pids controller is
/// mounted as v1 (hybrid hosts), else the cgroup2 mount.
pub fn detect(mountinfo: &str) -> Option<Layout> {
    let (mut memory, mut pids, mut cpu, mut unified) = (None, None, None, None);
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mnt = left.split(' ').nth(4).map(unescape);
        let mut r = right.split(' ');
        let (fstype, opts) = (r.next(), r.nth(1).unwrap_or(""));
        let Some(mnt) = mnt else { continue };
        match fstype {
            Some("cgroup") => {
                let has = |c: &str| opts.split(',').any(|o| o == c);
                if has("memory") {
                    memory = Some(mnt.clone());
                }
                if has("pids") {
                    pids = Some(mnt.clone());
                }
                if has("cpu") {
                    cpu = Some(mnt);
                }
            }
            Some("cgroup2") if unified.is_none() => unified = Some(mnt),
            _ => {}
        }
    }
    if memory.is_some() || pids.is_some() {
        return Some(Layout::V1 { memory, pids, cpu });
    }
    unified.map(|root| Layout::V2 { root })
}

fn unescape(s: &str) -> PathBuf {
    PathBuf::from(
        s.replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\134", "\\"),
    )
}

/// CFS (quota, period) from the limits: explicit quota wins over `cpus`.
pub fn cpu_quota(l: &Limits) -> Option<(i64, u64)> {
    let period = l.cpu_period.unwrap_or(100_000);
    match (l.cpu_quota, l.cpus) {
        (Some(q), _) => Some((q, period)),
        (None, Some(c)) if c > 0.0 => Some(((c * period as f64).round() as i64, period)),
        _ => None,
    }
}

/// Docker's memory+swap total: explicit, -1 unlimited, default twice the memory.
pub fn memory_swap_total(l: &Limits) -> Option<i64> {
    match (l.memory, l.memory_swap) {
        (_, Some(s)) if s != 0 => Some(s),
        (Some(m), _) => Some(2 * m as i64),
        _ => None,
    }
}

/// A per-run cgroup (in every needed hierarchy).
#[derive(Debug)]
pub enum Cgroup {
    /// On cgroup v1.
    V1(v1::V1),
    /// On cgroup v2.
    V2(v2::V2),
}

impl Cgroup {
    /// Creates `rbuild/<name>` with the limits applied, or None when no limit needs a cgroup.
    pub fn create(name: &str, limits: &Limits) -> Result<Option<Cgroup>, SandboxError> {
        if !limits.needs_cgroup() {
            return Ok(None);
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(SandboxError::io("read", "/proc/self/mountinfo"))?;
        match detect(&info) {
            Some(Layout::V1 { memory, pids, cpu }) => Ok(Some(Cgroup::V1(v1::V1::create(
                name, limits, memory, pids, cpu,
            )?))),
            Some(Layout::V2 { root }) => Ok(Some(Cgroup::V2(v2::V2::create(&root, name, limits)?))),
            None => Err(SandboxError::Unavailable(
                "resource limits need cgroups, but none are mounted".into(),
            )),
        }
    }

    /// The cgroup.procs files the init writes its pid to.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c.dirs().iter().map(|d| d.join("cgroup.procs")).collect(),
            Cgroup::V2(c) => vec![c.dir().join("cgroup.procs")],
        }
    }

    /// True when the kernel OOM-killed a task of this cgroup.
    pub fn oom_killed(&self) -> bool {
        match self {
            Cgroup::V1(c) => c.oom_killed(),
            Cgroup::V2(c) => c.oom_killed(),
        }
    }

    /// Kills what is left and removes the cgroup directories.
    pub fn destroy(&self) -> Result<(), SandboxError> {
        let dirs = match self {
            Cgroup::V1(c) => c.dirs(),
            Cgroup::V2(c) => vec![c.dir().to_path_buf()],
        };
        dirs.iter().try_for_each(|d| remove(d))
    }
}

/// Writes one control file, with the path in the error.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), SandboxError> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| SandboxError::Cgroup {
        path: p,
        msg: format!("write {value:?}: {e}"),
    })
}

/// Reads a "key value" counter from a flat-keyed file such as memory.events.
pub fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

fn remove(dir: &Path) -> Result<(), SandboxError> {
    for _ in 0..100 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            crate::sys::proc_calls::kill(pid);
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // Busy until the killed tasks are fully gone.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    std::fs::remove_dir(dir).map_err(|e| SandboxError::Cgroup {
        path: dir.to_path_buf(),
        msg: format!("remove: {e}"),
    })
}

#[cfg(test)]
mod tests;
