//! A tiny HTTP/1.1 file server on 127.0.0.1 for URL download tests, plain or TLS, that serves
//! one body for any path (so it also plays a forward proxy: it logs the request target, which
//! only a proxy receives in absolute form) and can misbehave: cut the first answer short,
//! ignore `Range`, stall mid-body, or redirect.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How the server misbehaves.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// The first answer stops after this many body bytes and the connection closes.
    pub cut_first_after: Option<usize>,
    /// `Range` is ignored: every answer is a 200 with the whole body.
    pub ignore_range: bool,
    /// Every answer stalls after this many body bytes (for a minute).
    pub stall_after: Option<usize>,
    /// Sent as `Last-Modified`.
    pub last_modified: Option<String>,
    /// Every answer is a 302 to this URL (as a registry sends blobs to its storage).
    pub redirect_to: Option<String>,
}

struct State {
    body: Vec<u8>,
    behaviour: Behaviour,
    log: Mutex<Vec<String>>,
    answers: AtomicUsize,
}

/// A running server (its tasks live on the test's runtime).
pub struct FileServer {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    state: Arc<State>,
}

impl FileServer {
    /// Serves `body` over plain HTTP.
    pub async fn start(body: Vec<u8>, behaviour: Behaviour) -> FileServer {
        Self::start_with(body, behaviour, None).await
    }

    /// Serves `body` over HTTPS with `tls`.
    pub async fn start_tls(body: Vec<u8>, behaviour: Behaviour, tls: TlsAcceptor) -> FileServer {
        Self::start_with(body, behaviour, Some(tls)).await
    }

    async fn start_with(body: Vec<u8>, behaviour: Behaviour, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            body,
            behaviour,
            log: Mutex::default(),
            answers: AtomicUsize::new(0),
        });
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (st, tls) = (st.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(sock).await {
                                serve(s, st).await;
                            }
                        }
                        None => serve(sock, st).await,
                    }
                });
            }
        });
        FileServer { addr, state }
    }

    /// `METHOD target [range=…]` of every request seen, in order.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

/// Answers one request, then closes the connection.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, st: Arc<State>) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let target = line.trim_end().to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await.unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                range = v
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|s| s.trim_end_matches('-').parse::<usize>().ok());
            }
        }
    }
    let request = target.rsplit_once(' ').map_or(&*target, |(t, _)| t);
    let logged = match range {
        Some(n) => format!("{request} range={n}"),
        None => request.to_string(),
    };
    st.log.lock().unwrap().push(logged);
    answer(r.get_mut(), &st, range).await;
}

async fn answer<S: AsyncWrite + Unpin>(w: &mut S, st: &State, range: Option<usize>) {
    let nth = st.answers.fetch_add(1, Ordering::SeqCst);
    let b = &st.behaviour;
    if let Some(to) = &b.redirect_to {
        let head = format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = w.write_all(head.as_bytes()).await;
        let _ = w.shutdown().await;
        return;
    }
    let total = st.body.len();
    let (status, from) = match range {
        Some(n) if !b.ignore_range && n < total => ("206 Partial Content", n),
        _ => ("200 OK", 0),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
        total - from
    );
    if from > 0 {
        head.push_str(&format!(
            "Content-Range: bytes {from}-{}/{total}\r\n",
            total - 1
        ));
    }
    if let Some(lm) = &b.last_modified {
        head.push_str(&format!("Last-Modified: {lm}\r\n"));
    }
    head.push_str("\r\n");
    let body = &st.body[from..];
    let cut = match (nth, b.cut_first_after) {
        (0, Some(k)) => Some(k.min(body.len())),
        _ => None,
    };
    let stall = b.stall_after.map(|k| k.min(body.len()));
    let end = cut.or(stall).unwrap_or(body.len());
    let _ = w.write_all(head.as_bytes()).await;
    let _ = w.write_all(&body[..end]).await;
    let _ = w.flush().await;
    if stall.is_some() {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    let _ = w.shutdown().await;
}
