//! An HTTP/1.1 proxy on 127.0.0.1 in front of a registry: logs and counts requests, injects
//! faults (500, 429, dropped connections, lost answers, truncated bodies) and can play a
//! token-auth registry (401 Bearer challenges, a `/token` endpoint, scope checks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One kind of injected failure.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer 500 without forwarding.
    Status500,
    /// Answer 429 with `Retry-After: 1` without forwarding.
    TooMany,
    /// Close the connection without an answer, without forwarding.
    Reset,
    /// Forward, then close without passing the answer on.
    ForwardThenDrop,
    /// For blob GETs: forward, pass on half the body, close (others: like `Reset`).
    Truncate,
}

/// Every `every`-th request to `/v2/…` gets the next fault of `kinds`.
#[derive(Clone, Debug)]
pub struct Faults {
    pub every: u64,
    pub kinds: Vec<Fault>,
    /// Only requests whose `METHOD path` contains this are candidates.
    pub only: Option<&'static str>,
}

/// Token-auth settings: who may have tokens, and what anonymous users get.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub user: String,
    pub password: String,
    pub refresh_token: Option<String>,
    pub anonymous_pull: bool,
}

/// What the proxy does besides forwarding.
#[derive(Clone, Debug, Default)]
pub struct ProxyOptions {
    pub faults: Option<Faults>,
    pub token_auth: Option<TokenAuth>,
}

struct State {
    upstream: String,
    addr: String,
    opts: ProxyOptions,
    log: Mutex<Vec<String>>,
    counter: AtomicU64,
    faults: AtomicU64,
    token_requests: AtomicU64,
    tokens: Mutex<HashMap<String, Vec<(String, String)>>>,
    http: reqwest::Client,
}

/// A running proxy (its tasks live on the test's runtime).
pub struct Proxy {
    pub addr: String,
    state: Arc<State>,
}

struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
    fn query(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("http://x{}", self.target)).unwrap();
        url.query_pairs().into_owned().collect()
    }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(status: u16, body: &str) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
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
}

async fn serve(sock: TcpStream, st: Arc<State>) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    while let Ok(Some(req)) = read_request(&mut r).await {
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
    match fault {
        Some(Fault::Status500) => {
            let resp = Resp::json(
                500,
                r#"{"errors":[{"code":"UNKNOWN","message":"injected"}]}"#,
            );
            return write_response(w, &resp, false).await.is_ok();
        }
        Some(Fault::TooMany) => {
            let mut resp = Resp::json(
                429,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}"#,
            );
            resp.headers.push(("retry-after".into(), "1".into()));
            return write_response(w, &resp, false).await.is_ok();
        }
        Some(Fault::Reset) => return false,
        _ => {}
    }
    let Ok(resp) = forward(req, &target, st).await else {
        return false;
    };
    match fault {
        Some(Fault::ForwardThenDrop) => false,
        Some(Fault::Truncate) => {
            let _ = write_truncated(w, &resp).await;
            false
        }
        _ => write_response(w, &resp, req.method == "HEAD").await.is_ok(),
    }
}

fn pick_fault(st: &State, req: &Req) -> Option<Fault> {
    let faults = st.opts.faults.as_ref()?;
    if !req.path().starts_with("/v2/") || req.path() == "/v2/" {
        return None;
    }
    let line = format!("{} {}", req.method, req.path());
    if faults.only.is_some_and(|o| !line.contains(o)) {
        return None;
    }
    let n = st.counter.fetch_add(1, Ordering::SeqCst);
    if n % faults.every != faults.every - 1 {
        return None;
    }
    let mut kind = faults.kinds[((n / faults.every) as usize) % faults.kinds.len()];
    let blob_get = req.method == "GET" && req.path().contains("/blobs/sha256:");
    if matches!(kind, Fault::Truncate) && !blob_get {
        kind = Fault::Reset;
    }
    st.faults.fetch_add(1, Ordering::SeqCst);
    Some(kind)
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

fn token_endpoint(req: &Req, st: &State) -> Resp {
    st.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some(auth) = &st.opts.token_auth else {
        return Resp::json(404, "{}");
    };
    let mut params = req.query();
    if req.method == "POST" {
        let form = String::from_utf8_lossy(&req.body).to_string();
        let url = reqwest::Url::parse(&format!("http://x/?{form}")).unwrap();
        params.extend(url.query_pairs().into_owned());
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let authenticated = match (req.header("authorization"), param("refresh_token")) {
        (_, Some(rt)) => {
            if auth.refresh_token.as_deref() != Some(rt.as_str()) {
                return Resp::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]}"#,
                );
            }
            true
        }
        (Some(h), None) => {
            let enc = h.strip_prefix("Basic ").unwrap_or("");
            let dec = base64::engine::general_purpose::STANDARD
                .decode(enc)
                .unwrap_or_default();
            if dec != format!("{}:{}", auth.user, auth.password).as_bytes() {
                return Resp::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#,
                );
            }
            true
        }
        (None, None) => false,
    };
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let mut grants = Vec::new();
    for s in scopes {
        let mut parts = s.splitn(3, ':');
        let (Some("repository"), Some(repo), Some(actions)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for a in actions.split(',') {
            if authenticated || (a == "pull" && auth.anonymous_pull) {
                grants.push((repo.to_string(), a.to_string()));
            }
        }
    }
    let n = st.token_requests.load(Ordering::SeqCst);
    let token = format!("tok-{n}-{}", grants.len());
    st.tokens.lock().unwrap().insert(token.clone(), grants);
    Resp::json(
        200,
        &format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#),
    )
}

