//! cgroup v2: one directory in the unified hierarchy, under the eBPF device filter's parent.

use super::devices::DeviceRule;
use super::{counter, cpu_quota, make_dir_in, memory_swap_total, v2_parent, write};
use crate::error::SandboxError;
use crate::spec::Limits;
use std::path::{Path, PathBuf};

/// A per-run cgroup on the unified hierarchy.
#[derive(Debug)]
pub struct V2 {
    dir: PathBuf,
}

/// The control-file writes for the limits: (file, value), in order.
pub fn writes(l: &Limits) -> Vec<(&'static str, String)> {
    let mut w = Vec::new();
    if let Some(m) = l.memory {
        w.push(("memory.max", m.to_string()));
        if let Some(s) = memory_swap_total(l) {
            let swap = if s < 0 {
                "max".to_string()
            } else {
                (s - m as i64).max(0).to_string()
            };
            w.push(("memory.swap.max", swap));
        }
    }
    if let Some(p) = l.pids {
        w.push(("pids.max", if p > 0 { p.to_string() } else { "max".into() }));
    }
    if let Some((q, p)) = cpu_quota(l) {
        w.push((
            "cpu.max",
            format!("{} {p}", if q > 0 { q.to_string() } else { "max".into() }),
        ));
    }
    w
}

/// The directories whose cgroup.subtree_control must pass the limits' controllers down to a
/// run cgroup made in `parent`: every level from `root` to `parent` (the device filter's
/// parent adds one below `rbuild/`).
pub fn passing_on<'a>(root: &Path, parent: &'a Path) -> Vec<&'a Path> {
    let mut levels: Vec<&Path> = parent
        .ancestors()
        .take_while(|a| a.starts_with(root))
        .collect();
    levels.reverse();
    levels
}

/// The controllers the writes need, as a cgroup.subtree_control line.
pub fn controllers(w: &[(&str, String)]) -> String {
    let mut c: Vec<&str> = w.iter().filter_map(|(f, _)| f.split('.').next()).collect();
    c.dedup();
    c.iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl V2 {
    /// Creates the run's cgroup (under the device filter's parent when `devices` is given,
    /// else `<root>/rbuild/<name>`), enabling the limits' controllers on the way, and applies
    /// the limits; on failure removes the directory.
    pub fn create(
        root: &Path,
        name: &str,
        l: &Limits,
        devices: Option<&[DeviceRule]>,
    ) -> Result<Self, SandboxError> {
        let w = writes(l);
        let ctl = controllers(&w);
        let parent = v2_parent(root, devices)?;
        if !ctl.is_empty() {
            for level in passing_on(root, &parent) {
                write(level, "cgroup.subtree_control", &ctl)?;
            }
        }
        let dir = make_dir_in(&parent, name)?;
        let cg = V2 { dir };
        if let Err(e) = cg.fill(w) {
            let _ = super::remove(&cg.dir);
            return Err(e);
        }
        Ok(cg)
    }

    fn fill(&self, w: Vec<(&'static str, String)>) -> Result<(), SandboxError> {
        for (file, value) in w {
            if file == "memory.swap.max" && !self.dir.join(file).exists() {
                continue;
            }
            write(&self.dir, file, &value)?;
        }
        Ok(())
    }

    /// The cgroup directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// OOM kills recorded in memory.events.
    pub fn oom_killed(&self) -> bool {
        let text = std::fs::read_to_string(self.dir.join("memory.events")).unwrap_or_default();
        counter(&text, "oom_kill").is_some_and(|n| n > 0)
    }
}
