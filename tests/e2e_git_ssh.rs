//! Issue 14: `ADD` of a git repository over ssh uses only the agent `--ssh` forwards, never
//! the host's keys, agent or `~/.ssh`. A local `sshd` on 127.0.0.1 (its own host key, one
//! authorized key) serves a bare repository; an `ssh-agent` the test starts holds that key.
//! The builds that must not authenticate run with a fake home (`$HOME` and, through a private
//! mount namespace, the passwd home `/root` that ssh really reads) holding the authorized key
//! as `~/.ssh/id_ed25519`, an `~/.ssh/config` and a `~/.gitconfig` naming it, and with the
//! key's agent in `SSH_AUTH_SOCK`: sshd's log must show no new accepted key.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::context::{rootfs, sh, write};
use common::mounts::TestAgent;
use common::{text, Env};
use rbuild_testkit::require_tool;

/// An `sshd -D` on 127.0.0.1 logging to a file; killed on drop.
struct TestSshd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl TestSshd {
    /// Starts sshd in `dir` with a fresh host key, accepting `authorized` (a public key file).
    fn start(dir: &Path, authorized: &Path) -> TestSshd {
        let sshd = require_tool("sshd", "openssh-server");
        let keygen = require_tool("ssh-keygen", "openssh-client");
        let host_key = dir.join("host_ed25519");
        let out = Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen: {}", text(&out));
        std::fs::copy(authorized, dir.join("authorized_keys")).unwrap();
        // sshd refuses to start without its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\n\
             AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
        );
        write(&dir.join("sshd_config"), &config);
        let log = dir.join("sshd.log");
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let waited = start.elapsed() < Duration::from_secs(10);
            assert!(
                waited,
                "sshd did not listen: {:?}",
                std::fs::read_to_string(&log)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TestSshd { child, port, log }
    }

