//! Shared helpers of the integration tests: prerequisites, a busybox rootfs, running specs.
#![allow(dead_code)]

use rbuild_sandbox::{ExitReason, OutputStream, RunSpec};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const BUSYBOX: &str = "/usr/bin/busybox";

/// Fails (never skips) with a message naming what is missing.
pub fn require_prereqs() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (euid 0)"
    );
    if let Err(e) = rbuild_sandbox::probe() {
        panic!("sandbox prerequisites missing: {e}");
    }
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static"
    );
    // Every RUN has a private network unless it asks for another.
    assert!(
        ["/usr/bin/slirp4netns", "/usr/local/bin/slirp4netns"]
            .iter()
            .any(|p| Path::new(p).exists()),
        "slirp4netns is missing: apt-get install slirp4netns"
    );
}

/// A per-test scratch dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("rbuild-sandbox-it-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A minimal rootfs: busybox with applet symlinks in /bin, /etc/passwd and /etc/group with
/// root and app (1000:1000), /tmp (1777). No /proc, /dev, /sys or /etc/hosts on purpose.
pub fn busybox_rootfs(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    let out = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .unwrap();
    fs::create_dir_all(dir.join("tmp")).unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir_all(dir.join("home/app")).unwrap();
    std::os::unix::fs::chown(dir.join("home/app"), Some(1000), Some(1000)).unwrap();
}

/// A spec over a fresh busybox rootfs in `s`, running `sh -c script`.
pub fn spec(s: &Scratch, script: &str) -> RunSpec {
    let root = s.path("rootfs");
    if !root.exists() {
        busybox_rootfs(&root);
    }
    for d in ["upper", "work"] {
        let _ = fs::remove_dir_all(s.path(d));
        fs::create_dir_all(s.path(d)).unwrap();
    }
    RunSpec {
        lowers: vec![root],
        upper: s.path("upper"),
        work: s.path("work"),
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec!["PATH=/bin".into()],
        cwd: "/".into(),
        hostname: "sandbox".into(),
        ..Default::default()
    }
}

/// The output of a run.
#[derive(Debug)]
pub struct Ran {
    pub reason: ExitReason,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(spec: &RunSpec) -> Ran {
    try_run(spec).unwrap_or_else(|e| panic!("sandbox run failed: {e}"))
}

/// Runs `spec`; Err when the sandbox itself failed (setup, init).
pub fn try_run(spec: &RunSpec) -> Result<Ran, rbuild_sandbox::SandboxError> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exe = Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let outcome = rbuild_sandbox::run(spec, exe, &mut |s, b| match s {
        OutputStream::Stdout => out.extend_from_slice(b),
        OutputStream::Stderr => err.extend_from_slice(b),
    })?;
    Ok(Ran {
        reason: outcome.reason,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// Runs and asserts exit 0, returning stdout.
pub fn run_ok(spec: &RunSpec) -> String {
    let r = run(spec);
    assert_eq!(
        r.reason,
        ExitReason::Exited(0),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    r.stdout
}

/// Every path under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

mod disk;
mod running;
// Each test binary uses only some helpers.
#[allow(unused_imports)]
pub use disk::*;
#[allow(unused_imports)]
pub use running::*;
