//! A loop block device for the device allow-list tests.

use super::{Ran, Scratch};
use std::fs;
use std::path::{Path, PathBuf};

/// A loop block device over a 1 MiB file that starts with `marker`; detached on drop.
pub struct LoopDisk {
    pub dev: String,
    file: PathBuf,
}

impl LoopDisk {
    pub fn new(s: &Scratch, marker: &str) -> LoopDisk {
        assert!(
            Path::new("/usr/sbin/losetup").exists() || Path::new("/sbin/losetup").exists(),
            "losetup is missing (util-linux's mount package)"
        );
        let file = s.path("disk.img");
        let mut body = marker.as_bytes().to_vec();
        body.resize(1 << 20, 0);
        fs::write(&file, body).unwrap();
        let out = std::process::Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup failed (the loop module is needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        LoopDisk { dev, file }
    }

    /// (major, minor) of the device.
    pub fn numbers(&self) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt;
        let rdev = fs::metadata(&self.dev).unwrap().rdev();
        (libc::major(rdev), libc::minor(rdev))
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.dev])
            .status();
        let _ = fs::remove_file(&self.file);
    }
}

/// The script that tries the disk: mknod is allowed, reading the node must fail.
pub fn disk_script(disk: &LoopDisk) -> String {
    let (major, minor) = disk.numbers();
    format!(
        "mknod /tmp/disk b {major} {minor} && echo MKNOD-OK; head -c 20 /tmp/disk; echo; \
         mknod /tmp/null c 1 3 && echo ok > /tmp/null && head -c 3 /dev/zero | wc -c && echo ALLOWED-OK"
    )
}

/// Checks the output of [`disk_script`]: the node was made, its content never read (EPERM), the
/// allowed device used.
pub fn assert_disk_refused(r: &Ran, marker: &str) {
    let all = format!("{}{}", r.stdout, r.stderr);
    // The script reads 20 bytes.
    let seen = &marker[..marker.len().min(20)];
    assert!(!all.contains(seen), "RUN read the host block device: {all}");
    assert!(
        r.stdout.contains("MKNOD-OK"),
        "mknod of a block node must still work: {all}"
    );
    assert!(
        r.stderr.contains("Operation not permitted"),
        "not EPERM: {all}"
    );
    assert!(
        r.stdout.contains("3\nALLOWED-OK"),
        "an allowed device failed: {all}"
    );
}
