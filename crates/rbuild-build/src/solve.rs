//! Solving a plan: its vertices become [`Step`]s in a solver graph, keyed on the store's
//! cache (per layer compression), with progress events and context walks started ahead.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rbuild_layer::Compression;
use rbuild_solver::{
    solve, CacheKey, CacheStorage, Components, Event as SolverEvent, Graph, KeyBuilder, Observer,
    Op, SolveError, SolveOptions,
};

use crate::cache::StoreCache;
use crate::image::FsState;
use crate::ops::{Runtime, Step};
use crate::plan::{KeyView, Plan, VertexId};
use crate::progress::{Event, Reporter, StepInfo};
use crate::remote_cache::Links;
use crate::BuildError;

/// At most this many threads walk context sources ahead of the solver.
const PREFETCH_THREADS: usize = 4;

/// Runs `plans` (one per platform) as one graph with `rt`; returns each target's filesystem.
/// Steps whose keys are equal across plans (a builder stage on `$BUILDPLATFORM`) run once.
/// Lookups the store misses go to the caches `links` imported; `links` records what was
/// found and made.
pub fn run_plans(
    plans: &[Plan],
    rt: &Runtime,
    links: &Links<'_>,
) -> Result<Vec<FsState>, BuildError> {
    let merged = Merged::of(plans, rt);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // The stat cache loads while the context is walked.
        s.spawn(|| rt.contexts.main().hashes.preload());
        prefetch(s, &merged, &done);
        let values = solve_graph(&merged, rt, links);
        done.store(true, Ordering::Relaxed);
        values
    })
}

/// The vertices of several plans in one graph (each plan's ids offset by the ones before).
struct Merged<'a> {
    graph: Graph<Step<'a>>,
    targets: Vec<VertexId>,
    /// Per vertex: its stage name and how progress shows it.
    stages: Vec<&'a str>,
    infos: Vec<StepInfo>,
    /// Vertices the targets need, inputs first.
    needed: Vec<VertexId>,
}

impl<'a> Merged<'a> {
    fn of(plans: &'a [Plan], rt: &'a Runtime<'a>) -> Self {
        let mut m = Merged {
            graph: Graph::new(),
            targets: Vec::new(),
            stages: Vec::new(),
            infos: Vec::new(),
            needed: Vec::new(),
        };
        for plan in plans {
            let offset = m.stages.len();
            let shift = |v: &VertexId| VertexId(v.0 + offset);
            for v in &plan.vertices {
                let inputs = v.inputs.iter().map(shift).collect();
                m.graph.add(Step::new(v, rt), inputs);
                m.stages.push(&v.stage);
                m.infos.push(v.step.info.clone());
            }
            m.targets.push(shift(&plan.target));
            m.needed.extend(plan.needed().iter().map(shift));
        }
        m
    }
}

/// The cache keys of the vertices the target needs, computed as a build would compute them
/// but without running anything or fetching remote sources (`debug plan`).
pub fn plan_keys(plan: &Plan, rt: &Runtime) -> Vec<KeyView> {
    let graph = graph(plan, rt);
    let mut keys: Vec<Option<CacheKey>> = vec![None; plan.vertices.len()];
    let mut out = vec![KeyView::Unknown("not needed".into()); plan.vertices.len()];
    for id in plan.needed() {
        let (Some(step), Some(v)) = (graph.op(id), plan.vertex(id)) else {
            continue;
        };
        let inputs: Option<Vec<CacheKey>> = v.inputs.iter().map(|i| keys[i.0]).collect();
        let Some(inputs) = inputs else {
            out[id.0] = KeyView::Unknown("an input's key is unknown".into());
            continue;
        };
        out[id.0] = match step.cache_key(&inputs) {
            Ok((key, comps)) => {
                keys[id.0] = Some(key);
                KeyView::Known(key, comps)
            }
            Err(e) => KeyView::Unknown(crate::error::chain(&e)),
        };
    }
    out
}

fn graph<'a>(plan: &'a Plan, rt: &'a Runtime<'a>) -> Graph<Step<'a>> {
    let mut graph = Graph::new();
    for v in &plan.vertices {
        graph.add(Step::new(v, rt), v.inputs.clone());
    }
    graph
}

fn solve_graph(m: &Merged, rt: &Runtime, links: &Links<'_>) -> Result<Vec<FsState>, BuildError> {
    let req = rt.request;
    let store_cache = StoreCache::new(rt.store.clone(), links);
    let cache = OutputKeyed::new(store_cache, req.compression, req.source_date_epoch);
    let no_cache_all = req.no_cache;
    let filter: Vec<bool> = m
        .stages
        .iter()
        .map(|stage| {
            no_cache_all
                || (!stage.is_empty()
                    && req
                        .no_cache_filter
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(stage)))
        })
        .collect();
    let opts = SolveOptions::new(req.jobs.max(1))
        .with_no_cache(move |v: VertexId| filter.get(v.0).copied().unwrap_or(no_cache_all));
    let observer = Progress {
        infos: m.infos.clone(),
        reporter: rt.reporter.clone(),
    };
    match solve(&m.graph, &m.targets, &cache, &opts, &observer) {
        Ok(values) if values.len() == m.targets.len() => Ok(values),
        Ok(_) => Err(BuildError::Cancelled),
        Err(SolveError::Op { error, .. }) => Err(error),
        Err(SolveError::Cancelled) => Err(BuildError::Cancelled),
        Err(other) => Err(BuildError::general(format!(
            "internal solver error: {other}"
        ))),
    }
}

