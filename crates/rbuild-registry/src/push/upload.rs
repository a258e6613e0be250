//! Blob upload sessions: mount or start, then send the bytes (see `body`), resuming from the
//! registry's `Range` after a failure, restarting when the session is lost.

use std::sync::Arc;

use rbuild_oci::{Descriptor, Digest};
use rbuild_store::Store;
use reqwest::{Method, Response, Url};

use super::PushEvent;
use crate::client::{Client, Endpoint};
use crate::error::RegistryError;

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
    pub(super) location: Url,
    /// The registry's smallest accepted chunk (`OCI-Chunk-Min-Length`).
    pub(super) min_chunk: u64,
    /// Bytes the registry already holds.
    pub(super) offset: u64,
}

/// The session URL from a response's `Location` (relative ones resolve against the request).
pub(super) fn location(resp: &Response, ep: &Endpoint) -> Result<Url, RegistryError> {
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
pub(super) fn range_end(resp: &Response) -> Option<u64> {
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
            _ => Err(self
                .status_error(resp, &Method::POST, ep, "upload session")
                .await),
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
            let sent = self.send_blob(ep, &scopes, desc, &mut session, &file, progress);
            let err = match sent.await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            // The bytes may have arrived even though the answer did not.
            if matches!(self.blob_exists(ep, &scopes, &desc.digest).await, Ok(true)) {
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
            match self.next_session(ep, &scopes, desc, &session).await? {
                Some(s) => session = s,
                None => return Ok(()),
            }
        }
    }

    /// One whole PUT for a blob up to the chunk size, PATCH chunks for a larger one.
    async fn send_blob(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        session: &mut Session,
        file: &Arc<std::fs::File>,
        progress: &dyn Fn(PushEvent),
    ) -> Result<(), RegistryError> {
        if desc.size <= self.inner.chunk_size {
            self.put_whole(ep, scopes, desc, session, file).await
        } else {
            self.put_chunked(ep, scopes, desc, session, file, progress)
                .await
        }
    }

    /// The session to try again with: the old one resumed where the registry holds it (chunked
    /// uploads), else a new one; `None` when the registry mounted the blob meanwhile.
    async fn next_session(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        desc: &Descriptor,
        old: &Session,
    ) -> Result<Option<Session>, RegistryError> {
        if desc.size > self.inner.chunk_size {
            if let Some(s) = self.resume(ep, scopes, old).await {
                return Ok(Some(s));
            }
        }
        match self.start_upload(ep, &desc.digest, None).await? {
            Started::Session(s) => Ok(Some(s)),
            Started::Mounted => Ok(None),
        }
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

/// Whether an upload failure is worth another session: network trouble, 5xx/429, or a lost
/// or confused session (404, 400 BLOB_UPLOAD_INVALID, 416 range mismatch).
fn retryable(e: &RegistryError) -> bool {
    match e {
        RegistryError::Status { status, .. } => matches!(status, 400 | 416 | 429) || *status >= 500,
        RegistryError::NotFound { .. } => true,
        other => other.is_transient(),
    }
}
