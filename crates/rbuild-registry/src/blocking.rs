//! Waiting for the client's futures from synchronous code (the builder's threads).

use std::future::Future;

use tokio::runtime::Handle;

/// Runs the future `make` returns to completion on `handle`, blocking this thread. A runtime's
/// own thread must not block on it, so from there the wait happens on a helper thread.
/// `None` when that helper thread panicked.
pub(crate) fn block_on<M, F, T>(handle: &Handle, make: M) -> Option<T>
where
    M: FnOnce() -> F + Send,
    F: Future<Output = T>,
    T: Send,
{
    let run = || handle.block_on(make());
    match Handle::try_current() {
        Ok(_) => std::thread::scope(|s| s.spawn(run).join().ok()),
        Err(_) => Some(run()),
    }
}
