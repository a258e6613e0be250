//! The download the builder used before it was given a [`super::UrlFetcher`]: reqwest's
//! blocking client with its defaults. It ignores `--registry-certs`, `--insecure-registry`,
//! the proxy build args and the registry timeouts; it goes away once the builder calls a
//! fetcher.

use std::io::Read;
use std::path::Path;

use super::{parse_http_date, Download, DownloadFile, RemoteError};

/// The server answered with an error status.
#[derive(Debug, thiserror::Error)]
#[error("server answered HTTP {0}")]
struct HttpStatus(u16);

/// Downloads `url` into `dir/<file name>` (mode 0600, as Docker does). Transitional: use a
/// [`super::UrlFetcher`].
pub fn download(url: &str, dir: &Path) -> Result<Download, RemoteError> {
    let fail = |e: reqwest::Error| RemoteError::fetch(url, e.without_url());
    let mut resp = reqwest::blocking::Client::builder()
        .build()
        .and_then(|c| c.get(url).send())
        .map_err(fail)?;
    if !resp.status().is_success() {
        return Err(RemoteError::fetch(url, HttpStatus(resp.status().as_u16())));
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let mut out = DownloadFile::create(dir, url)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp
            .read(&mut buf)
            .map_err(|e| RemoteError::fetch(url, e))?;
        if n == 0 {
            break;
        }
        std::io::Write::write_all(&mut out, &buf[..n])
            .map_err(|e| RemoteError::io(out.path(), "write", e))?;
    }
    out.finish(mtime)
}
