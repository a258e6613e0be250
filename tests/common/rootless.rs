//! An ordinary user for the rootless tests: created (with subordinate ids) by the test itself,
//! running the rbuild binary with none of root's privileges.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use rbuild_testkit::{process_scratch_dir, require_root};

use super::{text, DEAD_PROXY, LOCAL_HOSTS};

/// The user's name.
pub const USER: &str = "rbuild-rootless";

/// A user without subordinate ids (a system account: useradd gives it none).
pub const USER_WITHOUT_IDS: &str = "rbuild-noids";

/// A user a rootless test runs as, and a copy of rbuild it can execute.
pub struct Account {
    pub name: &'static str,
    pub uid: u32,
    pub gid: u32,
    bin: PathBuf,
}

fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
    out
}

fn id(flag: &str, user: &str) -> u32 {
    let out = sh(Command::new("id").args([flag, user]));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The first id above every range /etc/subuid or /etc/subgid hands out (at least 100000).
fn next_free(file: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':').skip(1);
            Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
        })
        .fold(100_000, u64::max)
}

/// Gives the user 65536 subordinate uids and gids unless it has them.
fn subordinate_ids() {
    let _files = ACCOUNTS_FILES.lock().unwrap_or_else(|e| e.into_inner());
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
            continue;
        }
        let start = next_free(file);
        let range = format!("{start}-{}", start + 65535);
        sh(Command::new("usermod").args([flag, &range, USER]));
    }
}

/// Debian's udev makes /dev/net/tun 0666; some images leave it 0600, and the network helper
/// of a rootless RUN opens it as the user. `rbuild doctor` names this same fix.
fn tun_for_everyone() {
    let tun = Path::new("/dev/net/tun");
    let mode = std::fs::metadata(tun)
        .unwrap_or_else(|e| panic!("/dev/net/tun is missing ({e}): the tun module is needed"))
        .permissions()
        .mode();
    if mode & 0o666 != 0o666 {
        eprintln!("setup: chmod 0666 /dev/net/tun (was {:o})", mode & 0o777);
        std::fs::set_permissions(tun, std::fs::Permissions::from_mode(0o20666)).unwrap();
    }
}

/// Held while /etc/passwd, /etc/subuid or /etc/subgid are changed: two useradd or usermod at
/// once fail to lock the files (tests of one binary run in parallel).
static ACCOUNTS_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Creates `user` unless it exists (`--system`: no subordinate ids are given it).
fn create_user(user: &str, system: bool) {
    require_root("creating the unprivileged users of the rootless tests");
    let _files = ACCOUNTS_FILES.lock().unwrap_or_else(|e| e.into_inner());
    if Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success()
    {
        return;
    }
    let mut cmd = Command::new("useradd");
    cmd.args(["--no-create-home", "--home-dir", "/nonexistent"])
        .args(["--shell", "/usr/sbin/nologin", user]);
    if system {
        cmd.arg("--system");
    }
    sh(&mut cmd);
}

/// A copy of rbuild any user may run: the test binary's own path may sit below a directory
/// only root can enter.
fn shared_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // ~100 MB a copy: one per test process, removed when it exits.
        let dir = process_scratch_dir(&std::env::temp_dir(), "rbuild-rootless-bin-").unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.join("rbuild");
        std::fs::copy(env!("CARGO_BIN_EXE_rbuild"), &bin).unwrap();
        bin
    })
    .clone()
}

fn make_account(name: &'static str) -> Account {
    tun_for_everyone();
    Account {
        name,
        uid: id("-u", name),
        gid: id("-g", name),
        bin: shared_binary(),
    }
}

/// The account with subordinate ids, made once per test process.
pub fn account() -> &'static Account {
    static ACCOUNT: OnceLock<Account> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        create_user(USER, false);
        subordinate_ids();
        make_account(USER)
    })
}

/// The account without subordinate ids, made once per test process.
pub fn account_without_ids() -> &'static Account {
    static ACCOUNT: OnceLock<Account> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        create_user(USER_WITHOUT_IDS, true);
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let prefix = format!("{USER_WITHOUT_IDS}:");
            assert!(
                !text.lines().any(|l| l.starts_with(&prefix)),
                "{file} gives {USER_WITHOUT_IDS} ids"
            );
        }
        make_account(USER_WITHOUT_IDS)
    })
}

