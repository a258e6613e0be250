//! Where run cgroups are on the host, for tests that look for them while or after a run.

use std::path::{Path, PathBuf};

/// The directories run cgroups are made in: `rbuild/` and, on cgroup2, the device filter's
/// parents `rbuild/devices-<hash>/` in it.
pub fn run_cgroup_parents(rbuild: &Path) -> Vec<PathBuf> {
    let filtered = std::fs::read_dir(rbuild)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("devices-"))
        .map(|e| e.path());
    std::iter::once(rbuild.to_path_buf())
        .chain(filtered)
        .collect()
}
