//! Helpers of the `RUN --mount` tests: reading one step out of a plain-progress log, a Debian
//! base in a test store, an ssh-agent holding a fresh key, and the locks a build waits on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rbuild_testkit::{debian_tarball_path, require_tool};

use super::{text, Env};

/// The number `N` of the step whose `#N [..]` header line contains `needle`.
pub fn step_number(log: &str, needle: &str) -> String {
    log.lines()
        .filter(|l| l.starts_with('#') && l.contains(needle))
        .find_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            rest.starts_with('[').then(|| n.to_string())
        })
        .unwrap_or_else(|| panic!("no step header containing {needle:?} in:\n{log}"))
}

/// Whether the step whose header contains `needle` was taken from the cache.
pub fn step_cached(log: &str, needle: &str) -> bool {
    let n = step_number(log, needle);
    log.lines().any(|l| l == format!("{n} CACHED"))
}

/// What the step whose header contains `needle` printed, one entry per line.
pub fn step_output(log: &str, needle: &str) -> Vec<String> {
    let prefix = format!("{} ", step_number(log, needle));
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (secs, out) = rest.split_once(' ')?;
            secs.parse::<f64>().ok().map(|_| out.to_string())
        })
        .collect()
}

/// Writes `body` as the Dockerfile of `ctx`.
pub fn dockerfile(ctx: &Path, body: &str) {
    std::fs::write(ctx.join("Dockerfile"), body).unwrap();
}

/// A fresh store with busybox and the Debian base (imported as `debian:bookworm`).
pub fn debian_env() -> Env {
    let env = Env::new();
    let tar = debian_tarball_path().unwrap_or_else(|e| {
        panic!("the Debian base (debootstrap --variant=minbase bookworm) cannot be made: {e}")
    });
    let out = env.rbuild(&["import", tar.to_str().unwrap(), "debian:bookworm"]);
    assert!(
        out.status.success(),
        "import of Debian failed: {}",
        text(&out)
    );
    env
}

/// An `ssh-agent -D` the test runs, holding one fresh ed25519 key; killed on drop.
pub struct TestAgent {
    child: Child,
    /// The agent's socket (what `SSH_AUTH_SOCK` names).
    pub socket: PathBuf,
    /// The private key file (for `--ssh ID=KEYFILE`).
    pub key: PathBuf,
    /// The key's `ssh-keygen -l` fingerprint, `SHA256:...`.
    pub fingerprint: String,
    _dir: tempfile::TempDir,
}

impl TestAgent {
    /// Generates a key with ssh-keygen (comment `comment`), starts an agent and adds the key.
    pub fn start(comment: &str) -> TestAgent {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        let keygen = require_tool("ssh-keygen", "openssh-client");
        let out = Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen: {}", text(&out));
        let socket = dir.path().join("agent.sock");
        let child = Command::new(require_tool("ssh-agent", "openssh-client"))
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // ssh-agent binds its socket before it listens: on a loaded machine a client can
        // find the file and still be refused, so the first ssh-add is retried until the
        // agent answers (found flaky under `stress --cpu 2`: "Connection refused").
        let ssh_add = require_tool("ssh-add", "openssh-client");
        let start = Instant::now();
        let out = loop {
            let out = Command::new(&ssh_add)
                .arg(&key)
                .env("SSH_AUTH_SOCK", &socket)
                .output()
                .unwrap();
            // Before the agent binds: no such file; between bind and listen: refused.
            let said = text(&out);
            let not_yet = said.contains("Connection refused") || said.contains("No such file");
            if out.status.success() || !not_yet || start.elapsed() > Duration::from_secs(10) {
                break out;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(out.status.success(), "ssh-add: {}", text(&out));
        let fingerprint = fingerprint(&key.with_extension("pub"));
        TestAgent {
            child,
            socket,
            key,
            fingerprint,
            _dir: dir,
        }
    }
}

/// The `SHA256:...` fingerprint of a public key file.
fn fingerprint(public: &Path) -> String {
    let out = Command::new(require_tool("ssh-keygen", "openssh-client"))
        .arg("-lf")
        .arg(public)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen -l: {}", text(&out));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    line.split_whitespace().nth(1).unwrap().to_string()
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` is blocked waiting for a `flock` on a file under `dir` (from the
/// `->` lines of /proc/locks, which list waiters, matched to `dir`'s files by inode).
pub fn waits_for_lock_under(pid: u32, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inodes: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok().map(|m| m.ino()))
        .collect();
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "N: -> FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE START END"
        f.get(1) == Some(&"->")
            && f.get(2) == Some(&"FLOCK")
            && f.get(5) == Some(&pid.to_string().as_str())
            && f.get(6)
                .and_then(|dev| dev.rsplit(':').next())
                .and_then(|ino| ino.parse::<u64>().ok())
                .is_some_and(|ino| inodes.contains(&ino))
    })
}
