//! Timeouts that catch a silent registry without cutting slow transfers: connecting is
//! bounded, and after that a request only fails when no byte moved for the idle time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// Once an upload body has been handed over, its answer may take this many idle times: the
/// kernel still drains its send buffer and the registry hashes and moves the blob.
const ANSWER_AFTER_UPLOAD: u32 = 4;

/// How long to wait for a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving the host and opening the connection (TCP and TLS).
    pub connect: Duration,
    /// Longest time without a byte moving: waiting for an answer, between chunks of a body
    /// received, between chunks of an upload sent. Not a limit on the whole transfer.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

/// When one request last made progress; shared with the body it uploads.
#[derive(Clone)]
pub(crate) struct Activity(Arc<State>);

struct State {
    start: Instant,
    /// Allowed before the first sign of progress: connecting, then one idle time.
    first: Duration,
    idle: Duration,
    /// Milliseconds after `start` of the last upload chunk; `u64::MAX` before the first.
    last_ms: AtomicU64,
    upload_done: AtomicBool,
}

impl Activity {
    /// A clock for a request starting now.
    pub fn new(t: &Timeouts) -> Activity {
        Activity(Arc::new(State {
            start: Instant::now(),
            first: t.connect.saturating_add(t.idle),
            idle: t.idle,
            last_ms: AtomicU64::new(u64::MAX),
            upload_done: AtomicBool::new(false),
        }))
    }

    fn touch(&self, done: bool) {
        let ms = self.0.start.elapsed().as_millis() as u64;
        self.0.last_ms.store(ms, Ordering::Relaxed);
        if done {
            self.0.upload_done.store(true, Ordering::Relaxed);
        }
    }

    /// When the request counts as stalled unless something moves before.
    fn deadline(&self) -> Instant {
        let s = &self.0;
        match s.last_ms.load(Ordering::Relaxed) {
            u64::MAX => s.start + s.first,
            ms if s.upload_done.load(Ordering::Relaxed) => {
                s.start + Duration::from_millis(ms) + s.idle.saturating_mul(ANSWER_AFTER_UPLOAD)
            }
            ms => s.start + Duration::from_millis(ms) + s.idle,
        }
    }
}

/// Runs `fut` until it finishes (`Some`) or `activity` shows no progress in time (`None`).
pub(crate) async fn watch<F: Future>(activity: &Activity, fut: F) -> Option<F::Output> {
    tokio::pin!(fut);
    loop {
        let deadline = activity.deadline();
        tokio::select! {
            out = &mut fut => return Some(out),
            () = tokio::time::sleep_until(deadline) => {
                if activity.deadline() <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// A request body that reports each chunk taken from it to an [`Activity`], and when it is
/// all taken: after `length` bytes (hyper stops polling a body once its `Content-Length` is
/// sent, so the end of the stream may never be seen) or at its end.
pub(crate) struct ActivityBody<B> {
    inner: B,
    activity: Activity,
    remaining: Option<u64>,
}

impl<B> ActivityBody<B> {
    /// Wraps `inner`, of `length` bytes when known.
    pub fn new(inner: B, activity: Activity, length: Option<u64>) -> Self {
        ActivityBody {
            inner,
            activity,
            remaining: length,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ActivityBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                this.remaining = this.remaining.map(|r| r.saturating_sub(n));
                let done = this.remaining == Some(0) || this.inner.is_end_stream();
                this.activity.touch(done);
            }
            Poll::Ready(None) => this.activity.touch(true),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short() -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(100),
            idle: Duration::from_millis(200),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_past_connect_and_idle_times_out() {
        let a = Activity::new(&short());
        let t0 = Instant::now();
        let out = watch(&a, std::future::pending::<()>()).await;
        assert!(out.is_none());
        assert_eq!(t0.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_pushes_the_deadline_and_a_finished_upload_gets_longer() {
        let a = Activity::new(&short());
        let toucher = a.clone();
        let t0 = Instant::now();
        let work = async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                toucher.touch(false);
            }
            toucher.touch(true);
            tokio::time::sleep(Duration::from_millis(700)).await;
            "answered"
        };
        assert_eq!(watch(&a, work).await, Some("answered"));
        assert_eq!(t0.elapsed(), Duration::from_millis(2200));
    }

    #[tokio::test]
    async fn an_upload_is_done_once_its_length_is_taken_even_if_its_end_is_never_polled() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"de")),
        ];
        let inner = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let a = Activity::new(&short());
        let mut body = ActivityBody::new(inner, a.clone(), Some(5));
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(first.is_some());
        assert!(!a.0.upload_done.load(Ordering::Relaxed));
        let second = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(second.is_some());
        assert!(a.0.upload_done.load(Ordering::Relaxed));
    }
}
