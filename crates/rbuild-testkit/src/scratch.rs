//! Scratch directories a test process keeps for its whole life (held by a `static`, so never
//! dropped): removed when the process exits, and swept by the next process if it died first.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

/// Directories to remove when the test process exits.
static AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_all() {
    let dirs = std::mem::take(&mut *AT_EXIT.lock().unwrap_or_else(|e| e.into_inner()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A fresh directory `<parent>/<prefix><pid>` that lives until this process exits. Directories
/// of the same prefix whose process is gone (killed before its exit handlers ran) are removed
/// first, so a test leaves nothing behind run after run.
pub fn process_scratch_dir(parent: &Path, prefix: &str) -> std::io::Result<PathBuf> {
    sweep_dead(parent, prefix);
    let dir = parent.join(format!("{prefix}{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    static REGISTER: Once = Once::new();
    // libtest ends the process with exit(), which runs atexit handlers; statics are never dropped.
    REGISTER.call_once(|| unsafe {
        libc::atexit(remove_all);
    });
    AT_EXIT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(dir.clone());
    Ok(dir)
}

/// Removes `<parent>/<prefix><pid>` for every pid that no longer runs.
fn sweep_dead(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists();
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_processes_directory_is_swept_and_a_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22: this pid cannot run.
        let dead = parent.path().join("x-4999999");
        let live = parent.path().join("x-1");
        let other = parent.path().join("y-4999999");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        let mine = process_scratch_dir(parent.path(), "x-").unwrap();
        assert!(mine.is_dir());
        assert_eq!(
            mine.file_name().unwrap().to_str().unwrap(),
            format!("x-{}", std::process::id())
        );
        assert!(!dead.exists(), "a dead process's directory is swept");
        assert!(live.exists(), "pid 1 runs: its directory is kept");
        assert!(other.exists(), "another prefix is not touched");
    }

    #[test]
    fn the_directory_is_removed_when_the_process_exits() {
        let parent = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "scratch::tests::child_makes_a_scratch_dir",
                "--ignored",
            ])
            .env("SCRATCH_PARENT", parent.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let left: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    /// Run by the test above in a process of its own.
    #[test]
    #[ignore = "run by the_directory_is_removed_when_the_process_exits"]
    fn child_makes_a_scratch_dir() {
        let parent = std::env::var_os("SCRATCH_PARENT").unwrap();
        let dir = process_scratch_dir(Path::new(&parent), "c-").unwrap();
        std::fs::write(dir.join("file"), b"x").unwrap();
    }
}
