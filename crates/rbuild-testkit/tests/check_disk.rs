//! scripts/check-disk.sh, which the test command runs before it builds: short of disk, it fails
//! naming the filesystem instead of letting the linker die of SIGBUS half-way through.

use std::path::Path;
use std::process::Command;

use rbuild_testkit::require_root;

/// A tmpfs of `mib` MiB mounted on a fresh directory, unmounted when dropped.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn new(mib: u32) -> SmallFs {
        require_root("mounting a small tmpfs to run the disk check on");
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.path().display());
        SmallFs(dir)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_temporary_directory_short_of_space_fails_the_check_naming_it() {
    let small = SmallFs::new(16);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check-disk.sh");
    let out = Command::new(script)
        .env("TMPDIR", small.0.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let want = format!(
        "not enough disk for the test suite: {}'s filesystem has 16 MiB free;",
        small.0.path().display()
    );
    assert!(stderr.contains(&want), "stderr: {stderr}");
    assert!(
        stderr.contains("need about 2048 MiB there"),
        "stderr: {stderr}"
    );
}
