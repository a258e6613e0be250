//! Streams the init's stdout and stderr to the caller as data arrives, and collects its reports
//! from the control socket, until all three are closed.

use crate::error::SandboxError;
use crate::spec::OutputStream;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::{ChildStderr, ChildStdout};

/// Pumps until every stream hits EOF; returns the control socket's bytes.
pub fn pump(
    mut out: ChildStdout,
    mut err: ChildStderr,
    sock: &mut UnixStream,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<Vec<u8>, SandboxError> {
    let mut control = Vec::new();
    let mut open = [true; 3];
    let mut buf = vec![0u8; 64 * 1024];
    while open.iter().any(|o| *o) {
        let fds = [out.as_raw_fd(), err.as_raw_fd(), sock.as_raw_fd()];
        for i in ready(fds, open)? {
            let n = match i {
                0 => out.read(&mut buf),
                1 => err.read(&mut buf),
                _ => sock.read(&mut buf),
            };
            match n {
                Ok(0) => open[i] = false,
                Ok(n) => match i {
                    0 => on_output(OutputStream::Stdout, &buf[..n]),
                    1 => on_output(OutputStream::Stderr, &buf[..n]),
                    _ => control.extend_from_slice(&buf[..n]),
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(SandboxError::Init {
                        what: "read from the sandbox",
                        source,
                    })
                }
            }
        }
    }
    Ok(control)
}

/// Waits until some of the open descriptors are readable (or closed); returns their indexes.
fn ready(fds: [libc::c_int; 3], open: [bool; 3]) -> Result<Vec<usize>, SandboxError> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .zip(open)
        .map(|(fd, o)| libc::pollfd {
            fd: if o { *fd } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    crate::sys::proc_calls::poll(&mut pfds).map_err(|source| SandboxError::Init {
        what: "poll the sandbox's output",
        source,
    })?;
    Ok((0..3)
        .filter(|i| open[*i] && pfds[*i].revents != 0)
        .collect())
}
