//! The socket a `RUN --mount=type=ssh` step sees: a new socket with the mount's owner and mode
//! (as BuildKit serves one per mount), passing each connection on to the agent the build
//! forwards. The step never gets the client's own socket, whose owner and mode are the
//! client's business, and the proxy ends with the step.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running proxy; stopped (and its socket removed) when dropped.
pub struct AgentProxy {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    /// A private directory of its own under the temp dir: a socket path must stay under
    /// 108 bytes, which one deep in a store may not.
    _dir: tempfile::TempDir,
}

impl AgentProxy {
    /// Listens on a new socket owned `uid:gid` with `mode`, forwarding to `upstream`.
    pub fn start(upstream: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rbuild-ssh-").tempdir()?;
        let socket = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&socket)?;
        std::os::unix::fs::lchown(&socket, Some(uid), Some(gid))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(mode & 0o7777))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, upstream) = (stop.clone(), upstream.to_path_buf());
        let accept = std::thread::Builder::new()
            .name("ssh-agent-proxy".into())
            .spawn(move || serve(&listener, &upstream, &flag))?;
        Ok(AgentProxy {
            socket,
            stop,
            accept: Some(accept),
            _dir: dir,
        })
    }

    /// The socket the step mounts.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

fn serve(listener: &UnixListener, upstream: &Path, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(client) = conn else { continue };
        // An agent that is gone closes the step's connection, which ssh reports itself.
        if let Ok(agent) = UnixStream::connect(upstream) {
            let _ = pipe(client, agent);
        }
    }
}

/// Copies both ways until either side closes, on two threads of their own.
fn pipe(client: UnixStream, agent: UnixStream) -> io::Result<()> {
    let (mut c_read, mut a_write) = (client.try_clone()?, agent.try_clone()?);
    let (mut a_read, mut c_write) = (agent, client);
    std::thread::Builder::new().spawn(move || {
        let _ = io::copy(&mut c_read, &mut a_write);
        let _ = a_write.shutdown(std::net::Shutdown::Write);
    })?;
    std::thread::Builder::new().spawn(move || {
        let _ = io::copy(&mut a_read, &mut c_write);
        let _ = c_write.shutdown(std::net::Shutdown::Write);
    })?;
    Ok(())
}

impl Drop for AgentProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = UnixStream::connect(&self.socket);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_proxy_socket_has_the_mounts_owner_and_mode_and_passes_bytes_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let upstream = dir.path().join("agent.sock");
        let agent = UnixListener::bind(&upstream).unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = agent.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf.map(|b| b.to_ascii_uppercase())).unwrap();
        });
        let proxy = AgentProxy::start(&upstream, 100, 102, 0o741).unwrap();
        let meta = std::fs::symlink_metadata(proxy.socket()).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (100, 102, 0o741)
        );
        let mut c = UnixStream::connect(proxy.socket()).unwrap();
        c.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HELLO");
        echo.join().unwrap();
        let socket = proxy.socket().to_path_buf();
        drop(proxy);
        assert!(!socket.exists(), "the proxy's socket outlived it");
    }
}
