//! Fault injection: which requests fail, and how (an error answer, a dropped connection, a
//! lost answer, a truncated, stalled or trickling body), so retry, resume and timeout paths
//! run against a real registry.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::tcp::OwnedWriteHalf;

use super::http::{write_response, write_stalled, write_trickle, write_truncated, Req, Resp};
use super::State;

/// One kind of injected failure.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Answer 500 without forwarding.
    Status500,
    /// Answer 429 with `Retry-After: 1` without forwarding.
    TooMany,
    /// Close the connection without an answer, without forwarding.
    Reset,
    /// Forward, then close without passing the answer on.
    ForwardThenDrop,
    /// For blob GETs: forward, pass on half the body, close (others: like `Reset`).
    Truncate,
    /// Forward, pass on the head and half the body, then send nothing more (connection open).
    Stall,
    /// Forward, pass the body on in `pieces` parts `gap_ms` apart: slow but moving.
    Trickle { pieces: usize, gap_ms: u64 },
}

/// Every `every`-th request to `/v2/…` gets the next fault of `kinds`.
#[derive(Clone, Debug)]
pub struct Faults {
    pub every: u64,
    pub kinds: Vec<Fault>,
    /// Only requests whose `METHOD path` contains this are candidates.
    pub only: Option<&'static str>,
}

/// The fault for this request, if it is the `every`-th candidate; counts what it injects.
pub(super) fn pick_fault(st: &State, req: &Req) -> Option<Fault> {
    let faults = st.opts.faults.as_ref()?;
    if !req.path().starts_with("/v2/") || req.path() == "/v2/" {
        return None;
    }
    let line = format!("{} {}", req.method, req.path());
    if faults.only.is_some_and(|o| !line.contains(o)) {
        return None;
    }
    let n = st.counter.fetch_add(1, Ordering::SeqCst);
    if n % faults.every != faults.every - 1 {
        return None;
    }
    let mut kind = faults.kinds[((n / faults.every) as usize) % faults.kinds.len()];
    let blob_get = req.method == "GET" && req.path().contains("/blobs/sha256:");
    if matches!(kind, Fault::Truncate) && !blob_get {
        kind = Fault::Reset;
    }
    st.faults.fetch_add(1, Ordering::SeqCst);
    Some(kind)
}

/// What a fault does before anything is forwarded.
pub(super) enum Before {
    /// Answer this instead of forwarding.
    Answer(Resp),
    /// Close the connection without an answer.
    Close,
    /// Forward (the fault, if any, strikes on the way back).
    Forward,
}

/// The faults that strike before forwarding: error answers and resets.
pub(super) fn before_forward(fault: Option<Fault>) -> Before {
    match fault {
        Some(Fault::Status500) => Before::Answer(Resp::json(
            500,
            r#"{"errors":[{"code":"UNKNOWN","message":"injected"}]}"#,
        )),
        Some(Fault::TooMany) => {
            let mut resp = Resp::json(
                429,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}"#,
            );
            resp.headers.push(("retry-after".into(), "1".into()));
            Before::Answer(resp)
        }
        Some(Fault::Reset) => Before::Close,
        _ => Before::Forward,
    }
}

/// Passes the upstream answer on, as the fault (if any) dictates; false to close the connection.
pub(super) async fn after_forward(
    fault: Option<Fault>,
    w: &mut OwnedWriteHalf,
    resp: &Resp,
    head: bool,
) -> bool {
    match fault {
        Some(Fault::ForwardThenDrop) => false,
        Some(Fault::Truncate) => {
            let _ = write_truncated(w, resp).await;
            false
        }
        Some(Fault::Stall) => {
            let _ = write_stalled(w, resp).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
        Some(Fault::Trickle { pieces, gap_ms }) => {
            let gap = Duration::from_millis(gap_ms);
            write_trickle(w, resp, pieces, gap).await.is_ok()
        }
        _ => write_response(w, resp, head).await.is_ok(),
    }
}
