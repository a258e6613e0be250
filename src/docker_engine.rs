//! `--load`: a docker archive streamed into the docker engine's `POST /images/load` over its
//! unix socket (`DOCKER_HOST=unix://PATH`, else `/var/run/docker.sock`), as buildx loads.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use rbuild_store::StoreError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The engine's answer is a few lines of JSON; more is not an answer to a load.
const MAX_ANSWER: u64 = 1 << 20;

/// The docker engine `--load` writes into: its socket, or why there is none to speak to.
pub struct DockerEngine {
    socket: Result<PathBuf, String>,
}

impl DockerEngine {
    /// The engine `DOCKER_HOST` names; only unix sockets are spoken to.
    pub fn from_env() -> DockerEngine {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        let socket = match host.as_str() {
            "" => Ok(PathBuf::from("/var/run/docker.sock")),
            h => h.strip_prefix("unix://").map(PathBuf::from).ok_or_else(|| {
                format!(
                    "--load: DOCKER_HOST={h:?} is not a unix:// socket; rbuild loads through \
                     the engine's unix socket only (or use -o type=docker,dest=FILE and \
                     `docker load -i FILE`)"
                )
            }),
        };
        DockerEngine { socket }
    }

    /// Fails before the build when no engine answers `GET /_ping` on the socket.
    pub fn check(&self) -> anyhow::Result<()> {
        let ping = || -> Result<(), BoxError> {
            let stream = self.connect()?;
            (&stream)
                .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")?;
            let mut status = String::new();
            BufReader::new(stream.take(4096)).read_line(&mut status)?;
            match status.split_whitespace().nth(1) {
                Some("200") => Ok(()),
                _ => Err(format!("--load: the docker engine's /_ping answered {status:?}").into()),
            }
        };
        ping().map_err(|e| anyhow::anyhow!(e))
    }

    fn connect(&self) -> Result<UnixStream, BoxError> {
        let socket = self.socket.as_ref().map_err(|why| why.clone())?;
        UnixStream::connect(socket).map_err(|e| {
            format!(
                "--load: no docker engine answers at {} ({e}); start dockerd, set \
                 DOCKER_HOST=unix:///PATH, or export with -o type=docker,dest=FILE",
                socket.display()
            )
            .into()
        })
    }
}

impl rbuild_build::export::Loader for DockerEngine {
    fn load(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> Result<(), StoreError>,
    ) -> Result<String, BoxError> {
        let stream = self.connect()?;
        let sent = send(&stream, write);
        // An engine that refuses the archive may close early: its answer says why.
        let answer = read_answer(&stream);
        match (sent, answer) {
            (_, Ok(said)) => Ok(said),
            (Err(e), Err(_)) => Err(e),
            (Ok(()), Err(e)) => Err(e),
        }
    }
}

/// The request, its body chunked as it streams out of the store.
fn send(
    stream: &UnixStream,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<(), StoreError>,
) -> Result<(), BoxError> {
    let mut out = BufWriter::with_capacity(1 << 20, stream);
    out.write_all(
        b"POST /images/load?quiet=1 HTTP/1.1\r\nHost: docker\r\n\
          Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )?;
    let mut body = Chunked(out);
    write(&mut body)?;
    body.0.write_all(b"0\r\n\r\n")?;
    body.0.flush()?;
    Ok(())
}

/// HTTP/1.1 chunked encoding: one chunk per write.
struct Chunked<W: Write>(W);

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        write!(self.0, "{:x}\r\n", buf.len())?;
        self.0.write_all(buf)?;
        self.0.write_all(b"\r\n")?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The engine's status and JSON lines: what it loaded, or the error it gave.
fn read_answer(stream: &UnixStream) -> Result<String, BoxError> {
    let mut reader = BufReader::new(stream.take(MAX_ANSWER));
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("the docker engine's socket did not answer HTTP: {status:?}"))?;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    let body = if chunked { dechunk(&raw) } else { raw };
    let text = String::from_utf8_lossy(&body);
    interpret(code, &text)
}

/// Joins the data of a chunked body (its sizes and trailers dropped).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else {
            break;
        };
        let data = &raw[end + 2..];
        let take = size.min(data.len());
        out.extend_from_slice(&data[..take]);
        raw = data.get(take + 2..).unwrap_or_default();
    }
    out
}

/// A 2xx with no `error` line is a load; anything else is the engine's message.
fn interpret(code: u16, body: &str) -> Result<String, BoxError> {
    let mut said = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            said.push(line.trim().to_string());
            continue;
        };
        if let Some(e) = v.get("error").or_else(|| v.get("message")) {
            return Err(format!("the docker engine refused the image: {}", text_of(e)).into());
        }
        if let Some(s) = v.get("stream") {
            said.push(text_of(s).trim().to_string());
        }
    }
    if !(200..300).contains(&code) {
        let why = said.join("; ");
        return Err(format!("the docker engine answered HTTP {code}: {why}").into());
    }
    Ok(said.join("; "))
}

fn text_of(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_engines_answers() {
        let ok = "{\"stream\":\"Loaded image: app:1\\n\"}\n";
        assert_eq!(interpret(200, ok).unwrap(), "Loaded image: app:1");
        let refused = "{\"errorDetail\":{\"message\":\"x\"},\"error\":\"unexpected EOF\"}";
        let e = interpret(200, refused).unwrap_err().to_string();
        assert!(e.contains("unexpected EOF"), "{e}");
        let e = interpret(500, "{\"message\":\"no space\"}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no space"), "{e}");
        let e = interpret(404, "page not found").unwrap_err().to_string();
        assert!(e.contains("HTTP 404: page not found"), "{e}");
    }

    #[test]
    fn joins_chunked_bodies() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
        assert_eq!(dechunk(b"ff\r\nshort"), b"short");
        assert_eq!(dechunk(b"zz\r\n"), b"");
    }

    #[test]
    fn chunks_each_write() {
        let mut c = Chunked(Vec::new());
        c.write_all(b"hello").unwrap();
        c.write_all(b"").unwrap();
        assert_eq!(c.0, b"5\r\nhello\r\n");
    }
}
