//! Progress events a build emits; the CLI renders them (plain, tty).

use std::time::Duration;

/// One step of the build as shown to users (`#3 [build 2/5] RUN make`).
#[derive(Clone, Debug)]
pub struct StepInfo {
    /// Sequence number shown as `#N`.
    pub number: usize,
    /// `[stage i/n]` label.
    pub label: String,
    /// The instruction text.
    pub instruction: String,
}

/// What happened.
#[derive(Clone, Debug)]
pub enum Event {
    /// A step began work.
    Started(StepInfo),
    /// A step was satisfied from the cache.
    Cached(StepInfo),
    /// A step missed the cache; the reason names the first input that differed.
    Miss(StepInfo, String),
    /// Output of a running step (bytes as produced, never clipped).
    Output(usize, Vec<u8>),
    /// A step finished.
    Done(usize, Duration),
    /// A step failed.
    Failed(usize, String),
    /// A free-form note (warnings, exported images).
    Note(String),
}

/// Receives events; must be callable from several threads.
pub trait Reporter: Send + Sync {
    /// Handles one event.
    fn event(&self, ev: Event);
}

/// A reporter that drops everything (for tests and library use).
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _ev: Event) {}
}

/// How many steps a build took from the cache and how many it ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Steps taken from the cache (or from an identical step of the same build).
    pub cached: usize,
    /// Steps that ran.
    pub executed: usize,
    /// Of the cached steps, those found in a `--cache-from` cache (not in the store).
    pub remote: usize,
}

/// Passes events on and counts cached and executed steps.
pub struct Counting {
    inner: std::sync::Arc<dyn Reporter>,
    cached: std::sync::atomic::AtomicUsize,
    executed: std::sync::atomic::AtomicUsize,
    /// Steps run by earlier attempts of the build (each a local cache hit in the next one).
    earlier: std::sync::atomic::AtomicUsize,
}

impl Counting {
    /// Counts what goes to `inner`.
    pub fn new(inner: std::sync::Arc<dyn Reporter>) -> Self {
        Counting {
            inner,
            cached: Default::default(),
            executed: Default::default(),
            earlier: Default::default(),
        }
    }

    /// The build runs again: its steps that ran are counted once, not again as cached.
    pub fn restart(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.earlier
            .fetch_add(self.executed.swap(0, Relaxed), Relaxed);
        self.cached.store(0, Relaxed);
    }

    /// The counts so far.
    pub fn stats(&self) -> CacheStats {
        use std::sync::atomic::Ordering::Relaxed;
        let earlier = self.earlier.load(Relaxed);
        CacheStats {
            cached: self.cached.load(Relaxed).saturating_sub(earlier),
            executed: self.executed.load(Relaxed) + earlier,
            remote: 0,
        }
    }
}

impl Reporter for Counting {
    fn event(&self, ev: Event) {
        use std::sync::atomic::Ordering::Relaxed;
        match &ev {
            Event::Cached(_) => {
                self.cached.fetch_add(1, Relaxed);
            }
            // Base images are never cached and do no work: they are not counted.
            Event::Miss(_, why) if !why.contains("not cacheable") => {
                self.executed.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        self.inner.event(ev);
    }
}
