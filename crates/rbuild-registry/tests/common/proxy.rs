//! An HTTP/1.1 proxy on 127.0.0.1 in front of a registry: logs and counts requests, injects
//! faults (500, 429, dropped connections, lost answers, truncated, stalled or slow bodies),
//! rewrites answers (bodies, headers), reads uploads slowly, and can play a token-auth
//! registry (401 Bearer challenges, a `/token` endpoint, scope checks).
//!
//! The proxy itself (accepting, logging, forwarding) is here; the kinds of behaviour it adds
//! are in `faults`, `rewrite` and `token`, and its minimal HTTP/1.1 framing in `http`.

mod faults;
mod http;
mod rewrite;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};

use faults::{after_forward, before_forward, pick_fault, Before};
use http::{read_request, write_response, Req, Resp};
use token::{check_token, token_endpoint};

// Each test binary compiles this module and uses only some of what it exports.
#[allow(unused_imports)]
pub use faults::{Fault, Faults};
pub use http::SlowRead;
pub use rewrite::Rewrite;
pub use token::TokenAuth;

/// What the proxy does besides forwarding.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    pub faults: Option<Faults>,
    pub token_auth: Option<TokenAuth>,
    /// Changes made to answers on their way back.
    pub rewrites: Vec<Rewrite>,
    /// Request bodies are read this slowly.
    pub slow_read: Option<SlowRead>,
}

struct State {
    upstream: String,
    addr: String,
    opts: ProxyOptions,
    log: Mutex<Vec<String>>,
    counter: AtomicU64,
    faults: AtomicU64,
    rewritten: AtomicU64,
    token_requests: AtomicU64,
    tokens: Mutex<HashMap<String, Vec<(String, String)>>>,
    http: reqwest::Client,
}

/// A running proxy (its tasks live on the test's runtime).
pub struct Proxy {
    pub addr: String,
    state: Arc<State>,
}

impl Proxy {
    /// Starts a proxy forwarding to `upstream` (`127.0.0.1:<port>`).
    pub async fn start(upstream: &str, opts: ProxyOptions) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            addr: addr.clone(),
            opts,
            log: Mutex::default(),
            counter: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            rewritten: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
            tokens: Mutex::default(),
            http,
        });
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, st.clone()));
            }
        });
        Proxy { addr, state }
    }

    /// `METHOD target` of every request seen, in order.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forgets the log.
    pub fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Requests to the token endpoint so far.
    pub fn token_requests(&self) -> u64 {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn faults(&self) -> u64 {
        self.state.faults.load(Ordering::SeqCst)
    }

    /// Rewrites applied so far.
    pub fn rewritten(&self) -> u64 {
        self.state.rewritten.load(Ordering::SeqCst)
    }
}

async fn serve(sock: TcpStream, st: Arc<State>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    while let Ok(Some(req)) = read_request(&mut r, st.opts.slow_read).await {
        let range = req
            .header("range")
            .map(|r| format!(" range={r}"))
            .unwrap_or_default();
        st.log
            .lock()
            .unwrap()
            .push(format!("{} {}{range}", req.method, req.target));
        if !handle(&req, &st, &mut w).await {
            return;
        }
    }
}

/// Answers one request; false when the connection must be closed.
async fn handle(req: &Req, st: &State, w: &mut tokio::net::tcp::OwnedWriteHalf) -> bool {
    if req.path() == "/token" {
        let resp = token_endpoint(req, st);
        return write_response(w, &resp, false).await.is_ok();
    }
    let mut target = req.target.clone();
    if let Some(auth) = &st.opts.token_auth {
        match check_token(req, st, auth) {
            Ok(t) => target = t,
            Err(resp) => return write_response(w, &resp, false).await.is_ok(),
        }
    }
    let fault = pick_fault(st, req);
    match before_forward(fault) {
        Before::Answer(resp) => return write_response(w, &resp, false).await.is_ok(),
        Before::Close => return false,
        Before::Forward => {}
    }
    let Ok(mut resp) = forward(req, &target, st).await else {
        return false;
    };
    let n = rewrite::apply(&st.opts.rewrites, req, &mut resp);
    st.rewritten.fetch_add(n, Ordering::SeqCst);
    after_forward(fault, w, &resp, req.method == "HEAD").await
}

async fn forward(req: &Req, target: &str, st: &State) -> Result<Resp, reqwest::Error> {
    let url = format!("http://{}{}", st.upstream, target);
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut rb = st.http.request(method, url);
    for (k, v) in &req.headers {
        let skip = ["host", "connection", "content-length", "transfer-encoding"];
        let drop_auth = st.opts.token_auth.is_some() && k.eq_ignore_ascii_case("authorization");
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) && !drop_auth {
            rb = rb.header(k.as_str(), v.as_str());
        }
    }
    let resp = rb.body(req.body.clone()).send().await?;
    let status = resp.status().as_u16();
    let up = format!("http://{}", st.upstream);
    let me = format!("http://{}", st.addr);
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("").replace(&up, &me);
            (k.as_str().to_string(), v)
        })
        .collect();
    let body = resp.bytes().await?.to_vec();
    Ok(Resp {
        status,
        headers,
        body,
    })
}
