//! Blob upload sessions: mount or start, monolithic PUT or chunked PATCH streamed from disk,
//! resuming from the registry's `Range` after a failure, restarting when the session is lost.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use rbuild_oci::{Descriptor, Digest};
use rbuild_store::Store;
use reqwest::{Method, Response, Url};

use super::PushEvent;
use crate::client::{status_error, Client, Endpoint};
use crate::error::RegistryError;

/// Bytes read from disk per body chunk.
const READ_CHUNK: u64 = 256 << 10;

/// How a blob upload began.
pub(crate) enum Started {
    /// The registry mounted the blob from another repository: nothing to upload.
    Mounted,
    /// An upload session to send the bytes to.
    Session(Session),
}

/// An open upload session.
pub(crate) struct Session {
    /// Where to send the next request.
    location: Url,
    /// The registry's smallest accepted chunk (`OCI-Chunk-Min-Length`).
    min_chunk: u64,
    /// Bytes the registry already holds.
    offset: u64,
}

/// A request body streaming `len` bytes of `file` from `start`, read on blocking threads.
fn range_body(file: Arc<std::fs::File>, start: u64, len: u64) -> reqwest::Body {
    let stream = futures_util::stream::try_unfold(
        (file, start, start + len),
        |(file, pos, end)| async move {
            if pos >= end {
                return Ok(None);
            }
            let n = (end - pos).min(READ_CHUNK) as usize;
            let f = file.clone();
            let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let mut buf = vec![0u8; n];
                f.read_exact_at(&mut buf, pos)?;
                Ok(buf)
            })
            .await
            .map_err(std::io::Error::other)??;
            Ok::<_, std::io::Error>(Some((Bytes::from(buf), (file, pos + n as u64, end))))
        },
    );
    reqwest::Body::wrap_stream(stream)
}

/// The session URL from a response's `Location` (relative ones resolve against the request).
fn location(resp: &Response, ep: &Endpoint) -> Result<Url, RegistryError> {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ep.protocol("upload response without Location header".into()))?;
    resp.url()
        .join(loc)
        .map_err(|e| ep.protocol(format!("bad upload Location: {e}")))
}

/// The last byte the registry holds, from `Range: 0-<end>`; `None` when it holds nothing.
fn range_end(resp: &Response) -> Option<u64> {
    let v = resp.headers().get("range")?.to_str().ok()?;
    let end: u64 = v
        .trim()
        .trim_start_matches("bytes=")
        .split('-')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    // distribution reports an empty upload as "0-0"; our chunks are never one byte long.
    (end > 0).then_some(end)
}

fn with_digest(url: &Url, digest: &Digest) -> Url {
    let mut u = url.clone();
    u.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    u
}

