//! Just enough HTTP/1.1 for the proxy: reading requests (plain or chunked bodies) and
//! writing answers, whole, head-only or cut in half.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// One request as read off the socket.
pub(super) struct Req {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Req {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }
    pub(super) fn query(&self) -> Vec<(String, String)> {
        let url = reqwest::Url::parse(&format!("http://x{}", self.target)).unwrap();
        url.query_pairs().into_owned().collect()
    }
}

/// One answer, written whole (with its own content-length) or cut short.
pub(super) struct Resp {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Resp {
    pub(super) fn json(status: u16, body: &str) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// Reading request bodies slowly: `bytes` at a time, `gap_ms` apart (a slow uplink).
#[derive(Clone, Copy, Debug)]
pub struct SlowRead {
    pub bytes: usize,
    pub gap_ms: u64,
}

/// The next request on a connection; `None` when it closed or sent garbage.
pub(super) async fn read_request(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    slow: Option<SlowRead>,
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
    let Some(headers) = read_headers(r).await? else {
        return Ok(None);
    };
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
        req.body = read_exact_slowly(r, n, slow).await?;
    }
    Ok(Some(req))
}

async fn read_exact_slowly(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    n: usize,
    slow: Option<SlowRead>,
) -> std::io::Result<Vec<u8>> {
    let mut body = vec![0u8; n];
    let Some(slow) = slow else {
        r.read_exact(&mut body).await?;
        return Ok(body);
    };
    for piece in body.chunks_mut(slow.bytes.max(1)) {
        r.read_exact(piece).await?;
        tokio::time::sleep(std::time::Duration::from_millis(slow.gap_ms)).await;
    }
    Ok(body)
}

/// Header lines up to the blank line; `None` if the connection closed first.
async fn read_headers(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Vec<(String, String)>>> {
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            return Ok(Some(headers));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
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

/// The status line and headers. Hop-by-hop headers are dropped, and the upstream's
/// content-length is kept only when asked (a HEAD sends no body to measure).
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

/// Writes `resp`; for a HEAD (`head`) only the head, with the upstream's content-length.
pub(super) async fn write_response(
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

/// Writes the head and half the body of `resp`, then closes: a transfer cut mid-way.
pub(super) async fn write_truncated(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    resp: &Resp,
) -> std::io::Result<()> {
    let mut out = head_bytes(resp, resp.body.len(), false);
    out.extend_from_slice(&resp.body[..resp.body.len() / 2]);
    w.write_all(&out).await?;
    w.flush().await?;
    w.shutdown().await
}

/// Writes the head and half the body of `resp`, and keeps the connection open: a stall.
pub(super) async fn write_stalled(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    resp: &Resp,
) -> std::io::Result<()> {
    let mut out = head_bytes(resp, resp.body.len(), false);
    out.extend_from_slice(&resp.body[..resp.body.len() / 2]);
    w.write_all(&out).await?;
    w.flush().await
}

/// Writes the head, then the body in `pieces` parts with `gap` between them.
pub(super) async fn write_trickle(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    resp: &Resp,
    pieces: usize,
    gap: std::time::Duration,
) -> std::io::Result<()> {
    w.write_all(&head_bytes(resp, resp.body.len(), false))
        .await?;
    let size = resp.body.len().div_ceil(pieces.max(1)).max(1);
    for piece in resp.body.chunks(size) {
        w.write_all(piece).await?;
        w.flush().await?;
        tokio::time::sleep(gap).await;
    }
    Ok(())
}
