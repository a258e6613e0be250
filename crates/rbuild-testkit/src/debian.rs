//! A Debian bookworm base image (`debootstrap --variant=minbase`) from the Debian mirror this
//! machine reaches, shaped like Docker's official `debian:bookworm`: empty apt lists and
//! archives, and its `docker-clean` apt configuration. Made once and kept under
//! [`DEBIAN_CACHE_DIR`], so the suite pays for debootstrap (about a minute) once per machine.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_tool;

/// Where the tarball is kept between test runs.
pub const DEBIAN_CACHE_DIR: &str = "/var/cache/rbuild-test";

/// The mirror debootstrap uses unless `RBUILD_TEST_DEBIAN_MIRROR` names another.
pub const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

const TARBALL: &str = "debian-bookworm-minbase.tar";

/// Docker's official Debian images ship this file; it deletes downloaded packages after every
/// install, which is why BuildKit's apt cache-mount example removes it.
const DOCKER_CLEAN: &str = "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };\n\
Dir::Cache::pkgcache \"\";\n\
Dir::Cache::srcpkgcache \"\";\n";

/// The path of the Debian base tarball (numeric owners), made on first use. Concurrent callers
/// (test threads or processes) wait for one debootstrap instead of each running their own.
pub fn debian_tarball_path() -> io::Result<PathBuf> {
    let dir = Path::new(DEBIAN_CACHE_DIR);
    fs::create_dir_all(dir)?;
    let tarball = dir.join(TARBALL);
    let lock = File::create(dir.join(format!("{TARBALL}.lock")))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if !tarball.is_file() {
        make_tarball(dir, &tarball)?;
    }
    Ok(tarball)
}

/// Writes the Debian base tarball to `out` (a hard link to the cached one when possible).
pub fn debian_tarball(out: &Path) -> io::Result<()> {
    let cached = debian_tarball_path()?;
    if fs::hard_link(&cached, out).is_err() {
        fs::copy(&cached, out)?;
    }
    Ok(())
}

fn make_tarball(dir: &Path, tarball: &Path) -> io::Result<()> {
    let debootstrap = require_tool("debootstrap", "debootstrap");
    let work = tempfile::tempdir_in(dir)?;
    let root = work.path().join("root");
    let mirror = std::env::var("RBUILD_TEST_DEBIAN_MIRROR").unwrap_or(DEBIAN_MIRROR.into());
    let out = Command::new(debootstrap)
        .args(["--variant=minbase", "bookworm"])
        .arg(&root)
        .arg(&mirror)
        .output()?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        return Err(io::Error::other(format!(
            "debootstrap --variant=minbase bookworm from {mirror} failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    like_docker_image(&root)?;
    let partial = work.path().join("debian.tar");
    let status = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&root)
        .arg("-cf")
        .arg(&partial)
        .arg(".")
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "tar of the Debian root failed: {status}"
        )));
    }
    // Renamed into place only when complete: an interrupted run leaves no half tarball.
    fs::rename(&partial, tarball)
}

/// What Docker's image has and debootstrap's tree lacks (or the reverse).
fn like_docker_image(root: &Path) -> io::Result<()> {
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "var/cache/apt",
    ] {
        for e in fs::read_dir(root.join(dir))? {
            let e = e?;
            if e.file_type()?.is_file() {
                fs::remove_file(e.path())?;
            }
        }
    }
    fs::write(root.join("etc/apt/apt.conf.d/docker-clean"), DOCKER_CLEAN)
}