impl Client {
    /// POSTs a new upload session, asking to mount from `from` when it is given.
    pub(crate) async fn start_upload(
        &self,
        ep: &Endpoint,
        digest: &Digest,
        from: Option<&str>,
    ) -> Result<Started, RegistryError> {
        let mut url = ep.url("blobs/uploads/")?;
        let mut scopes = vec![ep.scope("pull,push")];
        if let Some(from) = from {
            url.query_pairs_mut()
                .append_pair("mount", &digest.to_string())
                .append_pair("from", from);
            scopes.push(format!("repository:{from}:pull"));
        }
        let resp = self
            .request(ep, &scopes, Method::POST, &url, &|rb| {
                Ok(rb.header("content-length", "0"))
            })
            .await?;
        match resp.status().as_u16() {
            201 if from.is_some() => Ok(Started::Mounted),
            202 => {
                let min_chunk = resp
                    .headers()
                    .get("oci-chunk-min-length")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0);
                Ok(Started::Session(Session {
                    location: location(&resp, ep)?,
                    min_chunk,
                    offset: 0,
                }))
            }
            _ => Err(status_error(resp, &Method::POST, ep, "upload session").await),
        }
    }

    /// Sends the blob's bytes; on failure resumes or restarts the session, up to the retry limit.
    pub(crate) async fn upload(
        &self,
        store: &Store,
        ep: &Endpoint,
        desc: &Descriptor,
        mut session: Session,
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        let file = Arc::new(store.open_blob(&desc.digest)?);
        let scopes = [ep.scope("pull,push")];
        let mut attempt = 1;
        loop {
            let result = if desc.size <= self.inner.chunk_size {
                self.put_whole(ep, &scopes, desc, &session, &file).await
            } else {
                self.put_chunked(ep, &scopes, desc, &mut session, &file, progress)
                    .await
            };
            let err = match result {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            // The bytes may have arrived even though the answer did not.
            if self
                .blob_exists(ep, &scopes, &desc.digest)
                .await
                .unwrap_or(false)
            {
                return Ok(());
            }
            if attempt >= self.inner.retry.attempts || !retryable(&err) {
                return Err(err);
            }
            attempt += 1;
            progress(PushEvent::Retrying {
                digest: desc.digest.clone(),
                attempt,
                reason: err.to_string(),
            });
            tokio::time::sleep(self.inner.retry.backoff(attempt - 1)).await;
            let chunked = desc.size > self.inner.chunk_size;
            let resumed = match chunked {
                true => self.resume(ep, &scopes, &session).await,
                false => None,
            };
            session = match resumed {
                Some(s) => s,
                None => match self.start_upload(ep, &desc.digest, None).await? {
                    Started::Session(s) => s,
                    Started::Mounted => return Ok(()),
                },
            };
        }
    }

    /// One streaming PUT of the whole blob.
    async fn put_whole(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        s: &Session,
        file: &Arc<std::fs::File>,
    ) -> Result<(), RegistryError> {
        let url = with_digest(&s.location, &desc.digest);
        let size = desc.size;
        let resp = self
            .request(ep, scopes, Method::PUT, &url, &|rb| {
                Ok(rb
                    .header("content-type", "application/octet-stream")
                    .header("content-length", size.to_string())
                    .body(range_body(file.clone(), 0, size)))
            })
            .await?;
        finish(resp, ep, desc).await
    }

    /// PATCHes the blob in chunks from the session's current offset, then PUTs the digest.
    async fn put_chunked(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        s: &mut Session,
        file: &Arc<std::fs::File>,
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        let chunk = self.inner.chunk_size.max(s.min_chunk);
        let mut offset = s.offset;
        while offset < desc.size {
            let len = chunk.min(desc.size - offset);
            let range = format!("{offset}-{}", offset + len - 1);
            let loc = s.location.clone();
            let resp = self
                .request(ep, scopes, Method::PATCH, &loc, &|rb| {
                    Ok(rb
                        .header("content-type", "application/octet-stream")
                        .header("content-range", range.as_str())
                        .header("content-length", len.to_string())
                        .body(range_body(file.clone(), offset, len)))
                })
                .await?;
            if resp.status().as_u16() != 202 {
                return Err(status_error(
                    resp,
                    &Method::PATCH,
                    ep,
                    &format!("blob {} chunk {range}", desc.digest),
                )
                .await);
            }
            s.location = location(&resp, ep)?;
            offset = range_end(&resp).map_or(offset + len, |e| e + 1);
            s.offset = offset;
            progress(PushEvent::Progress {
                digest: desc.digest.clone(),
                sent: offset,
                total: desc.size,
            });
        }
        let url = with_digest(&s.location, &desc.digest);
        let resp = self
            .request(ep, scopes, Method::PUT, &url, &|rb| {
                Ok(rb.header("content-length", "0"))
            })
            .await?;
        finish(resp, ep, desc).await
    }

    /// Asks the registry how much of the session it holds. `None` when the session is gone.
    async fn resume(&self, ep: &Endpoint, scopes: &[String], s: &Session) -> Option<Session> {
        let resp = self
            .request(ep, scopes, Method::GET, &s.location, &Ok)
            .await
            .ok()?;
        if resp.status().as_u16() != 204 {
            return None;
        }
        let location = location(&resp, ep).unwrap_or_else(|_| s.location.clone());
        let offset = range_end(&resp).map_or(0, |e| e + 1);
        Some(Session {
            location,
            min_chunk: s.min_chunk,
            offset,
        })
    }
}

/// Checks the final PUT: 201 and, when the registry says, the right digest.
async fn finish(resp: Response, ep: &Endpoint, desc: &Descriptor) -> Result<(), RegistryError> {
    if resp.status().as_u16() != 201 {
        return Err(status_error(resp, &Method::PUT, ep, &format!("blob {}", desc.digest)).await);
    }
    let seen = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<Digest>().ok());
    match seen {
        Some(actual) if actual != desc.digest => Err(RegistryError::DigestMismatch {
            what: format!("blob uploaded to {}", ep.name()),
            expected: desc.digest.clone(),
            actual,
        }),
        _ => Ok(()),
    }
}

/// Whether an upload failure is worth another session: network trouble, 5xx/429, or a lost
/// or confused session (404, 400 BLOB_UPLOAD_INVALID, 416 range mismatch).
fn retryable(e: &RegistryError) -> bool {
    match e {
        RegistryError::Status { status, .. } => matches!(status, 400 | 416 | 429) || *status >= 500,
        RegistryError::NotFound { .. } => true,
        other => other.is_transient(),
    }
}
