//! ADD of a URL through the registry client's HTTP stack: its TLS setup, timeouts and retries,
//! the proxies of the build args, a body streamed to disk while it is hashed (never held in
//! memory), resumed with `Range` after a broken transfer, never longer than announced.

mod blocking;
mod http;

use std::path::{Path, PathBuf};

use rbuild_context::remote::{parse_http_date, Download, DownloadFile, ProxyConfig};
use reqwest::{Response, Url};

use crate::client::Client;
use crate::error::{redact_url, RegistryError};
use crate::sink::Sink;
use crate::transport::{network_error, range_start, range_total, CopyError};

pub use blocking::UrlFetch;

/// What the answers so far said about the content.
#[derive(Default)]
struct Announced {
    /// Its full size, when the server said.
    total: Option<u64>,
    /// `Last-Modified`, in Unix seconds.
    modified: Option<i64>,
}

impl Client {
    /// Downloads `url` into `dest_dir/<file name>` (mode 0600, mtime from `Last-Modified`),
    /// through the proxy `proxy` names for it; the digest is computed while writing.
    pub async fn fetch_url(
        &self,
        url: &str,
        dest_dir: &Path,
        proxy: &ProxyConfig,
    ) -> Result<Download, RegistryError> {
        let parsed = Url::parse(url).map_err(|e| RegistryError::BadUrl {
            url: rbuild_context::remote::redact(url),
            reason: e.to_string(),
        })?;
        let http = self.url_http(&parsed, proxy)?;
        let file = DownloadFile::create(dest_dir, url)?;
        let path = file.path().to_path_buf();
        let (sink, announced) = self
            .download(&http, &parsed, Sink::new(file), &path)
            .await?;
        let file = sink.close().await.map_err(|e| io_error(&path, e))?;
        let modified = announced.modified;
        tokio::task::spawn_blocking(move || file.finish(modified))
            .await
            .map_err(|e| io_error(&path, std::io::Error::other(e)))?
            .map_err(RegistryError::from)
    }

    /// GETs the body into `sink`, resuming (or restarting) after a broken transfer.
    async fn download(
        &self,
        http: &reqwest::Client,
        url: &Url,
        mut sink: Sink<DownloadFile>,
        path: &Path,
    ) -> Result<(Sink<DownloadFile>, Announced), RegistryError> {
        let mut announced = Announced::default();
        let mut broken = 0;
        loop {
            let resp = self.get_url(http, url, sink.written()).await?;
            if resp.status().as_u16() != 206 && sink.written() > 0 {
                sink = restarted(sink, path).await?;
            }
            announced.update(&resp);
            let err = match self.copy_url(resp, &mut sink, url, &announced, path).await {
                Ok(()) => return Ok((sink, announced)),
                Err(CopyError::Fatal(e)) => return Err(e),
                Err(CopyError::Broken(e)) => e,
            };
            broken += 1;
            if broken >= self.inner.retry.attempts {
                return Err(err);
            }
            let what = format!("GET {}", redact_url(url));
            self.transport()
                .retrying(&what, broken + 1, err.to_string());
            tokio::time::sleep(self.inner.retry.backoff(broken)).await;
        }
    }

    /// GETs from byte `offset` on: a 206 from there, or any other success with all of it.
    async fn get_url(
        &self,
        http: &reqwest::Client,
        url: &Url,
        offset: u64,
    ) -> Result<Response, RegistryError> {
        let resp = self
            .transport()
            .send("GET", url, || {
                let rb = http.get(url.clone());
                Ok(match offset {
                    0 => rb,
                    _ => rb.header("range", format!("bytes={offset}-")),
                })
            })
            .await?;
        match resp.status().as_u16() {
            206 if offset > 0 && range_start(&resp) == Some(offset) => Ok(resp),
            206 => Err(network_error(
                "GET",
                url,
                "unexpected partial content".into(),
            )),
            _ if resp.status().is_success() => Ok(resp),
            status => Err(RegistryError::Status {
                method: "GET".into(),
                url: redact_url(url),
                status,
                message: String::new(),
            }),
        }
    }

    /// Copies a response body into the sink, never past the announced size or the limit.
    async fn copy_url(
        &self,
        resp: Response,
        sink: &mut Sink<DownloadFile>,
        url: &Url,
        announced: &Announced,
        path: &Path,
    ) -> Result<(), CopyError> {
        let transport = self.transport();
        let limit = announced
            .total
            .unwrap_or(u64::MAX)
            .min(self.inner.download_limit);
        let mut body = resp.bytes_stream();
        while let Some(chunk) = transport.next_chunk(&mut body, "GET", url).await? {
            let received = sink.written() + chunk.len() as u64;
            if received > limit {
                return Err(CopyError::Fatal(too_long(url, announced, limit, received)));
            }
            let written = sink.write(chunk).await;
            written.map_err(|e| CopyError::Fatal(io_error(path, e)))?;
        }
        match announced.total {
            Some(total) if sink.written() < total => {
                let reason = format!("body ended after {} of {total} bytes", sink.written());
                Err(CopyError::Broken(network_error("GET", url, reason)))
            }
            _ => Ok(()),
        }
    }
}

impl Announced {
    /// Takes in what a new answer says (a 206 gives the total in `Content-Range`).
    fn update(&mut self, resp: &Response) {
        let total = match resp.status().as_u16() {
            206 => range_total(resp),
            _ => resp.content_length(),
        };
        self.total = total.or(self.total);
        let modified = resp
            .headers()
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date);
        self.modified = modified.or(self.modified);
    }
}

/// The sink emptied, to receive the whole content again.
async fn restarted(
    sink: Sink<DownloadFile>,
    path: &Path,
) -> Result<Sink<DownloadFile>, RegistryError> {
    let mut file = sink.close().await.map_err(|e| io_error(path, e))?;
    file.restart()?;
    Ok(Sink::new(file))
}

/// The error for a body longer than announced, or than the client's download limit.
fn too_long(url: &Url, announced: &Announced, limit: u64, received: u64) -> RegistryError {
    match announced.total {
        Some(total) if total == limit => RegistryError::SizeMismatch {
            what: redact_url(url),
            expected: total,
            actual: received,
        },
        _ => RegistryError::TooLarge {
            what: redact_url(url),
            limit,
        },
    }
}

fn io_error(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Io {
        path: PathBuf::from(path),
        source,
    }
}
