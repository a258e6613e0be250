//! Run cgroups that a killed rbuild (SIGKILL, OOM) could not remove: `rbuild/<pid>-…` whose
//! pid is gone, removed by the next rbuild, as the store sweeps its scratch dirs on open.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;

use super::{host_layout, Layout};

/// Removes the empty run cgroups of dead rbuild processes in every hierarchy; returns how
/// many went. Best effort: a cgroup still holding tasks (a sandbox outliving its rbuild) stays.
pub fn sweep_stale() -> usize {
    let Ok(layout) = host_layout() else {
        return 0;
    };
    let mounts: Vec<PathBuf> = match &layout {
        Layout::V1(m) => [&m.memory, &m.pids, &m.cpu, &m.devices, &m.unified]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
        Layout::V2 { root } => vec![root.clone()],
    };
    let alive = |pid: u32| Path::new("/proc").join(pid.to_string()).exists();
    mounts
        .iter()
        .map(|m| sweep_tree(&m.join("rbuild"), &alive))
        .sum()
}

/// [`sweep_in`] on `rbuild/` and on the device filter's parents in it, which stay.
pub(crate) fn sweep_tree(rbuild: &Path, alive: &dyn Fn(u32) -> bool) -> usize {
    let parents: Vec<PathBuf> = std::fs::read_dir(rbuild)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| super::filtered::is_parent_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    sweep_in(rbuild, alive) + parents.iter().map(|p| sweep_in(p, alive)).sum::<usize>()
}

/// The sweep started by [`sweep_stale_in_background`], until [`wait_for_sweep`] joins it.
static BACKGROUND: Mutex<Option<JoinHandle<usize>>> = Mutex::new(None);

/// [`sweep_stale`] on its own thread, once per process: it is best effort and needs nothing
/// from the build, and reading five cgroup hierarchies took ~10 % of a no-op rebuild. The
/// sandbox starts it with the first run cgroup, `store` and `prune` on opening the store.
/// Join it before the process exits with [`wait_for_sweep`], so the next command finds the
/// cgroups gone.
pub fn sweep_stale_in_background() {
    let mut slot = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner());
    if slot.is_none() {
        *slot = std::thread::Builder::new()
            .name("cgroup-sweep".into())
            .spawn(sweep_stale)
            .ok();
    }
}

/// Waits for a sweep [`sweep_stale_in_background`] started; how many cgroups it removed.
pub fn wait_for_sweep() -> usize {
    let handle = BACKGROUND.lock().unwrap_or_else(|p| p.into_inner()).take();
    handle.and_then(|h| h.join().ok()).unwrap_or(0)
}

/// Removes the directories of `parent` named `<pid>-…` whose pid `alive` denies.
pub(crate) fn sweep_in(parent: &Path, alive: &dyn Fn(u32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split_once('-')?.0.parse().ok());
            pid.is_some_and(|p| !alive(p))
        })
        .filter(|e| std::fs::remove_dir(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_the_run_cgroups_of_dead_pids() {
        let root = std::env::temp_dir().join(format!("rbuild-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir(&root).unwrap();
        for name in ["101-0-ab", "202-3-cd", "other", "303-1-ef"] {
            std::fs::create_dir(root.join(name)).unwrap();
        }
        // A non-empty one stands for a cgroup that still holds tasks: rmdir fails, it stays.
        std::fs::write(root.join("303-1-ef/busy"), "").unwrap();
        // A device filter's parent stays; the run cgroups of dead pids in it go too.
        let filtered = root.join("devices-0123456789abcdef");
        for name in ["404-0-aa", "202-1-bb"] {
            std::fs::create_dir_all(filtered.join(name)).unwrap();
        }
        let removed = sweep_tree(&root, &|pid| pid == 202);
        assert_eq!(removed, 2);
        assert!(filtered.join("202-1-bb").exists() && !filtered.join("404-0-aa").exists());
        std::fs::remove_dir_all(&filtered).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(left, ["202-3-cd", "303-1-ef", "other"]);
    }
}
