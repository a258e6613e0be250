//! A result computed ahead of time on another thread, or on demand if nobody got to it yet.
//!
//! The solver computes a COPY's key only once its parent's key is known, so in a stage with
//! several COPYs from a large context the walks would run one after the other; computing
//! them ahead lets them overlap each other and the rest of the build's startup.

use std::sync::{Condvar, Mutex, MutexGuard};

enum Slot<T> {
    /// Nobody has started.
    Idle,
    /// Being computed ahead.
    Running,
    /// Computed ahead, not yet taken.
    Done(T),
    /// Taken (or computed on demand); a later request computes again.
    Taken,
}

/// One value that can be computed ahead once and taken once.
pub struct Prefetch<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

impl<T> Default for Prefetch<T> {
    fn default() -> Self {
        Prefetch {
            slot: Mutex::new(Slot::Idle),
            ready: Condvar::new(),
        }
    }
}

/// Puts the slot back to `Taken` if the computation ahead unwinds, so takers never hang.
struct Unwinding<'a, T>(&'a Prefetch<T>);

impl<T> Drop for Unwinding<'_, T> {
    fn drop(&mut self) {
        *self.0.lock() = Slot::Taken;
        self.0.ready.notify_all();
    }
}

impl<T> Prefetch<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Computes the value now, unless it was already started or taken.
    pub fn run_ahead(&self, compute: impl FnOnce() -> T) {
        {
            let mut slot = self.lock();
            if !matches!(*slot, Slot::Idle) {
                return;
            }
            *slot = Slot::Running;
        }
        let guard = Unwinding(self);
        let value = compute();
        std::mem::forget(guard);
        *self.lock() = Slot::Done(value);
        self.ready.notify_all();
    }

    /// The value computed ahead (waiting if it is under way), else `compute()` now.
    pub fn take_or(&self, compute: impl FnOnce() -> T) -> T {
        let mut slot = self.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Done(v) => return v,
                Slot::Running => {
                    *slot = Slot::Running;
                    slot = self.ready.wait(slot).unwrap_or_else(|p| p.into_inner());
                }
                Slot::Idle | Slot::Taken => {
                    drop(slot);
                    return compute();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn computed_ahead_once_then_on_demand() {
        let p = Prefetch::default();
        p.run_ahead(|| 1);
        p.run_ahead(|| 2);
        assert_eq!(p.take_or(|| 3), 1);
        assert_eq!(p.take_or(|| 4), 4);
        p.run_ahead(|| 5);
        assert_eq!(p.take_or(|| 6), 6);
    }

    #[test]
    fn taker_waits_for_a_running_computation() {
        let p = Prefetch::default();
        let runs = AtomicUsize::new(0);
        let (started, wait_started) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                p.run_ahead(|| {
                    started.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(30));
                    runs.fetch_add(1, Ordering::SeqCst);
                    "ahead"
                })
            });
            wait_started.recv().unwrap();
            assert_eq!(p.take_or(|| "demand"), "ahead");
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panic_ahead_does_not_hang_the_taker() {
        let p = Prefetch::<u32>::default();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            p.run_ahead(|| panic!("boom"))
        }));
        assert!(r.is_err());
        assert_eq!(p.take_or(|| 7), 7);
    }
}
