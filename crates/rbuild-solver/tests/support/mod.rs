//! A toy op with call counters, shared by the solver tests.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use rbuild_solver::{CacheKey, Components, Event, ExecContext, KeyBuilder, Observer, Op, VertexId};

/// Toy failure.
#[derive(Debug, thiserror::Error)]
#[error("toy {0}")]
pub struct ToyError(pub String);

/// Shared counters: which ops executed, and how many ran at once.
#[derive(Default)]
pub struct Counters {
    pub execs: Mutex<Vec<String>>,
    running: AtomicUsize,
    pub max_running: AtomicUsize,
    pub saw_cancel: Mutex<Vec<String>>,
    /// The threads that computed keys or executed ops.
    pub threads: Mutex<HashSet<ThreadId>>,
}

impl Counters {
    pub fn execs(&self) -> Vec<String> {
        self.execs.lock().unwrap().clone()
    }
}

/// What a toy exec does.
#[derive(Clone, Copy, PartialEq)]
pub enum Behavior {
    Ok,
    Fail,
    Panic,
    /// Runs until cancelled (at most 5 s), then fails.
    UntilCancelled,
    /// Waits (at most 30 s) until `n` toys have been running at once, then succeeds: proof of
    /// parallelism that no timing can fake.
    Meet(usize),
    /// Like `Meet`, then fails.
    FailAfterMeet(usize),
    /// Runs until cancelled (at most 30 s), then succeeds: an op that finishes after a failure.
    OkWhenCancelled,
}

#[derive(Clone)]
pub struct Toy {
    pub identity: String,
    /// Named key components, e.g. ("arg:VERSION", "1").
    pub args: Vec<(String, String)>,
    pub sleep: Duration,
    pub behavior: Behavior,
    pub cacheable: bool,
    pub counters: Arc<Counters>,
}

impl Toy {
    pub fn new(identity: &str, counters: &Arc<Counters>) -> Self {
        Toy {
            identity: identity.to_string(),
            args: vec![("name".into(), identity.into())],
            sleep: Duration::ZERO,
            behavior: Behavior::Ok,
            cacheable: true,
            counters: counters.clone(),
        }
    }

    pub fn arg(mut self, name: &str, value: &str) -> Self {
        self.args.push((name.to_string(), value.to_string()));
        self
    }

    pub fn sleep_ms(mut self, ms: u64) -> Self {
        self.sleep = Duration::from_millis(ms);
        self
    }

    pub fn behave(mut self, b: Behavior) -> Self {
        self.behavior = b;
        self
    }
}

impl Op for Toy {
    type Value = String;
    type Error = ToyError;

    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn cache_key(&self, input_keys: &[CacheKey]) -> Result<(CacheKey, Components), ToyError> {
        let me = std::thread::current().id();
        self.counters.threads.lock().unwrap().insert(me);
        let mut b = KeyBuilder::new("toy", 1);
        for (i, k) in input_keys.iter().enumerate() {
            let name = if i == 0 {
                "parent".to_string()
            } else {
                format!("input:{i}")
            };
            b = b.key(&name, k);
        }
        for (name, value) in &self.args {
            b = b.str(name, value);
        }
        Ok(b.finish())
    }

    fn cacheable(&self) -> bool {
        self.cacheable
    }

    fn exec(&self, inputs: &[String], ctx: &ExecContext) -> Result<String, ToyError> {
        let c = &self.counters;
        c.execs.lock().unwrap().push(self.identity.clone());
        c.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        let now = c.running.fetch_add(1, Ordering::SeqCst) + 1;
        c.max_running.fetch_max(now, Ordering::SeqCst);
        let result = self.work(inputs, ctx);
        c.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

impl Toy {
    fn work(&self, inputs: &[String], ctx: &ExecContext) -> Result<String, ToyError> {
        std::thread::sleep(self.sleep);
        match self.behavior {
            Behavior::Ok => Ok(format!("{}({})", self.identity, inputs.join(","))),
            Behavior::Fail => Err(ToyError(format!("{} failed", self.identity))),
            Behavior::Panic => panic!("{} panicked", self.identity),
            Behavior::Meet(n) => {
                self.meet(n)?;
                Ok(format!("{}({})", self.identity, inputs.join(",")))
            }
            Behavior::FailAfterMeet(n) => {
                self.meet(n)?;
                Err(ToyError(format!("{} failed", self.identity)))
            }
            Behavior::OkWhenCancelled => {
                let start = Instant::now();
                while !ctx.is_cancelled() && start.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Ok(format!("{}({})", self.identity, inputs.join(",")))
            }
            Behavior::UntilCancelled => {
                let start = Instant::now();
                while !ctx.is_cancelled() && start.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if ctx.is_cancelled() {
                    self.counters
                        .saw_cancel
                        .lock()
                        .unwrap()
                        .push(self.identity.clone());
                }
                Err(ToyError(format!("{} stopped", self.identity)))
            }
        }
    }
}

impl Toy {
    /// Waits until `n` toys have been running at the same time (now or earlier).
    fn meet(&self, n: usize) -> Result<(), ToyError> {
        let start = Instant::now();
        while self.counters.max_running.load(Ordering::SeqCst) < n {
            if start.elapsed() > Duration::from_secs(30) {
                return Err(ToyError(format!(
                    "{} waited 30 s for {n} ops to run at once",
                    self.identity
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// How many toys are running right now.
    pub fn running(counters: &Counters) -> usize {
        counters.running.load(Ordering::SeqCst)
    }
}

/// Records every event.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Event>>);

impl Observer for Recorder {
    fn event(&self, ev: Event) {
        self.0.lock().unwrap().push(ev);
    }
}

impl Recorder {
    pub fn cached(&self) -> Vec<VertexId> {
        let evs = self.0.lock().unwrap();
        evs.iter()
            .filter_map(|e| {
                if let Event::Cached(v) = e {
                    Some(*v)
                } else {
                    None
                }
            })
            .collect()
    }

    pub fn miss(&self, v: VertexId) -> Option<String> {
        let evs = self.0.lock().unwrap();
        evs.iter().find_map(|e| match e {
            Event::Miss(w, reason) if *w == v => Some(reason.to_string()),
            _ => None,
        })
    }
}