/// Starts walking and digesting the local sources of every needed COPY/ADD on a few
/// threads, in build order, so their keys are ready when the solver asks; stops taking new
/// ones once `done` is set.
fn prefetch<'s>(scope: &'s std::thread::Scope<'s, '_>, m: &'s Merged<'s>, done: &'s AtomicBool) {
    let copies: Vec<&Step> = m
        .needed
        .iter()
        .filter_map(|v| m.graph.op(*v))
        .filter(|s| s.copy.is_some())
        .collect();
    let next = Arc::new(AtomicUsize::new(0));
    let copies = Arc::new(copies);
    for _ in 0..copies.len().min(PREFETCH_THREADS) {
        let (next, copies) = (next.clone(), copies.clone());
        scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Some(step) = copies.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                // A panic is the solver's to report (cache_key computes again under its
                // catch_unwind); here it must not take the whole scope down.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if let Some(c) = &step.copy {
                        c.prefetch();
                    }
                }));
            }
        });
    }
}

/// Cache records keyed on what shapes a step's output besides its inputs: the layer
/// compression (a layer compressed another way is another blob, so a record made with gzip
/// must not hand zstd-built images gzip layers) and SOURCE_DATE_EPOCH (it clamps the layer's
/// file times and the step's history time, so a record made without it would make a
/// reproducible build's image depend on the store). The default (gzip 6, no epoch) keeps the
/// plain key, so existing caches stay valid.
struct OutputKeyed<'a> {
    inner: StoreCache<'a>,
    compression: Compression,
    epoch: Option<i64>,
}

impl<'a> OutputKeyed<'a> {
    fn new(inner: StoreCache<'a>, compression: Compression, epoch: Option<i64>) -> Self {
        OutputKeyed {
            inner,
            compression,
            epoch,
        }
    }
}

/// The key a record of the step keyed `plain` is stored under by a build that writes
/// `compression` layers with SOURCE_DATE_EPOCH `epoch` (see [`OutputKeyed`]).
pub(crate) fn output_key(
    plain: &CacheKey,
    compression: Compression,
    epoch: Option<i64>,
) -> CacheKey {
    let tag = (compression != Compression::default()).then(|| compression_name(compression));
    let mut k = *plain;
    if let Some(c) = &tag {
        k = KeyBuilder::new("compressed", 1)
            .key("step", &k)
            .str("compression", c)
            .finish()
            .0;
    }
    if let Some(e) = epoch {
        k = KeyBuilder::new("epoch", 1)
            .key("step", &k)
            .str("source_date_epoch", &e.to_string())
            .finish()
            .0;
    }
    k
}

/// How keys name a compression: `none`, `gzip:LEVEL`, `zstd:LEVEL`.
pub(crate) fn compression_name(compression: Compression) -> String {
    match compression {
        Compression::None => "none".to_string(),
        Compression::Gzip { level } => format!("gzip:{level}"),
        Compression::Zstd { level } => format!("zstd:{level}"),
    }
}

impl CacheStorage<FsState> for OutputKeyed<'_> {
    fn load(&self, key: &CacheKey) -> Option<FsState> {
        let keyed = output_key(key, self.compression, self.epoch);
        let found = self.inner.load(&keyed);
        if let Some(fs) = &found {
            self.inner.links().recorder.record(&keyed, key, fs);
        }
        found
    }

    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &FsState) {
        let keyed = output_key(key, self.compression, self.epoch);
        self.inner.save(&keyed, identity, components, value);
        self.inner.links().recorder.record(&keyed, key, value);
    }

    fn last_components(&self, identity: &str) -> Option<Components> {
        self.inner.last_components(identity)
    }

    // Settled keys are the steps' own: the output settings key the records, not the content.
    fn canonical(&self, key: &CacheKey) -> Option<CacheKey> {
        self.inner.canonical(key)
    }

    fn set_canonical(&self, key: &CacheKey, canonical: &CacheKey) {
        self.inner.set_canonical(key, canonical)
    }
}

/// Translates solver events into progress events.
struct Progress {
    infos: Vec<StepInfo>,
    reporter: Arc<dyn Reporter>,
}

impl Observer for Progress {
    fn event(&self, ev: SolverEvent) {
        let info = |v: &VertexId| self.infos.get(v.0).cloned();
        let out = match ev {
            SolverEvent::Started(v) => info(&v).map(Event::Started),
            SolverEvent::Cached(v) => info(&v).map(Event::Cached),
            SolverEvent::Miss(v, reason) => info(&v).map(|i| Event::Miss(i, reason.to_string())),
            SolverEvent::Done(v, d) => info(&v).map(|i| Event::Done(i.number, d)),
            SolverEvent::Failed(v) => info(&v).map(|i| Event::Failed(i.number, "failed".into())),
        };
        if let Some(e) = out {
            self.reporter.event(e);
        }
    }
}
