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

/// This process's run cgroups (named `<pid>-...`) left under every `rbuild` parent.
pub fn leftover_cgroups() -> Vec<PathBuf> {
    let mut left = Vec::new();
    let prefix = format!("{}-", std::process::id());
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .chain(
            fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        )
    {
        let Ok(rd) = fs::read_dir(base.join("rbuild")) else {
            continue;
        };
        left.extend(
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path()),
        );
    }
    left.sort();
    left.dedup();
    left
}

/// The pid of the host process whose command line contains `needle`, if one runs.
pub fn pid_with_cmdline(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains(needle) && pid != std::process::id()).then_some(pid)
    })
}

/// The cgroup directories process `pid` is in, one per mounted hierarchy, from its
/// /proc/PID/cgroup (paths as this process sees them) and this process's mounts.
pub fn cgroup_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for m in mounts.lines() {
            let Some((left, right)) = m.split_once(" - ") else {
                continue;
            };
            let point = left.split(' ').nth(4).unwrap_or("");
            let mut r = right.split(' ');
            let (fstype, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
            let matches = match fstype {
                "cgroup" => {
                    !ctrls.is_empty() && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c))
                }
                "cgroup2" => ctrls.is_empty(),
                _ => false,
            };
            if matches {
                dirs.push(std::path::Path::new(point).join(path.trim_start_matches('/')));
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Runs `sp` (in scratch `s`) with its command replaced by a call to this test that waits for
/// the answer, and calls `during` meanwhile with the pid of the run's process; the run must
/// then exit 0. Nothing is timed: the run is stopped exactly while `during` looks.
pub fn while_running<T>(s: Scratch, mut sp: RunSpec, during: impl FnOnce(u32) -> T) -> T {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let needle = format!("127.0.0.1:{port}/while-running");
    // The call goes to this process's loopback, which only the host's network reaches.
    sp.network = rbuild_sandbox::NetworkMode::Host;
    sp.argv = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("wget -q -O- http://{needle}"),
    ];
    let runner = std::thread::spawn(move || {
        let out = run_ok(&sp);
        drop(s);
        out
    });
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut conn = loop {
        if let Ok((c, _)) = listener.accept() {
            break c;
        }
        assert!(!runner.is_finished(), "the run ended before it called");
        assert!(std::time::Instant::now() < deadline, "the run never called");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let pid = pid_with_cmdline(&needle).expect("the run's process is gone");
    let result = during(pid);
    conn.set_nonblocking(false).unwrap();
    conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        .unwrap();
    drop(conn);
    assert_eq!(runner.join().unwrap(), "ok\n");
    result
}

/// The run cgroups (under `rbuild/`) process `pid` is in.
pub fn run_cgroups_of(pid: u32) -> Vec<PathBuf> {
    cgroup_dirs_of(pid)
        .into_iter()
        .filter(|d| d.to_string_lossy().contains("/rbuild/"))
        .collect()
}
