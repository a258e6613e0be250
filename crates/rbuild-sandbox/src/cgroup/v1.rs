//! cgroup v1: one directory per controller hierarchy.

use super::{counter, cpu_quota, memory_swap_total, write};
use crate::error::SandboxError;
use crate::spec::Limits;
use std::path::PathBuf;

/// A per-run cgroup on v1 hierarchies.
#[derive(Debug, Default)]
pub struct V1 {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    cpu: Option<PathBuf>,
}

/// The control-file writes for the limits: (controller, file, value), in order.
pub fn writes(l: &Limits) -> Vec<(&'static str, &'static str, String)> {
    let mut w = Vec::new();
    if let Some(m) = l.memory {
        w.push(("memory", "memory.limit_in_bytes", m.to_string()));
        if let Some(s) = memory_swap_total(l) {
            w.push(("memory", "memory.memsw.limit_in_bytes", s.to_string()));
        }
    }
    if let Some(p) = l.pids {
        w.push((
            "pids",
            "pids.max",
            if p > 0 { p.to_string() } else { "max".into() },
        ));
    }
    if let Some((q, p)) = cpu_quota(l) {
        w.push(("cpu", "cpu.cfs_period_us", p.to_string()));
        w.push(("cpu", "cpu.cfs_quota_us", q.to_string()));
    }
    w
}

impl V1 {
    /// Creates `<mount>/rbuild/<name>` in each needed hierarchy and applies the limits.
    pub fn create(
        name: &str,
        l: &Limits,
        memory: Option<PathBuf>,
        pids: Option<PathBuf>,
        cpu: Option<PathBuf>,
    ) -> Result<Self, SandboxError> {
        let mut cg = V1::default();
        for (ctl, file, value) in writes(l) {
            let (slot, mount) = match ctl {
                "memory" => (&mut cg.memory, &memory),
                "pids" => (&mut cg.pids, &pids),
                _ => (&mut cg.cpu, &cpu),
            };
            let Some(mount) = mount else {
                let _ = cg.destroy_quietly();
                return Err(SandboxError::Unavailable(format!(
                    "the {ctl} cgroup controller is not mounted"
                )));
            };
            if slot.is_none() {
                let dir = mount.join("rbuild").join(name);
                std::fs::create_dir_all(&dir).map_err(SandboxError::io("create cgroup", &dir))?;
                *slot = Some(dir);
            }
            let dir = slot.clone().unwrap_or_default();
            // Without swap accounting there is no memsw file; the memory limit alone still holds.
            if file == "memory.memsw.limit_in_bytes" && !dir.join(file).exists() {
                continue;
            }
            if let Err(e) = write(&dir, file, &value) {
                let _ = cg.destroy_quietly();
                return Err(e);
            }
        }
        Ok(cg)
    }

    /// The directories of this cgroup.
    pub fn dirs(&self) -> Vec<PathBuf> {
        [&self.memory, &self.pids, &self.cpu]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// OOM kills recorded in memory.oom_control.
    pub fn oom_killed(&self) -> bool {
        let Some(m) = &self.memory else { return false };
        let text = std::fs::read_to_string(m.join("memory.oom_control")).unwrap_or_default();
        match counter(&text, "oom_kill") {
            Some(n) => n > 0,
            // Kernels before 4.13 have no oom_kill counter: hitting the limit is the best hint.
            None => {
                let fail = std::fs::read_to_string(m.join("memory.failcnt")).unwrap_or_default();
                counter(&text, "under_oom").is_some_and(|n| n > 0)
                    || fail.trim().parse::<u64>().is_ok_and(|n| n > 0)
            }
        }
    }

    fn destroy_quietly(&self) -> Result<(), SandboxError> {
        self.dirs().iter().try_for_each(|d| super::remove(d))
    }
}
