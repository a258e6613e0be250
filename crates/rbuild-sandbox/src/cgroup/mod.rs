//! Per-run cgroups: Docker's device allow-list for every RUN, plus memory, CPU and pids limits
//! when set, on cgroup v1 (the devices controller) or v2 (an eBPF device filter).

mod bpf;
pub mod delegated;
pub mod devices;
pub mod filtered;
mod sweep;
mod v1;
mod v2;

pub use sweep::{sweep_stale, sweep_stale_in_background, wait_for_sweep};

use crate::error::SandboxError;
use crate::spec::Limits;
use std::path::{Path, PathBuf};

/// The v1 controller mounts (and, on hybrid hosts, the unified mount).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Mounts {
    /// The memory controller's mount.
    pub memory: Option<PathBuf>,
    /// The pids controller's mount.
    pub pids: Option<PathBuf>,
    /// The cpu controller's mount.
    pub cpu: Option<PathBuf>,
    /// The devices controller's mount.
    pub devices: Option<PathBuf>,
    /// The cgroup2 mount of a hybrid host, for the device filter when `devices` is missing.
    pub unified: Option<PathBuf>,
}

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Legacy hierarchies, one mount per controller (hybrid hosts included).
    V1(V1Mounts),
    /// The unified hierarchy.
    V2 {
        /// Its mount point.
        root: PathBuf,
    },
}

/// Detects the layout from /proc/self/mountinfo text: v1 when the memory, pids or devices
/// controller is mounted as v1 (hybrid hosts), else the cgroup2 mount.
pub fn detect(mountinfo: &str) -> Option<Layout> {
    let mut m = V1Mounts::default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mnt) = left.split(' ').nth(4).map(unescape) else {
            continue;
        };
        let mut r = right.split(' ');
        let (fstype, opts) = (r.next(), r.nth(1).unwrap_or(""));
        match fstype {
            Some("cgroup") => {
                let has = |c: &str| opts.split(',').any(|o| o == c);
                for (ctl, slot) in [
                    ("memory", &mut m.memory),
                    ("pids", &mut m.pids),
                    ("cpu", &mut m.cpu),
                    ("devices", &mut m.devices),
                ] {
                    if has(ctl) {
                        *slot = Some(mnt.clone());
                    }
                }
            }
            Some("cgroup2") if m.unified.is_none() => m.unified = Some(mnt),
            _ => {}
        }
    }
    if m.memory.is_some() || m.pids.is_some() || m.devices.is_some() {
        return Some(Layout::V1(m));
    }
    m.unified.map(|root| Layout::V2 { root })
}