/// Checks the bearer token for the request; returns the target to forward (mount stripped if
/// the token may not read the source).
fn check_token(req: &Req, st: &State, auth: &TokenAuth) -> Result<String, Resp> {
    let _ = auth;
    let path = req.path();
    let rest = path.strip_prefix("/v2/").unwrap_or("");
    let repo = ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i]);
    let action = if matches!(req.method.as_str(), "GET" | "HEAD") {
        "pull"
    } else {
        "push"
    };
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let grants = token.and_then(|t| st.tokens.lock().unwrap().get(t).cloned());
    let has = |g: &Option<Vec<(String, String)>>, r: &str, a: &str| {
        g.as_ref()
            .is_some_and(|g| g.iter().any(|(gr, ga)| gr == r && ga == a))
    };
    let ok = match repo {
        None => grants.is_some(),
        Some(r) => has(&grants, r, action),
    };
    if !ok {
        let scope = repo.map(|r| {
            let acts = if action == "pull" {
                "pull"
            } else {
                "pull,push"
            };
            format!(",scope=\"repository:{r}:{acts}\"")
        });
        let mut resp = Resp::json(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        resp.headers.push((
            "www-authenticate".into(),
            format!(
                "Bearer realm=\"http://{}/token\",service=\"rbuild-test\"{}",
                st.addr,
                scope.unwrap_or_default()
            ),
        ));
        return Err(resp);
    }
    let q = req.query();
    if let Some((_, from)) = q.iter().find(|(k, _)| k == "from") {
        if !has(&grants, from, "pull") {
            st.log.lock().unwrap().push("mount-denied".into());
            return Ok(path.to_string());
        }
    }
    Ok(req.target.clone())
}

async fn read_request(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Req>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Req {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        req.body = read_chunked(r).await?;
    } else if let Some(n) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0u8; n];
        r.read_exact(&mut body).await?;
        req.body = body;
    }
    Ok(Some(req))
}

async fn read_chunked(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        r.read_line(&mut size_line).await?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
            .unwrap_or(0);
        if size == 0 {
            let mut end = String::new();
            r.read_line(&mut end).await?;
            return Ok(body);
        }
        let mut chunk = vec![0u8; size + 2];
        r.read_exact(&mut chunk).await?;
        body.extend_from_slice(&chunk[..size]);
    }
}

fn head_bytes(resp: &Resp, content_length: usize, keep_length: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
    let mut have_len = false;
    for (k, v) in &resp.headers {
        let lk = k.to_ascii_lowercase();
        if lk == "transfer-encoding" || lk == "connection" {
            continue;
        }
        if lk == "content-length" {
            if !keep_length {
                continue;
            }
            have_len = true;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !have_len {
        out.push_str(&format!("content-length: {content_length}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

async fn write_response(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    resp: &Resp,
    head: bool,
) -> std::io::Result<()> {
    let mut out = head_bytes(resp, resp.body.len(), head);
    if !head {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out).await?;
    w.flush().await
}

async fn write_truncated(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    resp: &Resp,
) -> std::io::Result<()> {
    let mut out = head_bytes(resp, resp.body.len(), false);
    out.extend_from_slice(&resp.body[..resp.body.len() / 2]);
    w.write_all(&out).await?;
    w.flush().await?;
    w.shutdown().await
}
