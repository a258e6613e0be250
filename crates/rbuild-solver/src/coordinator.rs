//! Per-vertex state machine driven by the scheduler loop. Single-threaded: workers only see
//! self-contained tasks, so no graph state is shared or locked.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::error::SolveError;
use crate::graph::VertexId;
use crate::key::{CacheKey, Components};
use crate::op::{CancelToken, Event, MissReason, Op};
use crate::pool::Pool;
use crate::scheduler::SolveOptions;
use crate::worker::{Outcome, Task, Worker};

/// How often an outside cancellation is checked while waiting for workers.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Value state of a vertex.
enum Val<V> {
    Idle,
    Busy,
    Missed,
    Done(V),
}

/// Per-vertex state; only vertices reachable from the targets are ever touched.
struct Node<V> {
    /// The key and its components (shared: a COPY of a large context has one per file).
    key: Option<(CacheKey, Arc<Components>)>,
    key_sent: bool,
    /// The op's content inputs (indices into its inputs), read to settle its key.
    content: Vec<usize>,
    /// The key made from the inputs' keys, while the content inputs are being solved.
    unsettled: Option<CacheKey>,
    settle_sent: bool,
    /// An earlier vertex with the same key (and no-cache flag) whose value this one shares.
    alias_of: Option<usize>,
    demanded: bool,
    cacheable: bool,
    /// Why lookups are bypassed, if they are: `no_cache` here or on an ancestor.
    no_cache: Option<MissReason>,
    /// Whether this vertex's value came from its own exec in this solve.
    executed: bool,
    val: Val<V>,
}

/// Owns the solve's state; see the module doc.
pub(crate) struct Coordinator<'a, O: Op> {
    env: &'a Worker<'a, O>,
    order: Vec<VertexId>,
    nodes: Vec<Node<O::Value>>,
    dedup: HashMap<(CacheKey, bool), usize>,
    tasks: Sender<Task<O::Value>>,
    /// Tasks sent and not yet answered.
    outstanding: usize,
    pool: Pool<'a>,
    first_error: Option<SolveError<O::Error>>,
}

type Outcomes<O> = Receiver<Outcome<<O as Op>::Value, <O as Op>::Error>>;

impl<'a, O: Op> Coordinator<'a, O> {
    /// State for the vertices in `order` (topological, reachable from the targets).
    pub fn new(
        env: &'a Worker<'a, O>,
        opts: &SolveOptions,
        order: Vec<VertexId>,
        tasks: Sender<Task<O::Value>>,
        pool: Pool<'a>,
    ) -> Self {
        let mut nodes: Vec<Node<O::Value>> = (0..env.graph.len())
            .map(|i| {
                let op = env.graph.op(VertexId(i));
                let cacheable = op.is_some_and(|op| op.cacheable());
                let inputs = env.graph.inputs(VertexId(i)).map_or(0, <[_]>::len);
                let mut content = op.map(|op| op.content_inputs()).unwrap_or_default();
                content.retain(|&c| c < inputs);
                Node {
                    key: None,
                    key_sent: false,
                    content,
                    unsettled: None,
                    settle_sent: false,
                    alias_of: None,
                    demanded: false,
                    cacheable,
                    no_cache: None,
                    executed: false,
                    val: Val::Idle,
                }
            })
            .collect();
        // Keys are built from input keys, not values: a child of a re-run vertex would hit a
        // record made from the old value, so the bypass flows down to every descendant.
        for &v in &order {
            let inherited = env
                .graph
                .inputs(v)
                .unwrap_or(&[])
                .iter()
                .any(|i| nodes[i.0].no_cache.is_some());
            nodes[v.0].no_cache = if (opts.no_cache)(v) {
                Some(MissReason::NoCache)
            } else if inherited {
                Some(MissReason::InputNoCache)
            } else {
                None
            };
        }
        let dedup = HashMap::new();
        Coordinator {
            env,
            order,
            nodes,
            dedup,
            tasks,
            outstanding: 0,
            pool,
            first_error: None,
        }
    }

