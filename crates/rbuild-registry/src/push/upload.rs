//! Blob upload sessions: mount or start, then send the bytes (see `body`), resuming from the
//! registry's `Range` after a failure, restarting when the session is lost. Each request is
//! retried at one level only: those carrying the bytes by this loop (sent once each by the
//! transport), the session queries and POSTs by the transport (this loop does not repeat them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rbuild_oci::{Descriptor, Digest};
use rbuild_store::Store;
use reqwest::{Method, Response, Url};

use super::{Progress, PushEvent};
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
#[derive(Clone)]
pub(crate) struct Session {
    /// Where to send the next request.
    pub(crate) location: Url,
    /// The registry's smallest accepted chunk (`OCI-Chunk-Min-Length`).
    pub(super) min_chunk: u64,
    /// Bytes the registry already holds.
    pub(super) offset: u64,
}

/// One blob being sent: where, what, from which file, and who hears about it.
pub(super) struct Upload<'a> {
    pub ep: &'a Endpoint,
    pub desc: &'a Descriptor,
    pub file: Arc<std::fs::File>,
    /// Bytes read into request bodies so far (resent bytes count again).
    pub sent: Arc<AtomicU64>,
    pub progress: Progress<'a>,
}

impl Upload<'_> {
    /// The scopes every request of the upload needs.
    pub fn scopes(&self) -> [String; 1] {
        [self.ep.scope("pull,push")]
    }
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

    /// Sends the blob's bytes (counted in `sent`); on failure resumes or restarts the session,
    /// up to the retry limit.
    pub(crate) async fn upload(
        &self,
        store: &Store,
        ep: &Endpoint,
        desc: &Descriptor,
        session: Session,
        progress: Progress<'_>,
        sent: &Arc<AtomicU64>,
    ) -> Result<(), RegistryError> {
        let up = Upload {
            ep,
            desc,
            file: Arc::new(store.open_blob(&desc.digest)?),
            sent: sent.clone(),
            progress,
        };
        self.upload_with_retries(&up, session).await
    }

    /// Gives up after as many attempts in a row as the retry policy allows that got no byte
    /// further (so a large upload through a flaky link goes on while it progresses), or after
    /// that many attempts per chunk in all.
    async fn upload_with_retries(
        &self,
        up: &Upload<'_>,
        mut session: Session,
    ) -> Result<(), RegistryError> {
        let once = self.single_attempt();
        let attempts = self.inner.retry.attempts;
        let budget = attempts.saturating_mul(self.chunks(up.desc.size));
        let (mut stalled, mut total) = (0, 0);
        loop {
            let start = session.offset;
            let err = match once.send_blob(up, &mut session).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if self.closing_failed(up, &session, &err) && once.committed(up).await {
                return Ok(());
            }
            stalled = if session.offset > start {
                1
            } else {
                stalled + 1
            };
            total += 1;
            if stalled >= attempts || total >= budget || !retryable(&err) {
                return Err(err);
            }
            self.before_retry(up, stalled + 1, &err).await;
            let failed_at = session.offset;
            match self.next_session(up, &session, &err).await? {
                // The registry holds more than it acknowledged: that was progress too.
                Some(s) if s.offset > failed_at => (stalled, session) = (0, s),
                Some(s) => session = s,
                None => return Ok(()),
            }
        }
    }

    /// Requests that carry the blob's bytes: one PUT, or one PATCH per chunk.
    fn chunks(&self, size: u64) -> u32 {
        let n = size.div_ceil(self.inner.chunk_size).max(1);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether the request that completes the blob (a whole PUT, or the closing PUT once every
    /// chunk is acknowledged; before that the blob cannot exist) failed without an answer: it
    /// may have worked though the answer was lost.
    fn closing_failed(&self, up: &Upload<'_>, session: &Session, err: &RegistryError) -> bool {
        let closing = up.desc.size <= self.inner.chunk_size || session.offset >= up.desc.size;
        let unanswered = !matches!(err, RegistryError::Status { .. }) && err.is_transient();
        closing && unanswered
    }

    /// Whether the registry has the blob.
    async fn committed(&self, up: &Upload<'_>) -> bool {
        let scopes = up.scopes();
        let probe = self.blob_exists(up.ep, &scopes, &up.desc.digest).await;
        matches!(probe, Ok(true))
    }

    /// Reports the retry about to be made, then waits the backoff.
    async fn before_retry(&self, up: &Upload<'_>, attempt: u32, err: &RegistryError) {
        (up.progress)(PushEvent::Retrying {
            digest: up.desc.digest.clone(),
            attempt,
            reason: err.to_string(),
        });
        tokio::time::sleep(self.inner.retry.backoff(attempt - 1)).await;
    }

    /// One whole PUT for a blob up to the chunk size, PATCH chunks for a larger one.
    async fn send_blob(&self, up: &Upload<'_>, session: &mut Session) -> Result<(), RegistryError> {
        if up.desc.size <= self.inner.chunk_size {
            self.put_whole(up, session).await
        } else {
            self.put_chunked(up, session).await
        }
    }

    /// The session to try again with: the old one resumed where the registry holds it (chunked
    /// uploads), else a new one; `None` when the registry mounted the blob meanwhile.
    async fn next_session(
        &self,
        up: &Upload<'_>,
        old: &Session,
        err: &RegistryError,
    ) -> Result<Option<Session>, RegistryError> {
        if up.desc.size > self.inner.chunk_size {
            // A chunk the registry refused with a server error or 429 left the session as it
            // was: send it again (a 416 then says when it was not).
            if matches!(err, RegistryError::Status { status, .. } if *status >= 429 && *status != 501)
            {
                return Ok(Some(old.clone()));
            }
            if let Some(s) = self.resume(up, old).await {
                return Ok(Some(s));
            }
        }
        match self.start_upload(up.ep, &up.desc.digest, None).await? {
            Started::Session(s) => Ok(Some(s)),
            Started::Mounted => Ok(None),
        }
    }

    /// Asks the registry how much of the session it holds. `None` when the session is gone.
    async fn resume(&self, up: &Upload<'_>, s: &Session) -> Option<Session> {
        let scopes = up.scopes();
        let resp = self
            .request(up.ep, &scopes, Method::GET, &s.location, &Ok)
            .await
            .ok()?;
        if resp.status().as_u16() != 204 {
            return None;
        }
        let location = location(&resp, up.ep).unwrap_or_else(|_| s.location.clone());
        let offset = range_end(&resp).map_or(0, |e| e + 1);
        Some(Session {
            location,
            min_chunk: s.min_chunk,
            offset,
        })
    }
}

/// Adds `n` to a sent-bytes counter.
pub(super) fn count(sent: &AtomicU64, n: u64) {
    sent.fetch_add(n, Ordering::Relaxed);
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
