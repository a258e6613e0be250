//! An SSH agent rbuild runs for one step, serving the key files `--ssh ID=KEY[,KEY]` named
//! (OpenSSH's `ssh-agent` and `ssh-add`): the step reaches the keys through the agent socket
//! only, never the files, and the agent ends with the step.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running agent; killed when dropped.
pub struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    /// Starts an agent listening in `dir` and loads `keys` into it.
    pub fn start(dir: &Path, keys: &[PathBuf]) -> io::Result<Agent> {
        std::fs::create_dir_all(dir)?;
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("ssh-agent (openssh-client): {e}")))?;
        let agent = Agent { child, socket };
        agent.wait_for_socket()?;
        for key in keys {
            let out = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .stdin(Stdio::null())
                .output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "ssh-add {}: {}",
                    key.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(agent)
    }

    /// The socket the step mounts.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits until the agent accepts a connection: it binds its socket before it listens,
    /// so the file alone is not enough (under load `ssh-add` was refused in that gap).
    fn wait_for_socket(&self) -> io::Result<()> {
        let start = Instant::now();
        loop {
            match std::os::unix::net::UnixStream::connect(&self.socket) {
                Ok(_) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => return Err(e),
            }
            if start.elapsed() > Duration::from_secs(5) {
                return Err(io::Error::other("ssh-agent did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
