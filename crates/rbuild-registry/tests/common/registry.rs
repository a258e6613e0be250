//! A real registry process (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rbuild_oci::Digest;

const BINARY: &str = "/usr/bin/docker-registry";

/// The header each registry adds to its answers, valued with its own id.
const ID_HEADER: &str = "X-Rbuild-Test-Registry";

/// The `auth:` section for an htpasswd file with `user`/`password`, written in `dir`.
fn htpasswd_config(dir: &std::path::Path, user: &str, password: &str) -> String {
    let htpasswd = dir.join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd (apache2-utils) is missing");
    assert!(out.status.success(), "htpasswd failed");
    std::fs::write(&htpasswd, out.stdout).unwrap();
    format!(
        "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
        htpasswd.display()
    )
}

/// A running registry; killed on drop.
pub struct Registry {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Its storage root.
    pub storage: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

/// A free loopback port (racy by nature: see [`Registry::start_with`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Starts a registry without auth.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// Starts a registry requiring HTTP basic auth for `user`/`password` (bcrypt htpasswd).
    /// Picking a free port races with other processes: a registry that lost its port is
    /// started again on another, and readiness means an answer carrying this registry's own
    /// id header, not any registry's.
    pub fn start_with(basic: Option<(&str, &str)>) -> Registry {
        assert!(
            std::path::Path::new(BINARY).exists(),
            "{BINARY} is missing: install Debian's docker-registry package"
        );
        for _ in 0..10 {
            if let Some(reg) = Self::try_start(basic) {
                return reg;
            }
        }
        panic!("docker-registry lost its port to another process 10 times in a row");
    }

    fn try_start(basic: Option<(&str, &str)>) -> Option<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let port = free_port();
        let id = format!("{}-{port}-{:?}", std::process::id(), Instant::now());
        let auth = basic
            .map(|(u, p)| htpasswd_config(dir.path(), u, p))
            .unwrap_or_default();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: rbuild-test-secret\n  headers:\n    \
             {ID_HEADER}: [\"{id}\"]\n{auth}",
            storage.display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).unwrap();
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("err")).unwrap(),
            ))
            .spawn()
            .unwrap();
        let mut reg = Registry {
            addr: format!("127.0.0.1:{port}"),
            storage,
            child,
            _dir: dir,
        };
        reg.wait_ready(&id).then_some(reg)
    }

    /// Waits until this registry answers; false when it died because its port was taken.
    fn wait_ready(&mut self, id: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        let header = format!("{}: {id}", ID_HEADER.to_ascii_lowercase());
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = std::fs::read_to_string(self._dir.path().join("err")).unwrap_or_default();
                assert!(
                    err.contains("address already in use"),
                    "docker-registry exited ({status}): {err}"
                );
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer
                    .to_ascii_lowercase()
                    .contains(&header.to_ascii_lowercase())
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not come up on {}", self.addr);
    }

    /// The file holding a blob's bytes in the registry's storage.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
