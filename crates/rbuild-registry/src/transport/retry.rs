//! When to retry: the backoff schedule, which statuses are transient, `Retry-After`.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

/// Attempts at most when no connection can be made (refused, or not made within the connect
/// timeout): a registry being restarted is back within a second or so, one that is not there
/// never comes, and the user should hear so quickly rather than after the whole policy.
pub(crate) const CONNECT_ATTEMPTS: u32 = 3;

/// No retry: for requests whose caller has a retry loop of its own.
pub(crate) const SINGLE_ATTEMPT: RetryPolicy = RetryPolicy {
    attempts: 1,
    base: Duration::ZERO,
    max: Duration::ZERO,
    max_retry_after: Duration::ZERO,
};

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