    /// Drives the solve until the targets have values, or until it is cancelled and idle.
    pub fn run(
        &mut self,
        targets: &[VertexId],
        results: &Outcomes<O>,
        outside: &CancelToken,
    ) -> Result<Vec<O::Value>, SolveError<O::Error>> {
        for t in targets {
            self.nodes[t.0].demanded = true;
        }
        loop {
            if outside.is_cancelled() {
                self.env.cancel.cancel();
            }
            if !self.env.cancel.is_cancelled() {
                self.schedule();
                if let Some(values) = self.target_values(targets) {
                    self.report_skipped_ancestors();
                    return Ok(values);
                }
            }
            // Idle and unfinished only happens once cancelled: a DAG always has a next step.
            if self.outstanding == 0 {
                return Err(self.first_error.take().unwrap_or(SolveError::Cancelled));
            }
            match results.recv_timeout(CANCEL_POLL) {
                Ok(outcome) => {
                    self.outstanding -= 1;
                    self.handle(outcome);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.first_error.take().unwrap_or(SolveError::Cancelled));
                }
            }
        }
    }

    /// Sends every task that has become possible, until nothing changes.
    fn schedule(&mut self) {
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.order.len() {
                changed |= self.step(self.order[i]);
            }
        }
    }

    fn step(&mut self, v: VertexId) -> bool {
        if self.nodes[v.0].key.is_none() {
            if self.nodes[v.0].unsettled.is_some() {
                return self.try_settle(v);
            }
            return self.try_send_key(v);
        }
        match self.nodes[v.0].alias_of {
            Some(p) => self.step_alias(v, p),
            None if self.nodes[v.0].demanded => self.step_value(v),
            None => false,
        }
    }

    fn try_send_key(&mut self, v: VertexId) -> bool {
        if self.nodes[v.0].key_sent {
            return false;
        }
        let keys: Option<Vec<CacheKey>> = self
            .inputs(v)
            .iter()
            .map(|i| self.nodes[i.0].key.as_ref().map(|(k, _)| *k))
            .collect();
        let Some(keys) = keys else { return false };
        let node = &mut self.nodes[v.0];
        node.key_sent = true;
        // A re-run vertex's key stays the one made from its inputs' keys.
        let settle = node.cacheable && node.no_cache.is_none() && !node.content.is_empty();
        self.send(Task::Key(v, keys, settle));
        true
    }

    /// Demands the content inputs of an unsettled vertex; once they have values, asks a
    /// worker to settle its key from their content.
    fn try_settle(&mut self, v: VertexId) -> bool {
        if self.nodes[v.0].settle_sent {
            return false;
        }
        let inputs = self.inputs(v);
        let content = self.nodes[v.0].content.clone();
        let mut changed = false;
        for &i in &content {
            let input = &mut self.nodes[inputs[i].0];
            if !input.demanded {
                input.demanded = true;
                changed = true;
            }
        }
        let values: Option<Vec<_>> = content
            .iter()
            .map(|&i| match &self.nodes[inputs[i].0].val {
                Val::Done(x) => Some((i, x.clone())),
                _ => None,
            })
            .collect();
        let keys: Option<Vec<CacheKey>> = inputs
            .iter()
            .map(|i| self.nodes[i.0].key.as_ref().map(|(k, _)| *k))
            .collect();
        let (Some(values), Some(keys), Some(key)) = (values, keys, self.nodes[v.0].unsettled)
        else {
            return changed;
        };
        self.nodes[v.0].settle_sent = true;
        self.send(Task::Settle(v, keys, key, values));
        true
    }

    /// A duplicate shares its primary's value; it is saved under its own identity too, so
    /// its next miss is explained against its own last record.
    fn step_alias(&mut self, v: VertexId, p: usize) -> bool {
        let mut changed = false;
        if self.nodes[v.0].demanded && !self.nodes[p].demanded {
            self.nodes[p].demanded = true;
            changed = true;
        }
        if !self.nodes[v.0].demanded || matches!(self.nodes[v.0].val, Val::Done(_)) {
            return changed;
        }
        let Val::Done(value) = &self.nodes[p].val else {
            return changed;
        };
        let value = value.clone();
        if self.nodes[p].executed && self.nodes[v.0].cacheable {
            if let (Some((key, comps)), Some(op)) = (&self.nodes[v.0].key, self.env.graph.op(v)) {
                self.env.cache.save(key, &op.identity(), comps, &value);
            }
        }
        self.env.observer.event(Event::Cached(v));
        self.nodes[v.0].val = Val::Done(value);
        true
    }

    fn step_value(&mut self, v: VertexId) -> bool {
        let node = &mut self.nodes[v.0];
        match (&node.val, &node.key, &node.no_cache) {
            (Val::Idle, Some((key, comps)), None) if node.cacheable => {
                let task = Task::Lookup(v, *key, Arc::clone(comps));
                node.val = Val::Busy;
                self.send(task);
                true
            }
            (Val::Idle, _, reason) => {
                let reason = reason.clone().unwrap_or(MissReason::NotCacheable);
                self.env.observer.event(Event::Miss(v, reason));
                node.val = Val::Missed;
                true
            }
            (Val::Missed, _, _) => self.try_exec(v),
            _ => false,
        }
    }

    /// Demands the inputs of a missed vertex and executes it once they all have values.
    fn try_exec(&mut self, v: VertexId) -> bool {
        let mut changed = false;
        for &i in self.inputs(v) {
            if !self.nodes[i.0].demanded {
                self.nodes[i.0].demanded = true;
                changed = true;
            }
        }
        if !self
            .inputs(v)
            .iter()
            .all(|i| matches!(self.nodes[i.0].val, Val::Done(_)))
        {
            return changed;
        }
        let values = self
            .inputs(v)
            .iter()
            .filter_map(|i| match &self.nodes[i.0].val {
                Val::Done(x) => Some(x.clone()),
                _ => None,
            });
        let values = values.collect();
        let node = &mut self.nodes[v.0];
        let save = if node.cacheable {
            node.key.clone()
        } else {
            None
        };
        node.val = Val::Busy;
        self.send(Task::Exec(v, values, save));
        true
    }

    fn handle(&mut self, outcome: Outcome<O::Value, O::Error>) {
        match outcome {
            Outcome::Key(v, Ok((key, comps))) => {
                let node = &mut self.nodes[v.0];
                match self.dedup.entry((key, node.no_cache.is_some())) {
                    Entry::Occupied(e) => node.alias_of = Some(*e.get()),
                    Entry::Vacant(e) => {
                        e.insert(v.0);
                    }
                }
                node.key = Some((key, Arc::new(comps)));
            }
            Outcome::Unsettled(v, key) => self.nodes[v.0].unsettled = Some(key),
            Outcome::Key(vertex, Err(error)) | Outcome::Failed(vertex, error) => {
                self.fail(SolveError::Op { vertex, error })
            }
            Outcome::Panicked(vertex, message) => {
                self.fail(SolveError::Panicked { vertex, message })
            }
            Outcome::Hit(v, value) => self.nodes[v.0].val = Val::Done(value),
            Outcome::Miss(v) => self.nodes[v.0].val = Val::Missed,
            Outcome::Done(v, value) => {
                self.nodes[v.0].val = Val::Done(value);
                self.nodes[v.0].executed = true;
            }
            Outcome::Skipped => {}
        }
    }

    /// Keeps the first error only; later ones are usually consequences of the cancellation.
    fn fail(&mut self, error: SolveError<O::Error>) {
        if self.first_error.is_none() && !self.env.cancel.is_cancelled() {
            self.first_error = Some(error);
            self.env.cancel.cancel();
        }
    }

    fn target_values(&self, targets: &[VertexId]) -> Option<Vec<O::Value>> {
        let done = |t: &VertexId| match &self.nodes[t.0].val {
            Val::Done(x) => Some(x),
            _ => None,
        };
        if !targets.iter().all(|t| done(t).is_some()) {
            return None;
        }
        Some(targets.iter().filter_map(|t| done(t).cloned()).collect())
    }

    /// Ancestors never needed (a descendant hit the cache) are reported as cached, like
    /// BuildKit shows them, so a progress display has a status for every step.
    fn report_skipped_ancestors(&self) {
        for v in &self.order {
            if !self.nodes[v.0].demanded {
                self.env.observer.event(Event::Cached(*v));
            }
        }
    }

    fn inputs(&self, v: VertexId) -> &'a [VertexId] {
        self.env.graph.inputs(v).unwrap_or(&[])
    }

    fn send(&mut self, task: Task<O::Value>) {
        // Workers outlive the coordinator (scoped threads), so the channel cannot be closed.
        if self.tasks.send(task).is_ok() {
            self.outstanding += 1;
        }
        if let Err(e) = self.pool.serve(self.outstanding) {
            // No worker will ever answer: what was sent is dropped with the channel.
            self.outstanding = 0;
            self.fail(SolveError::NoWorker(e));
        }
    }
}
