//! Sending requests with retries: exponential backoff with jitter on connection errors, 5xx
//! and 429 (honouring `Retry-After`).

use std::future::Future;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use reqwest::{RequestBuilder, Response, StatusCode, Url};

use crate::error::{redact_url, RegistryError};

/// How often and how patiently to retry.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Total attempts per request (1 = no retry).
    pub attempts: u32,
    /// First backoff delay.
    pub base: Duration,
    /// Largest backoff delay.
    pub max: Duration,
    /// Largest `Retry-After` honoured; longer requests are capped to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (attempt counts from 1), with up to 25% jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let d = exp.min(self.max);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let jitter_range = (d.as_millis() as u64 / 4).max(1);
        d + Duration::from_millis(u64::from(nanos) % jitter_range)
    }
}

/// Whether a status is worth retrying: 429 and server errors other than "not implemented".
pub fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS
        || (s.is_server_error()
            && s != StatusCode::NOT_IMPLEMENTED
            && s != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// `Retry-After` in seconds (HTTP dates are treated as "soon": clocks disagree anyway).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    match v.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => Some(Duration::from_secs(1)),
    }
}

/// A network error as text, with its causes (the URL is left out: callers add a redacted one).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(r) => {
                let mut s = r.to_string();
                if let Some(u) = r.url() {
                    s = s.replace(&format!(" ({u})"), "").replace(u.as_str(), "");
                }
                s
            }
            None => err.to_string(),
        };
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = err.source();
    }
    out
}

/// A network error for `method url`.
pub fn network_error(method: &str, url: &Url, reason: String) -> RegistryError {
    RegistryError::Network {
        method: method.to_string(),
        url: redact_url(url),
        reason,
    }
}

/// Sends the request `build` makes (again for each attempt), retrying transient failures.
/// Returns the final response whatever its status; only network failures become errors.
pub async fn send(
    policy: &RetryPolicy,
    method: &str,
    url: &Url,
    build: impl Fn() -> Result<RequestBuilder, RegistryError>,
) -> Result<Response, RegistryError> {
    let mut attempt = 1;
    loop {
        let last = attempt >= policy.attempts;
        match build()?.send().await {
            Ok(resp) if !last && retryable_status(resp.status()) => {
                let wait = retry_after(resp.headers())
                    .map(|d| d.min(policy.max_retry_after))
                    .unwrap_or_else(|| policy.backoff(attempt));
                drop(resp);
                tokio::time::sleep(wait).await;
            }
            Ok(resp) => return Ok(resp),
            Err(e) if !last && !e.is_builder() => {
                tokio::time::sleep(policy.backoff(attempt)).await;
            }
            Err(e) => return Err(network_error(method, url, describe(&e))),
        }
        attempt += 1;
    }
}

/// Runs `op` again while it fails with a transient error (a body cut off mid-way, a 5xx).
pub async fn retry_op<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RegistryError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_transient() && attempt < policy.attempts => {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Reads a response body of at most `limit` bytes into memory.
pub async fn read_small(
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
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| network_error(method, url, describe(&e)))?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large(url, limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn too_large(url: &Url, limit: u64) -> RegistryError {
    RegistryError::InvalidContent {
        what: redact_url(url),
        reason: format!("response larger than the {limit}-byte limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(1),
        };
        let b1 = p.backoff(1);
        assert!(b1 >= Duration::from_millis(100) && b1 < Duration::from_millis(126));
        let b3 = p.backoff(3);
        assert!(b3 >= Duration::from_millis(400) && b3 < Duration::from_millis(501));
        assert!(p.backoff(30) <= Duration::from_millis(1250));
    }

    #[test]
    fn classifies_statuses_and_retry_after() {
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::BAD_GATEWAY));
        assert!(!retryable_status(StatusCode::NOT_IMPLEMENTED));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
    }
}
