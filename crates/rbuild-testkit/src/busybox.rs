//! A busybox root filesystem built at test time from Debian's busybox-static.

use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::require_tool;

/// Where Debian's busybox-static installs the binary.
pub const BUSYBOX: &str = "/usr/bin/busybox";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
app:x:1000:1000:app:/home/app:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n";

fn mkdir(root: &Path, rel: &str, mode: u32) -> std::io::Result<()> {
    let p = root.join(rel);
    fs::create_dir_all(&p)?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))
}

/// Fills `root` with busybox, its applet links in /bin, /etc/passwd and /etc/group (root and
/// the non-root user `app`, uid/gid 1000), /tmp with mode 1777 and the usual empty dirs.
pub fn busybox_rootfs(root: &Path) -> std::io::Result<()> {
    let busybox = require_tool("busybox", "busybox-static");
    for (dir, mode) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home/app", 0o755),
    ] {
        mkdir(root, dir, mode)?;
    }
    for dir in ["dev", "proc", "sys", "usr/bin", "var"] {
        mkdir(root, dir, 0o755)?;
    }
    chown(root.join("home/app"), Some(1000), Some(1000))?;
    fs::copy(&busybox, root.join("bin/busybox"))?;
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
    let list = Command::new(&busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", link)?;
        }
    }
    fs::write(root.join("etc/passwd"), PASSWD)?;
    fs::write(root.join("etc/group"), GROUP)?;
    Ok(())
}

/// Writes a tarball of a fresh busybox root filesystem to `out` (numeric owners).
pub fn busybox_tarball(out: &Path) -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    busybox_rootfs(dir.path())?;
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(dir.path())
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("tar failed: {status}")));
    }
    Ok(())
}
