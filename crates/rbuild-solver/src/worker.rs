//! Worker threads: compute keys, look up the cache, execute ops. All graph state stays with
//! the coordinator in `scheduler`; workers only get self-contained tasks.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::cache::{explain_miss, CacheStorage};
use crate::graph::{Graph, VertexId};
use crate::key::{CacheKey, Components};
use crate::op::{CancelToken, Event, ExecContext, Observer, Op};

/// Work for one vertex.
pub(crate) enum Task<V> {
    /// Compute the vertex's key from its inputs' keys; `true`: settle it (see [`Settle`]).
    ///
    /// [`Settle`]: Task::Settle
    Key(VertexId, Vec<CacheKey>, bool),
    /// Settle the key of a vertex with content inputs: its key again with each content
    /// input's content digest for that input's key, and the key that digest-made key was
    /// settled to before, if any (else the key itself, `.2`, made from the inputs' keys).
    Settle(VertexId, Vec<CacheKey>, CacheKey, Vec<(usize, V)>),
    /// Look the key up; on a miss, explain it against the last record.
    Lookup(VertexId, CacheKey, Arc<Components>),
    /// Execute with the inputs' values; save the result under the key when one is given.
    Exec(VertexId, Vec<V>, Option<(CacheKey, Arc<Components>)>),
}

/// What became of a task.
pub(crate) enum Outcome<V, E> {
    /// The key of a vertex, or the op's error computing it.
    Key(VertexId, Result<(CacheKey, Components), E>),
    /// The key of a vertex whose content inputs must be read before it is settled.
    Unsettled(VertexId, CacheKey),
    /// A cache hit.
    Hit(VertexId, V),
    /// A cache miss (the `Miss` event was already sent).
    Miss(VertexId),
    /// A successful exec.
    Done(VertexId, V),
    /// A failed exec.
    Failed(VertexId, E),
    /// A panic in the op, the cache or the observer.
    Panicked(VertexId, String),
    /// Not run because the solve is being cancelled.
    Skipped,
}

/// What every worker shares.
pub(crate) struct Worker<'a, O: Op> {
    pub graph: &'a Graph<O>,
    pub cache: &'a dyn CacheStorage<O::Value>,
    pub observer: &'a dyn Observer,
    pub cancel: CancelToken,
}

type OutcomeOf<O> = Outcome<<O as Op>::Value, <O as Op>::Error>;

impl<O: Op> Worker<'_, O> {
    /// Runs tasks until the task channel closes.
    pub fn run(&self, tasks: &Mutex<Receiver<Task<O::Value>>>, results: &Sender<OutcomeOf<O>>) {
        loop {
            // The guard is a temporary: released before the task runs, so others can take work.
            let task = tasks.lock().unwrap_or_else(PoisonError::into_inner).recv();
            let Ok(task) = task else { return };
            let vertex = task_vertex(&task);
            let outcome = catch_unwind(AssertUnwindSafe(|| self.process(task)))
                .unwrap_or_else(|payload| Outcome::Panicked(vertex, panic_text(payload)));
            if results.send(outcome).is_err() {
                return;
            }
        }
    }

    fn process(&self, task: Task<O::Value>) -> OutcomeOf<O> {
        if self.cancel.is_cancelled() {
            return Outcome::Skipped;
        }
        match task {
            Task::Key(v, input_keys, settle) => {
                let result = self.op(v).cache_key(&input_keys);
                match result {
                    Ok((key, comps)) if settle => match self.cache.canonical(&key) {
                        Some(canonical) => Outcome::Key(v, Ok((canonical, comps))),
                        None => Outcome::Unsettled(v, key),
                    },
                    Ok(found) => Outcome::Key(v, Ok(found)),
                    Err(e) => {
                        self.observer.event(Event::Failed(v));
                        Outcome::Key(v, Err(e))
                    }
                }
            }
            Task::Settle(v, input_keys, key, contents) => {
                let result = self.settle(v, input_keys, &key, &contents);
                if result.is_err() {
                    self.observer.event(Event::Failed(v));
                }
                Outcome::Key(v, result)
            }
            Task::Lookup(v, key, components) => self.lookup(v, &key, &components),
            Task::Exec(v, inputs, save) => self.exec(v, &inputs, save),
        }
    }

    /// Steps that read the same content share one key: the first key recorded for it. The
    /// components are the content-made ones, so a miss names the content that changed.
    fn settle(
        &self,
        v: VertexId,
        mut input_keys: Vec<CacheKey>,
        key: &CacheKey,
        contents: &[(usize, O::Value)],
    ) -> Result<(CacheKey, Components), O::Error> {
        let op = self.op(v);
        for (i, value) in contents {
            let digest = op.content_key(*i, value)?;
            if let Some(k) = input_keys.get_mut(*i) {
                *k = digest;
            }
        }
        let (by_content, comps) = op.cache_key(&input_keys)?;
        let settled = match self.cache.canonical(&by_content) {
            Some(canonical) => canonical,
            None => {
                self.cache.set_canonical(&by_content, key);
                *key
            }
        };
        self.cache.set_canonical(key, &settled);
        Ok((settled, comps))
    }

    fn lookup(&self, v: VertexId, key: &CacheKey, components: &Components) -> OutcomeOf<O> {
        if let Some(value) = self.cache.load(key) {
            self.observer.event(Event::Cached(v));
            return Outcome::Hit(v, value);
        }
        let last = self.cache.last_components(&self.op(v).identity());
        self.observer
            .event(Event::Miss(v, explain_miss(last.as_ref(), components)));
        Outcome::Miss(v)
    }

    fn exec(
        &self,
        v: VertexId,
        inputs: &[O::Value],
        save: Option<(CacheKey, Arc<Components>)>,
    ) -> OutcomeOf<O> {
        let op = self.op(v);
        self.observer.event(Event::Started(v));
        let start = Instant::now();
        let ctx = ExecContext::new(v, self.cancel.clone());
        match op.exec(inputs, &ctx) {
            Ok(value) => {
                if let Some((key, components)) = save {
                    self.cache.save(&key, &op.identity(), &components, &value);
                }
                self.observer.event(Event::Done(v, start.elapsed()));
                Outcome::Done(v, value)
            }
            Err(error) => {
                self.observer.event(Event::Failed(v));
                Outcome::Failed(v, error)
            }
        }
    }

    fn op(&self, v: VertexId) -> &O {
        // The coordinator only sends vertices it found in the graph.
        match self.graph.op(v) {
            Some(op) => op,
            None => unreachable!("vertex {v} was validated before scheduling"),
        }
    }
}

fn task_vertex<V>(task: &Task<V>) -> VertexId {
    match task {
        Task::Key(v, _, _)
        | Task::Settle(v, _, _, _)
        | Task::Lookup(v, _, _)
        | Task::Exec(v, _, _) => *v,
    }
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&str>() {
            Ok(s) => s.to_string(),
            Err(_) => "non-text panic payload".to_string(),
        },
    }
}
