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
