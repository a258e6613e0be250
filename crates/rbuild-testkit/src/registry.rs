//! A real registry (Debian's `docker-registry`) on 127.0.0.1 with a free port, stopped on drop.
//!
//! Picking a free port is racy (another process may take it before the registry binds), so
//! each registry answers with a header naming it: readiness means *this* registry answered,
//! and a registry that died because its port was taken is started again on another.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::require_tool;

mod lifecycle;

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

/// TLS for the fixture registry: it listens on `host` (an address of this machine) with this
/// certificate and key.
pub struct RegistryTls {
    /// The address to listen on (not loopback: rbuild speaks plain HTTP to loopback).
    pub host: String,
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The header every fixture registry adds to its answers, valued with its own id.
pub const ID_HEADER: &str = "X-Rbuild-Test-Registry";

/// A running registry; killed and its storage removed when dropped.
pub struct Registry {
    child: Child,
    /// `HOST:PORT` (`127.0.0.1:PORT` unless started with TLS).
    pub addr: String,
    /// Where it stores blobs (for tampering tests).
    pub storage: PathBuf,
    /// Its access log.
    pub log: PathBuf,
    id: String,
    tls: bool,
    sentinels: AtomicU64,
    dir: tempfile::TempDir,
}

fn free_port(host: &str) -> std::io::Result<u16> {
    Ok(TcpListener::bind((host, 0))?.local_addr()?.port())
}

/// A name no other registry of any test process has.
fn unique_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{}-{n}-{nanos}", std::process::id())
}

/// What a start attempt came to.
enum Start {
    Ready(Registry),
    /// It died because its port was taken: try another.
    PortTaken,
}

impl Registry {
    /// Starts a plain-HTTP registry on 127.0.0.1 and waits until it answers `/v2/`.
    pub fn start(auth: RegistryAuth) -> std::io::Result<Registry> {
        Self::start_tls(auth, None)
    }

    /// Starts a plain-HTTP registry listening on `host` (e.g. a non-loopback address of this
    /// machine, which rbuild speaks HTTPS to unless told it is insecure).
    pub fn start_at(host: &str, auth: RegistryAuth) -> std::io::Result<Registry> {
        Self::start_with(auth, host, None)
    }

    /// Starts a registry, over TLS when `tls` is given, and waits until it answers `/v2/`.
    pub fn start_tls(auth: RegistryAuth, tls: Option<RegistryTls>) -> std::io::Result<Registry> {
        let host = tls
            .as_ref()
            .map_or("127.0.0.1".to_string(), |t| t.host.clone());
        Self::start_with(auth, &host, tls.as_ref())
    }

    fn start_with(
        auth: RegistryAuth,
        host: &str,
        tls: Option<&RegistryTls>,
    ) -> std::io::Result<Registry> {
        for _ in 0..10 {
            if let Start::Ready(reg) = Self::try_start(&auth, host, tls)? {
                return Ok(reg);
            }
        }
        Err(std::io::Error::other(
            "docker-registry lost its port to another process 10 times in a row",
        ))
    }

    fn try_start(
        auth: &RegistryAuth,
        host: &str,
        tls: Option<&RegistryTls>,
    ) -> std::io::Result<Start> {
        let dir = tempfile::tempdir()?;
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage)?;
        let addr = format!("{host}:{}", free_port(host)?);
        let id = unique_id();
        let config = config_text(dir.path(), &storage, &addr, &id, auth, tls)?;
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;
        let log = dir.path().join("registry.log");
        let child = serve(dir.path(), &log)?;
        let mut reg = Registry {
            child,
            addr,
            storage,
            log,
            id,
            tls: tls.is_some(),
            sentinels: AtomicU64::new(0),
            dir,
        };
        match reg.wait_ready()? {
            true => Ok(Start::Ready(reg)),
            false => Ok(Start::PortTaken),
        }
    }

    /// Waits until this registry (not another on the same port) answers; false when it died
    /// because the port was taken.
    fn wait_ready(&mut self) -> std::io::Result<bool> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let err = self.stderr();
                if err.contains("address already in use") {
                    return Ok(false);
                }
                return Err(std::io::Error::other(format!(
                    "registry exited ({status}): {err}"
                )));
            }
            // Over TLS the handshake cannot be spoken here: the process must be up and
            // its port accepting, and the port is this registry's once it has not died.
            let ours = if self.tls {
                self.stderr().contains("listening on") && TcpStream::connect(&self.addr).is_ok()
            } else {
                self.get("/v2/").is_ok_and(|s| self.answered_by_me(&s))
            };
            if ours {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(format!(
            "registry did not become ready within 30s: {}",
            self.stderr()
        )))
    }

    fn answered_by_me(&self, response: &str) -> bool {
        let status_ok =
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.1 401");
        let header = format!("{}: {}", ID_HEADER.to_ascii_lowercase(), self.id);
        status_ok
            && response
                .to_ascii_lowercase()
                .contains(&header.to_ascii_lowercase())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.err")).unwrap_or_default()
    }

    /// Panics unless the registry process still runs (a test that saw a refusal can tell a
    /// dead registry from a real refusal).
    pub fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the test registry died ({status}): {}", self.stderr());
        }
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

    /// A raw HTTP PUT of `body` as `content_type`; returns the whole response text.
    pub fn put(&self, path: &str, content_type: &str, body: &[u8]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )?;
        s.write_all(body)?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// The access log from byte `from` on, up to a sentinel request sent now: every request
    /// answered before this call is in it, without guessing how long logging takes.
    pub fn log_since(&self, from: usize) -> String {
        assert!(
            !self.tls,
            "log_since speaks plain HTTP: not for a TLS registry"
        );
        let n = self.sentinels.fetch_add(1, Ordering::SeqCst);
        let sentinel = format!("/v2/?rbuild-sentinel={}-{n}", self.id);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut sent = false;
        loop {
            if !sent {
                sent = self.get(&sentinel).is_ok();
            }
            let all = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(at) = all.find(&sentinel) {
                let line_start = all[..at].rfind('\n').map_or(0, |i| i + 1);
                return all[from.min(line_start)..line_start].to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the registry never logged the sentinel request {sentinel}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The access log's length so far, for a later [`Registry::log_since`].
    pub fn log_len(&self) -> usize {
        std::fs::metadata(&self.log).map_or(0, |m| m.len() as usize)
    }
}

/// Starts `docker-registry serve` on `dir`'s config.yml, appending to the access log `log`
/// (a restarted registry keeps its log, so offsets from [`Registry::log_len`] stay valid) and
/// writing a fresh `registry.err` (readiness reads it).
fn serve(dir: &Path, log: &Path) -> std::io::Result<Child> {
    let bin = require_tool("docker-registry", "docker-registry");
    let access = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(bin)
        .arg("serve")
        .arg(dir.join("config.yml"))
        .stdout(Stdio::from(access))
        .stderr(Stdio::from(std::fs::File::create(
            dir.join("registry.err"),
        )?))
        .spawn()
}

/// The registry's config.yml.
fn config_text(
    dir: &Path,
    storage: &Path,
    addr: &str,
    id: &str,
    auth: &RegistryAuth,
    tls: Option<&RegistryTls>,
) -> std::io::Result<String> {
    let mut config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  headers:\n    {ID_HEADER}: [\"{id}\"]\n",
        storage.display()
    );
    if let Some(t) = tls {
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            t.cert.display(),
            t.key.display()
        ));
    }
    if let RegistryAuth::Basic { user, password } = auth {
        let htpasswd = dir.join("htpasswd");
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
    Ok(config)
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