impl Account {
    /// The directory holding the user's copy of rbuild.
    pub fn bin_dir(&self) -> &Path {
        self.bin.parent().unwrap_or(Path::new("/"))
    }
}

/// One test's home: a directory the user owns, holding its HOME, its XDG data (the store) and
/// whatever the test writes there.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub account: &'static Account,
}

impl Home {
    /// A fresh home for the user with subordinate ids.
    pub fn new() -> Home {
        Home::for_account(account())
    }

    /// A fresh home for `account`.
    pub fn for_account(account: &'static Account) -> Home {
        let dir = tempfile::tempdir().unwrap();
        let home = Home { dir, account };
        for sub in ["home", "data", "docker"] {
            std::fs::create_dir_all(home.path().join(sub)).unwrap();
        }
        home.give(home.path());
        home
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store rbuild picks by default for the user: `$XDG_DATA_HOME/rbuild`.
    pub fn store(&self) -> PathBuf {
        self.path().join("data/rbuild")
    }

    /// Hands `path` and everything below it (written by the test as root) to the user; never
    /// the store, whose files belong to the user's subordinate ids too.
    pub fn give(&self, path: &Path) {
        let owner = format!("{}:{}", self.account.uid, self.account.gid);
        sh(Command::new("chown").args(["-R", &owner]).arg(path));
    }

    /// rbuild as the user: no --root (the default store), a clean environment but for HOME,
    /// XDG_DATA_HOME, DOCKER_CONFIG, the dead proxy and an empty configuration.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.account.bin);
        cmd.uid(self.account.uid).gid(self.account.gid);
        self.environment(cmd)
    }

    /// Like [`Home::command`], but started in the cgroup v2 directory `cgroup` (root moves the
    /// shell there, then setpriv becomes the user and execs rbuild).
    pub fn command_in_cgroup(&self, cgroup: &Path) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                "echo $$ > \"$0/cgroup.procs\" && u=$1 g=$2 bin=$3 && shift 3 && \
                 exec setpriv --reuid \"$u\" --regid \"$g\" --clear-groups \"$bin\" \"$@\"",
            )
            .arg(cgroup)
            .arg(self.account.uid.to_string())
            .arg(self.account.gid.to_string())
            .arg(&self.account.bin);
        self.environment(cmd)
    }

    /// `sh -c` as the user, with the same environment as [`Home::command`].
    pub fn shell_as_user(&self) -> Command {
        let mut cmd = Command::new("sh");
        cmd.uid(self.account.uid).gid(self.account.gid).arg("-c");
        self.environment(cmd)
    }

    fn environment(&self, mut cmd: Command) -> Command {
        cmd.current_dir(self.path())
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("USER", self.account.name)
            .env("LOGNAME", self.account.name)
            .env("HOME", self.path().join("home"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("DOCKER_CONFIG", self.path().join("docker"))
            .env("RBUILD_CONFIG", "/dev/null")
            .stdin(Stdio::null());
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
            cmd.env(var, DEAD_PROXY).env(var.to_lowercase(), DEAD_PROXY);
        }
        cmd.env("NO_PROXY", LOCAL_HOSTS)
            .env("no_proxy", LOCAL_HOSTS);
        cmd
    }

    /// Runs rbuild as the user.
    pub fn rbuild(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Runs rbuild as the user, asserting success; returns stdout and stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.rbuild(args);
        assert!(
            out.status.success(),
            "rbuild {args:?} failed:\n{}",
            text(&out)
        );
        text(&out)
    }

    /// Builds `ctx` as the user into the local directory `name` of this home, asserting
    /// success; returns the log and the directory.
    pub fn build_local(&self, ctx: &Path, name: &str) -> (String, PathBuf) {
        let out = self.path().join(name);
        let dest = format!("type=local,dest={}", out.display());
        let log = self.ok(&[
            "build",
            "--progress",
            "plain",
            "-o",
            &dest,
            ctx.to_str().unwrap(),
        ]);
        (log, out)
    }

    /// Imports the busybox base as `busybox:latest` into the user's store.
    pub fn import_busybox(&self) {
        let tar = self.path().join("busybox.tar");
        rbuild_testkit::busybox_tarball(&tar).unwrap();
        self.give(&tar);
        self.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    }

    /// Writes a build context `name` of (path, content) files, owned by the user.
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        self.give(&dir);
        dir
    }
}
