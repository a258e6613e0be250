//! A real registry (Debian's `docker-registry`) on 127.0.0.1 with a free port, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

/// Authentication of the fixture registry.
pub enum RegistryAuth {
    /// Anyone may push and pull.
    None,
    /// htpasswd basic auth with one user.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// A running registry; killed and its storage removed when dropped.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Where it stores blobs (for tampering tests).
    pub storage: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Registry {
    /// Starts a registry and waits until it answers `/v2/`.
    pub fn start(auth: RegistryAuth) -> std::io::Result<Registry> {
        let bin = require_tool("docker-registry", "docker-registry");
        let dir = tempfile::tempdir()?;
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage)?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if let RegistryAuth::Basic { user, password } = &auth {
            let htpasswd = dir.path().join("htpasswd");
            let tool = require_tool("htpasswd", "apache2-utils");
            let ok = Command::new(tool)
                .args(["-Bbc"])
                .arg(&htpasswd)
                .args([user, password])
                .status()?
                .success();
            if !ok {
                return Err(std::io::Error::other("htpasswd failed"));
            }
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: rbuild-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = dir.path().join("registry.log");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("registry.err"),
            )?))
            .spawn()?;
        let mut reg = Registry {
            child,
            addr,
            storage,
            log,
            _dir: dir,
        };
        reg.wait_ready()?;
        Ok(reg)
    }

    fn wait_ready(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let err = std::fs::read_to_string(self._dir.path().join("registry.err"))
                    .unwrap_or_default();
                return Err(std::io::Error::other(format!(
                    "registry exited ({status}): {err}"
                )));
            }
            if self
                .get("/v2/")
                .is_ok_and(|s| s.starts_with("HTTP/1.1 200") || s.starts_with("HTTP/1.1 401"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(std::io::Error::other(
            "registry did not become ready within 20s",
        ))
    }

    /// A raw HTTP GET; returns the whole response text.
    pub fn get(&self, path: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