/// This host's layout, from /proc/self/mountinfo.
pub fn host_layout() -> Result<Layout, SandboxError> {
    // Read once per process: the mounts do not move during a build, and each RUN asked.
    static DETECTED: std::sync::OnceLock<Option<Layout>> = std::sync::OnceLock::new();
    let detected = match DETECTED.get() {
        Some(d) => d.clone(),
        None => {
            let info = std::fs::read_to_string("/proc/self/mountinfo")
                .map_err(SandboxError::io("read", "/proc/self/mountinfo"))?;
            DETECTED.get_or_init(|| detect(&info)).clone()
        }
    };
    detected.ok_or_else(|| {
        SandboxError::Unavailable(
            "no cgroup hierarchy is mounted: every RUN needs one for its device allow-list".into(),
        )
    })
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

/// A per-run cgroup (in every needed hierarchy); removed on drop if not destroyed before.
#[derive(Debug)]
pub struct Cgroup {
    kind: Kind,
    destroyed: bool,
}

#[derive(Debug)]
enum Kind {
    V1(v1::V1),
    V2(v2::V2),
}

impl Cgroup {
    /// Creates `rbuild/<name>` with the limits applied and, when `devices` is given, that
    /// device allow-list (None: every device, for insecure runs); on cgroup2 a filtered run's
    /// cgroup is `rbuild/devices-<hash>/<name>` (see [`filtered`]).
    pub fn create(
        layout: &Layout,
        name: &str,
        limits: &Limits,
        devices: Option<&[devices::DeviceRule]>,
    ) -> Result<Cgroup, SandboxError> {
        let kind = match layout {
            Layout::V1(m) => Kind::V1(v1::V1::create(name, limits, m, devices)?),
            Layout::V2 { root } => Kind::V2(v2::V2::create(root, name, limits, devices)?),
        };
        Ok(Cgroup {
            kind,
            destroyed: false,
        })
    }

    fn dirs(&self) -> Vec<PathBuf> {
        match &self.kind {
            Kind::V1(c) => c.dirs(),
            Kind::V2(c) => vec![c.dir().to_path_buf()],
        }
    }

    /// The cgroup.procs files the init writes its pid to: every directory but the one pid 1
    /// starts in ([`start_dir`](Self::start_dir)).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        let start = self.start_dir();
        self.dirs()
            .into_iter()
            .filter(|d| Some(d) != start.as_ref())
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// The cgroup v2 directory pid 1 is created in (clone3 with CLONE_INTO_CGROUP): the
    /// unified one, on v2 and on hybrid hosts that filter devices there.
    pub fn start_dir(&self) -> Option<PathBuf> {
        match &self.kind {
            Kind::V1(c) => c.unified_dir(),
            Kind::V2(c) => Some(c.dir().to_path_buf()),
        }
    }

    /// True when the kernel OOM-killed a task of this cgroup.
    pub fn oom_killed(&self) -> bool {
        match &self.kind {
            Kind::V1(c) => c.oom_killed(),
            Kind::V2(c) => c.oom_killed(),
        }
    }

    /// Kills what is left and removes the cgroup directories.
    pub fn destroy(&mut self) -> Result<(), SandboxError> {
        self.destroyed = true;
        remove_all(&self.dirs())
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.destroyed {
            // An early return or a panic between create and destroy; nobody can be told.
            let _ = self.destroy();
        }
    }
}

/// Creates `<mount>/rbuild/<name>`; the name must be new.
pub(crate) fn make_dir(mount: &Path, name: &str) -> Result<PathBuf, SandboxError> {
    let parent = mount.join("rbuild");
    std::fs::create_dir_all(&parent).map_err(SandboxError::io("create cgroup", &parent))?;
    make_dir_in(&parent, name)
}

/// Creates `<parent>/<name>`; the name must be new.
pub(crate) fn make_dir_in(parent: &Path, name: &str) -> Result<PathBuf, SandboxError> {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).map_err(SandboxError::io("create cgroup", &dir))?;
    Ok(dir)
}

/// The parent of a run's cgroup on the cgroup2 hierarchy at `root`, created if needed: the
/// device filter's parent when `rules` are given (see [`filtered`]), else `rbuild/`.
pub(crate) fn v2_parent(
    root: &Path,
    rules: Option<&[devices::DeviceRule]>,
) -> Result<PathBuf, SandboxError> {
    match rules {
        Some(rules) => filtered::parent(root, rules),
        None => {
            let parent = root.join("rbuild");
            std::fs::create_dir_all(&parent).map_err(SandboxError::io("create cgroup", &parent))?;
            Ok(parent)
        }
    }
}

/// Removes every directory, trying all of them; the first error wins.
pub(crate) fn remove_all(dirs: &[PathBuf]) -> Result<(), SandboxError> {
    dirs.iter().map(|d| remove(d)).fold(Ok(()), Result::and)
}

/// Writes one control file, with the path in the error.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), SandboxError> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|source| SandboxError::Cgroup {
        path: p,
        op: format!("write {value:?}"),
        source,
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
    std::fs::remove_dir(dir).map_err(|source| SandboxError::Cgroup {
        path: dir.to_path_buf(),
        op: "remove".into(),
        source,
    })
}

#[cfg(test)]
mod tests;
