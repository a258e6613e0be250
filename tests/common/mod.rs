//! Shared helpers for end-to-end tests: run the real rbuild binary against a fresh store,
//! sealed from the machine it runs on (see [`rbuild_command`]).

#![allow(dead_code)]

pub mod context;
pub mod fsread;
pub mod fstree;
pub mod gate;
pub mod hostile;
pub mod images;
pub mod leaks;
pub mod mounts;
pub mod registry;
pub mod remote_cache;
pub mod rootless;
pub mod sandbox;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

use rbuild_testkit::{busybox_tarball, require_root, require_tool};

/// A fresh store with a busybox base imported as `busybox:latest`.
pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    /// Creates the store and imports the busybox base.
    pub fn new() -> Env {
        require_root("building images (RUN needs namespaces and overlayfs)");
        let root = tempfile::tempdir().unwrap();
        let env = Env { root };
        let tar = env.root.path().join("busybox.tar");
        busybox_tarball(&tar).unwrap();
        let out = env.rbuild(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(out.status.success(), "import failed: {}", text(&out));
        env
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.root.path().join("store")
    }

    /// This store's Docker config directory: empty, so no credential of the machine's is used.
    pub fn docker_config(&self) -> PathBuf {
        let dir = self.root.path().join("docker-config");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The sealed rbuild command on this store (see [`rbuild_command`]).
    pub fn command(&self) -> Command {
        rbuild_command(&self.store(), &self.docker_config())
    }

    /// Runs rbuild with `--root` set to this store.
    pub fn rbuild(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `rbuild build --progress plain <extra> <context>`, whatever its outcome.
    pub fn build_with(&self, context: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["build", "--progress", "plain"];
        args.extend_from_slice(extra);
        args.push(context.to_str().unwrap());
        self.rbuild(&args)
    }

    /// Builds `context` as `tag` (with optional extra args), asserting success; returns stdout
    /// and stderr.
    pub fn build_ok(&self, context: &Path, tag: &str, extra: &[&str]) -> String {
        let out = self.build_with(context, &[&["-t", tag], extra].concat());
        let ctx = context.display();
        assert!(
            out.status.success(),
            "build of {ctx} failed:\n{}",
            text(&out)
        );
        text(&out)
    }

    /// Builds `context` as `tag` (with optional extra args), asserting failure; returns stdout
    /// and stderr.
    pub fn build_fails(&self, context: &Path, tag: &str, extra: &[&str]) -> String {
        let out = self.build_with(context, &[&["-t", tag], extra].concat());
        let ctx = context.display();
        assert!(
            !out.status.success(),
            "build of {ctx} should have failed:\n{}",
            text(&out)
        );
        text(&out)
    }

    /// The manifest digest a tag points to, from `rbuild inspect`.
    pub fn manifest_digest(&self, tag: &str) -> String {
        let out = self.rbuild(&["inspect", tag]);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Digest"].as_str().unwrap().to_string()
    }

    /// The raw image config as skopeo reads it from the store's OCI layout.
    pub fn skopeo_config(&self, tag: &str) -> serde_json::Value {
        let skopeo = require_tool("skopeo", "skopeo");
        let out = Command::new(skopeo)
            .args(["inspect", "--config", "--raw"])
            .arg(format!("oci:{}:{tag}", self.store().display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect failed: {}",
            text(&out)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Unpacks the image with umoci into a runtime bundle; returns the bundle dir.
    pub fn umoci_unpack(&self, tag: &str) -> PathBuf {
        let umoci = require_tool("umoci", "umoci");
        let bundle = self
            .root
            .path()
            .join(format!("bundle-{}", tag.replace([':', '/'], "-")));
        let out = Command::new(umoci)
            .args(["unpack", "--image"])
            .arg(format!("{}:{tag}", self.store().display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "umoci unpack failed: {}", text(&out));
        bundle
    }

    /// Runs an unpacked bundle with runc (no terminal); returns stdout.
    pub fn runc_run(&self, bundle: &Path) -> String {
        let runc = require_tool("runc", "runc");
        let config = bundle.join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        spec["process"]["terminal"] = serde_json::Value::Bool(false);
        std::fs::write(&config, serde_json::to_vec(&spec).unwrap()).unwrap();
        let state = self.root.path().join("runc-state");
        let id = unique_name("rbuild-test");
        let out = Command::new(runc)
            .arg("--root")
            .arg(&state)
            .args(["run", "-b"])
            .arg(bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "runc run failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

/// Where every HTTP(S) request of a sealed rbuild goes unless it is to this machine: a port
/// nothing listens on (below 1024, so no test can bind it), so the connection is refused.
pub const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// Hosts a sealed rbuild reaches directly: the test registries and servers on loopback.
pub const LOCAL_HOSTS: &str = "127.0.0.1,localhost,::1";

/// The rbuild binary on `store`, sealed: `DOCKER_CONFIG` is `docker_config` (never the
/// caller's ~/.docker), and every request not to loopback goes to [`DEAD_PROXY`], so a test
/// can pull from no registry but its own (one relying on an image it lacks fails instead of
/// reaching Docker Hub). A test serving on another address of this machine adds it to
/// `NO_PROXY` itself. The configuration is empty (`RBUILD_CONFIG=/dev/null`), so the machine's
/// /etc/rbuild/rbuild.toml or ~/.config/rbuild/rbuild.toml changes nothing.
pub fn rbuild_command(store: &Path, docker_config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    cmd.arg("--root")
        .arg(store)
        .env("DOCKER_CONFIG", docker_config);
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        cmd.env(var, DEAD_PROXY).env(var.to_lowercase(), DEAD_PROXY);
    }
    cmd.env("NO_PROXY", LOCAL_HOSTS)
        .env("no_proxy", LOCAL_HOSTS);
    cmd.env_remove("RBUILD_ROOT");
    cmd.env("RBUILD_CONFIG", "/dev/null");
    cmd
}

/// `prefix-<pid>-<n>`: unique among every test of every test process running at once (runc
/// container ids name cgroups, which all processes share).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// stdout and stderr of a command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The project's directory.
pub fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Env {
    /// A fresh store (an ephemeral CI runner) holding the very busybox image of `first`
    /// (real runners pull their base by digest; importing the tarball again would make
    /// another image, its files' times differing).
    pub fn with_base_of(first: &Env) -> Env {
        let runner = Env::empty();
        let archive = runner.root.path().join("busybox-image.tar");
        let archive = archive.to_str().unwrap();
        let out = first.rbuild(&["save", "-o", archive, "busybox:latest"]);
        assert!(out.status.success(), "save: {}", text(&out));
        let out = runner.rbuild(&["load", "-i", archive]);
        assert!(out.status.success(), "load: {}", text(&out));
        runner
    }

    /// A fresh store with nothing in it (no busybox base).
    pub fn empty() -> Env {
        require_root("building images (RUN needs namespaces and overlayfs)");
        Env {
            root: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs rbuild with `--root` set to this store and extra environment variables.
    pub fn rbuild_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.command()
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs rbuild with `input` on its standard input.
    pub fn rbuild_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        // Written from a thread: rbuild may fill its output pipes before reading all of it.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// Runs rbuild under a pseudo-terminal (`script` from bsdutils), so that its standard
    /// streams are a terminal; stdout holds what the terminal showed.
    pub fn rbuild_pty(&self, args: &[&str]) -> Output {
        let script = rbuild_testkit::require_tool("script", "bsdutils");
        let mut line = shell_quote(env!("CARGO_BIN_EXE_rbuild"));
        for a in ["--root", self.store().to_str().unwrap()]
            .iter()
            .chain(args)
        {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        let mut cmd = self.command();
        // The sealed environment, with `script` in front of the binary.
        let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        cmd = Command::new(script);
        for (k, v) in envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts rbuild in the background, stdout and stderr appended to `log`.
    pub fn spawn(&self, args: &[&str], log: &Path) -> std::process::Child {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        self.command()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap()
    }

    /// Runs rbuild, asserting success; returns stdout.
    pub fn rbuild_ok(&self, args: &[&str]) -> String {
        let out = self.rbuild(args);
        assert!(
            out.status.success(),
            "rbuild {args:?} failed:\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// `rbuild store check`, asserting it passes.
    pub fn check_ok(&self) {
        let out = self.rbuild(&["store", "check"]);
        assert!(out.status.success(), "store check failed:\n{}", text(&out));
    }
}

/// Writes a file (creating parents) with a mode.
pub fn write_file(path: &Path, body: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Unpacks `image` (`DIR:TAG` of an OCI layout) with umoci; returns the bundle's rootfs.
pub fn umoci_unpack_layout(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let umoci = require_tool("umoci", "umoci");
    let out = Command::new(umoci)
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack failed: {}", text(&out));
    bundle.join("rootfs")
}

/// Runs a tool, asserting success; returns stdout.
pub fn run_tool(tool: &str, package: &str, args: &[&str]) -> String {
    let exe = require_tool(tool, package);
    let out = Command::new(exe).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// What the RUN steps printed: the text of `#N <secs> <text>` lines of a plain-progress log.
pub fn run_output(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let (_, rest) = l.split_once(' ')?;
            let (secs, text) = rest.split_once(' ')?;
            secs.parse::<f64>().ok().map(|_| text)
        })
        .collect()
}
