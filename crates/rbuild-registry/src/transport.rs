//! Sending requests: connect and idle timeouts, retries with exponential backoff and jitter on
//! connection errors, 5xx and 429 (honouring `Retry-After`), and bounded body reads.

mod failure;
mod idle;
mod retry;

use futures_util::{Stream, StreamExt};
use reqwest::{Body, RequestBuilder, Response, Url};

use crate::error::{redact_url, RegistryError};
use crate::progress::{ProgressFn, PullEvent};

use failure::Failure;
pub(crate) use failure::{describe, host_of};
pub use idle::Timeouts;
use idle::{watch, Activity, ActivityBody};
pub(crate) use retry::SINGLE_ATTEMPT;
pub use retry::{retry_after, retryable_status, RetryPolicy};

/// How requests are sent: retry policy, timeouts, and who hears about retries.
#[derive(Clone, Copy)]
pub(crate) struct Transport<'a> {
    pub retry: &'a RetryPolicy,
    pub timeouts: &'a Timeouts,
    pub progress: Option<&'a ProgressFn>,
}

/// A network error for `method url`.
pub fn network_error(method: &str, url: &Url, reason: String) -> RegistryError {
    RegistryError::Network {
        method: method.to_string(),
        url: redact_url(url),
        reason,
    }
}

impl Transport<'_> {
    /// Sends the request `build` makes (again for each attempt), retrying transient failures.
    /// Returns the final response whatever its status; only network failures become errors.
    pub async fn send(
        &self,
        method: &str,
        url: &Url,
        build: impl Fn() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 1;
        loop {
            let last = attempt >= self.retry.attempts;
            let (wait, reason) = match self.attempt(build()?).await {
                Ok(resp) if !last && retryable_status(resp.status()) => {
                    let wait = retry_after(resp.headers())
                        .map(|d| d.min(self.retry.max_retry_after))
                        .unwrap_or_else(|| self.retry.backoff(attempt));
                    (wait, format!("registry answered {}", resp.status()))
                }
                Ok(resp) => return Ok(resp),
                Err(f) if f.retryable(attempt, self.retry.attempts) => {
                    (self.retry.backoff(attempt), f.summary())
                }
                Err(f) => return Err(f.into_error(method, url)),
            };
            attempt += 1;
            let what = format!("{method} {}", redact_url(url));
            self.retrying(&what, attempt, reason);
            tokio::time::sleep(wait).await;
        }
    }

    /// One try: the upload body (if streamed) reports progress, and silence ends the wait.
    async fn attempt(&self, rb: RequestBuilder) -> Result<Response, Failure> {
        let (client, req) = rb.build_split();
        let mut req = req.map_err(|e| Failure::Builder(describe(&e)))?;
        let activity = Activity::new(self.timeouts);
        let length = req
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if let Some(body) = req.body_mut().take() {
            // A body held in memory is written at once; only streamed uploads take long.
            *req.body_mut() = Some(match body.as_bytes() {
                Some(_) => body,
                None => Body::wrap(ActivityBody::new(body, activity.clone(), length)),
            });
        }
        match watch(&activity, client.execute(req)).await {
            Some(Ok(resp)) => Ok(resp),
            Some(Err(e)) => Err(Failure::of(&e, self.timeouts)),
            None => Err(Failure::Idle(self.timeouts.idle)),
        }
    }

    /// Tells the observer, if any, that `what` is about to be tried again.
    pub fn retrying(&self, what: &str, attempt: u32, reason: String) {
        if let Some(p) = self.progress {
            p(PullEvent::Retrying {
                what: what.to_string(),
                attempt,
                reason,
            });
        }
    }

    /// The next chunk of a response body; fails when none arrives within the idle timeout.
    pub async fn next_chunk<S>(
        &self,
        body: &mut S,
        method: &str,
        url: &Url,
    ) -> Result<Option<bytes::Bytes>, RegistryError>
    where
        S: Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    {
        match tokio::time::timeout(self.timeouts.idle, body.next()).await {
            Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            Ok(Some(Err(e))) => Err(Failure::of(&e, self.timeouts).into_error(method, url)),
            Ok(None) => Ok(None),
            Err(_) => Err(Failure::Idle(self.timeouts.idle).into_error(method, url)),
        }
    }

    /// Reads a response body of at most `limit` bytes into memory.
    pub async fn read_small(
        &self,
        resp: Response,
        method: &str,
        url: &Url,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(url, limit));
        }
        let mut out = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = self.next_chunk(&mut body, method, url).await? {
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large(url, limit));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

fn too_large(url: &Url, limit: u64) -> RegistryError {
    RegistryError::TooLarge {
        what: redact_url(url),
        limit,
    }
}

/// Why copying a response body stopped.
pub(crate) enum CopyError {
    /// The connection broke or stalled: resume.
    Broken(RegistryError),
    /// Anything else: give up.
    Fatal(RegistryError),
}

impl From<RegistryError> for CopyError {
    fn from(e: RegistryError) -> Self {
        if e.is_transient() {
            CopyError::Broken(e)
        } else {
            CopyError::Fatal(e)
        }
    }
}

/// The first byte of a 206 response's `Content-Range: bytes <start>-<end>/<total>`.
pub(crate) fn range_start(resp: &Response) -> Option<u64> {
    content_range(resp)?.0
}

/// The total of a 206 response's `Content-Range` (`None` when it is `*` or absent).
pub(crate) fn range_total(resp: &Response) -> Option<u64> {
    content_range(resp)?.1
}

fn content_range(resp: &Response) -> Option<(Option<u64>, Option<u64>)> {
    let v = resp.headers().get("content-range")?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/').unwrap_or((rest, "*"));
    let start = span.split('-').next()?.trim().parse().ok();
    Some((start, total.trim().parse().ok()))
}
