//! cgroup v1: one directory per controller hierarchy; the devices controller holds the allow-list.

use super::devices::{v1_writes, DeviceRule};
use super::{
    counter, cpu_quota, make_dir, make_dir_in, memory_swap_total, v2_parent, write, V1Mounts,
};
use crate::error::SandboxError;
use crate::spec::Limits;
use std::path::PathBuf;

/// A per-run cgroup on v1 hierarchies.
#[derive(Debug, Default)]
pub struct V1 {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    cpu: Option<PathBuf>,
    devices: Option<PathBuf>,
    /// The device filter's cgroup on the unified hierarchy, when `devices` is not mounted.
    unified: Option<PathBuf>,
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
    /// Creates `<mount>/rbuild/<name>` in the devices hierarchy (the allow-list) and in each
    /// hierarchy the limits need; on failure removes what it made.
    pub fn create(
        name: &str,
        l: &Limits,
        m: &V1Mounts,
        devices: Option<&[DeviceRule]>,
    ) -> Result<Self, SandboxError> {
        let mut cg = V1::default();
        match cg.fill(name, l, m, devices) {
            Ok(()) => Ok(cg),
            Err(e) => {
                let _ = super::remove_all(&cg.dirs());
                Err(e)
            }
        }
    }

    fn fill(
        &mut self,
        name: &str,
        l: &Limits,
        m: &V1Mounts,
        devices: Option<&[DeviceRule]>,
    ) -> Result<(), SandboxError> {
        self.restrict_devices(name, m, devices)?;
        for (ctl, file, value) in writes(l) {
            let (slot, mount) = match ctl {
                "memory" => (&mut self.memory, &m.memory),
                "pids" => (&mut self.pids, &m.pids),
                _ => (&mut self.cpu, &m.cpu),
            };
            let Some(mount) = mount else {
                return Err(SandboxError::Unavailable(format!(
                    "the {ctl} cgroup controller is not mounted"
                )));
            };
            let dir = match slot {
                Some(d) => d.clone(),
                None => slot.insert(make_dir(mount, name)?).clone(),
            };
            // Without swap accounting there is no memsw file; the memory limit alone still holds.
            if file == "memory.memsw.limit_in_bytes" && !dir.join(file).exists() {
                continue;
            }
            write(&dir, file, &value)?;
        }
        Ok(())
    }

    /// The eBPF filter on the unified hierarchy when the host has one: pid 1 can then start
    /// in that cgroup, where a move into the v1 devices controller cost every RUN an RCU
    /// grace period (5-10 ms here). Else (or when the filter cannot be attached) deny all,
    /// then the list, in the devices controller. Without a list the cgroup is still made (it
    /// holds the run's processes until they are killed) but inherits the parent's devices.
    fn restrict_devices(
        &mut self,
        name: &str,
        m: &V1Mounts,
        rules: Option<&[DeviceRule]>,
    ) -> Result<(), SandboxError> {
        if let (Some(root), Some(_)) = (&m.unified, &m.devices) {
            // Without eBPF device programs here the v1 controller enforces the same list.
            if let Ok(dir) = v2_parent(root, rules).and_then(|p| make_dir_in(&p, name)) {
                self.unified = Some(dir);
                return Ok(());
            }
        }
        if let Some(mount) = &m.devices {
            let dir = self.devices.insert(make_dir(mount, name)?).clone();
            for (file, value) in rules.map(v1_writes).unwrap_or_default() {
                write(&dir, file, &value)?;
            }
            return Ok(());
        }
        let Some(root) = &m.unified else {
            return Err(SandboxError::Unavailable(
                "neither the devices cgroup controller nor cgroup2 is mounted: \
                 the device allow-list of a RUN cannot be applied"
                    .into(),
            ));
        };
        self.unified = Some(make_dir_in(&v2_parent(root, rules)?, name)?);
        Ok(())
    }

    /// The cgroup on the unified hierarchy, when the device filter lives there.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        self.unified.clone()
    }

    /// The directories of this cgroup.
    pub fn dirs(&self) -> Vec<PathBuf> {
        [
            &self.devices,
            &self.unified,
            &self.memory,
            &self.pids,
            &self.cpu,
        ]
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
}