    /// The `Accepted publickey ...` lines of its log so far.
    fn accepted(&self) -> Vec<String> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("Accepted publickey"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare repository `srv/repo.git` (branch main, `hello.txt`) under `dir`.
fn repository(dir: &Path) -> PathBuf {
    write(&dir.join("src/hello.txt"), "over ssh\n");
    let git = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main";
    sh(
        &format!("cd src && {git} init -q && {git} add . && {git} commit -qm one"),
        dir,
    );
    sh("git clone -q --bare src srv/repo.git", dir);
    dir.join("srv/repo.git")
}

/// A home holding `key` the ways a host offers it to ssh and git.
fn fake_home(dir: &Path, key: &Path) -> PathBuf {
    let home = dir.join("home");
    let ssh = home.join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::copy(key, ssh.join("id_ed25519")).unwrap();
    std::fs::copy(key.with_extension("pub"), ssh.join("id_ed25519.pub")).unwrap();
    let k = ssh.join("id_ed25519");
    let k = k.display();
    write(
        &ssh.join("config"),
        &format!("Host *\n  User root\n  IdentityFile {k}\n  StrictHostKeyChecking no\n"),
    );
    write(
        &home.join(".gitconfig"),
        &format!("[core]\n\tsshCommand = ssh -i {k} -o StrictHostKeyChecking=no\n"),
    );
    sh(&format!("chmod -R go-rwx {}", home.display()), dir);
    home
}

/// `cmd` run in a private mount namespace where `home` is mounted on `/root` (the passwd home
/// ssh reads `~/.ssh` from, whatever `$HOME` says) and is `$HOME`.
fn in_fake_home(cmd: &Command, home: &Path) -> Command {
    let mut wrapped = Command::new(require_tool("unshare", "util-linux"));
    wrapped
        .args([
            "-m",
            "--",
            "sh",
            "-c",
            r#"mount --bind "$0" /root && exec "$@""#,
        ])
        .arg(home)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped.env("HOME", home);
    wrapped
}

/// A store, an agent holding the key sshd accepts, sshd serving the repository, and a
/// context whose Dockerfile ADDs it over ssh.
struct Fixture {
    env: Env,
    agent: TestAgent,
    sshd: TestSshd,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::new();
        let dir = tempfile::tempdir().unwrap();
        let agent = TestAgent::start("git-deploy");
        let sshd = TestSshd::start(dir.path(), &agent.key.with_extension("pub"));
        let repo = repository(dir.path());
        let url = format!("ssh://root@127.0.0.1:{}{}", sshd.port, repo.display());
        write(
            &dir.path().join("ctx/Dockerfile"),
            &format!("FROM busybox:latest\nADD {url}#main /src/\n"),
        );
        Fixture {
            env,
            agent,
            sshd,
            dir,
        }
    }

    /// `rbuild build` of the context as `tag` with `extra` flags and `SSH_AUTH_SOCK=sock`.
    fn build(&self, tag: &str, extra: &[&str], sock: Option<&Path>) -> Command {
        let mut cmd = self.env.command();
        cmd.args(["build", "--progress", "plain", "-t", tag])
            .args(extra)
            .arg(self.dir.path().join("ctx"));
        match sock {
            Some(s) => cmd.env("SSH_AUTH_SOCK", s),
            None => cmd.env_remove("SSH_AUTH_SOCK"),
        };
        cmd
    }

    /// Runs `cmd` in a fake home holding the accepted key; it must fail saying `why`, with
    /// no key accepted by sshd meanwhile.
    fn fails_in_fake_home(&self, cmd: &Command, why: &str) {
        let home = fake_home(self.dir.path(), &self.agent.key);
        let before = self.sshd.accepted();
        let out = in_fake_home(cmd, &home).output().unwrap();
        let log = text(&out);
        assert!(!out.status.success(), "it built:\n{log}");
        assert!(log.contains(why), "the error says {why:?}:\n{log}");
        assert_eq!(self.sshd.accepted(), before, "sshd accepted a key");
    }
}

#[test]
fn add_git_over_ssh_uses_the_forwarded_agent_or_the_served_key_files() {
    let f = Fixture::new();
    // --ssh default: the forwarded agent's key is the one sshd accepts.
    let sock = Some(f.agent.socket.as_path());
    let out = f
        .build("git:1", &["--ssh", "default"], sock)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let hello = rootfs(&f.env, "git:1").join("src/hello.txt");
    assert_eq!(std::fs::read_to_string(hello).unwrap(), "over ssh\n");
    let accepted = f.sshd.accepted();
    assert!(
        accepted.iter().any(|l| l.contains(&f.agent.fingerprint)),
        "sshd accepted the agent's key: {accepted:?}"
    );
    // --ssh default=KEYFILE: rbuild serves the key with its own agent.
    let key = format!("default={}", f.agent.key.display());
    let mut cmd = f.build("git:2", &["--ssh", &key, "--no-cache"], None);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(f.sshd.accepted().len() > accepted.len(), "no new login");
}

#[test]
fn add_git_over_ssh_never_uses_the_hosts_keys_agent_or_config() {
    let f = Fixture::new();
    // No --ssh: the accepted key in ~/.ssh, ~/.ssh/config, ~/.gitconfig and SSH_AUTH_SOCK are
    // all there, and none is used.
    let sock = Some(f.agent.socket.as_path());
    f.fails_in_fake_home(&f.build("git:3", &[], sock), "needs --ssh");
    // --ssh default with an agent whose key sshd does not know: ssh tries no other key.
    let other = TestAgent::start("not-authorized");
    let cmd = f.build("git:4", &["--ssh", "default"], Some(&other.socket));
    f.fails_in_fake_home(&cmd, "Permission denied");
}

#[test]
fn a_git_build_context_over_ssh_follows_the_same_rules() {
    let f = Fixture::new();
    // The repository Fixture::new made.
    let repo = f.dir.path().join("srv/repo.git");
    let url = format!(
        "ssh://root@127.0.0.1:{}{}#main",
        f.sshd.port,
        repo.display()
    );
    let dockerfile = f.dir.path().join("local.Dockerfile");
    write(&dockerfile, "FROM busybox:latest\nCOPY hello.txt /\n");
    let build = |tag: &str, extra: &[&str]| {
        let mut cmd = f.env.command();
        cmd.args(["build", "--progress", "plain", "-t", tag, "-f"])
            .arg(&dockerfile)
            .args(extra)
            .arg(&url)
            .env_remove("SSH_AUTH_SOCK");
        cmd
    };
    // --ssh default=KEYFILE: rbuild serves the key with its own agent, as for ADD.
    let key = format!("default={}", f.agent.key.display());
    let out = build("gitctx:1", &["--ssh", &key]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let hello = rootfs(&f.env, "gitctx:1").join("hello.txt");
    assert_eq!(std::fs::read_to_string(hello).unwrap(), "over ssh\n");
    // No --ssh: the host's key in ~/.ssh is not used.
    f.fails_in_fake_home(&build("gitctx:2", &[]), "needs --ssh");
}
