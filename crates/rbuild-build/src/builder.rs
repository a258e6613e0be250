//! `build(request) -> result`: parse, lower, solve, assemble the image, tag it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rbuild_layer::{Compression, WriteOptions};
use rbuild_oci::Descriptor;
use rbuild_solver::{
    solve, CacheKey, CacheStorage, Components, Event as SolverEvent, KeyBuilder, Observer,
    SolveError, SolveOptions, VertexId,
};
use rbuild_store::Store;

use crate::cache::StoreCache;
use rbuild_context::local::LocalContext;
use crate::export::{self, Dest, Output};
use crate::image::{finish_config, write_image, FsState};
use crate::lower::{lower, LowerInput, Plan};
use crate::ops::{BuildOp, CopyOp, ExcludeFn, Runtime};
use crate::progress::{Event, Reporter, StepInfo};
use crate::request::DockerfileSource;
use crate::resolve::BaseResolver;
use crate::{BuildError, BuildRequest};

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image manifest in the store.
    pub manifest: Descriptor,
    /// The image config digest (the "image ID").
    pub config: rbuild_oci::Digest,
    /// Tags set.
    pub tags: Vec<String>,
}

/// Runs a build against `store`.
pub fn build(
    req: &BuildRequest,
    store: Arc<Store>,
    resolver: &dyn BaseResolver,
    reporter: Arc<dyn Reporter>,
) -> Result<BuildResult, BuildError> {
    let text = match &req.dockerfile {
        DockerfileSource::Text(t) => t.clone(),
        DockerfileSource::Path(p) => {
            let file = std::fs::File::open(p).map_err(|source| BuildError::ReadDockerfile {
                path: p.clone(),
                source,
            })?;
            crate::request::read_dockerfile(file, p)?
        }
    };
    let dockerfile = rbuild_dockerfile::parse_dockerfile(&text)?;
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        context: req.context.clone(),
        reporter: reporter.clone(),
        sandbox_exe: req.sandbox_exe.clone(),
        layer_options: WriteOptions {
            compression: req.compression,
            source_date_epoch: req.source_date_epoch,
        },
        source_date_epoch: req.source_date_epoch,
    });
    let dockerfile_path = match &req.dockerfile {
        DockerfileSource::Path(p) => Some(p.as_path()),
        DockerfileSource::Text(_) => None,
    };
    let context = LocalContext::open(req.context.clone(), dockerfile_path, Some(store.clone()))
        .map_err(|e| BuildError::Context(e.to_string()))?;
    let exclude: ExcludeFn = Arc::new(context);
    let input = LowerInput {
        dockerfile: &dockerfile,
        request: req,
        resolver,
        runtime,
        exclude: exclude.clone(),
    };
    let plan = lower(&input)?;
    for w in &plan.warnings {
        reporter.event(Event::Note(format!("WARNING: {w}")));
    }
    let done = AtomicBool::new(false);
    let fs = std::thread::scope(|s| {
        // The stat cache loads while the context is walked.
        s.spawn(|| exclude.hashes.preload());
        prefetch_contexts(s, &plan, &done);
        let fs = run_plan(&plan, req, &store, reporter.clone());
        done.store(true, Ordering::Relaxed);
        fs
    })?;
    let mut config = finish_config(
        plan.config.clone(),
        &plan.history,
        &fs,
        plan.base_created.as_deref(),
    );
    // BuildKit stamps the image itself with SOURCE_DATE_EPOCH, whatever the base's date.
    if let Some(epoch) = req.source_date_epoch {
        config.created = Some(crate::time::rfc3339(epoch));
    }
    let manifest = write_image(&store, &config, &fs)?;
    let tags = run_exports(req, &store, &manifest, reporter.as_ref())?;
    let config_digest = rbuild_oci::Digest::of(&rbuild_oci::to_canonical_json(&config));
    Ok(BuildResult {
        manifest,
        config: config_digest,
        tags,
    })
}

/// Runs every `--output` (the store's tags when none); returns the tags set in the store.
fn run_exports(
    req: &BuildRequest,
    store: &Store,
    manifest: &Descriptor,
    reporter: &dyn Reporter,
) -> Result<Vec<String>, BuildError> {
    let default = [Output::Image { names: Vec::new() }];
    let outputs = if req.outputs.is_empty() {
        &default[..]
    } else {
        &req.outputs[..]
    };
    let mut tags = Vec::new();
    for output in outputs {
        reporter.event(Event::Note(format!("exporting to {}", describe(output))));
        let set =
            export::export(store, manifest, output, &req.tags).map_err(|e| BuildError::Image {
                what: manifest.digest.to_string(),
                message: format!("exporting to {}: {e}", describe(output)),
            })?;
        tags.extend(set);
    }
    Ok(tags)
}

fn describe(output: &Output) -> String {
    let dest = |d: &Dest| match d {
        Dest::File(p) => p.display().to_string(),
        Dest::Stdout => "stdout".to_string(),
    };
    match output {
        Output::Image { .. } => "the store".to_string(),
        Output::Oci {
            dest: d, tar: true, ..
        } => format!("OCI archive {}", dest(d)),
        Output::Oci { dest: d, .. } => format!("OCI layout directory {}", dest(d)),
        Output::Docker { dest: d, .. } => format!("docker archive {}", dest(d)),
        Output::Local { dest } => format!("directory {}", dest.display()),
    }
}

/// Cache records keyed on the layer compression: a layer compressed another way is another
/// blob, so a record made with gzip must not hand zstd-built images gzip layers. The default
/// (gzip 6) keeps the plain key, so existing caches stay valid.
struct CompressionKeyed {
    inner: StoreCache,
    compression: Option<String>,
}

impl CompressionKeyed {
    fn new(inner: StoreCache, c: Compression) -> Self {
        let compression = match c {
            c if c == Compression::default() => None,
            Compression::None => Some("none".to_string()),
            Compression::Gzip { level } => Some(format!("gzip:{level}")),
            Compression::Zstd { level } => Some(format!("zstd:{level}")),
        };
        CompressionKeyed { inner, compression }
    }

    fn key(&self, key: &CacheKey) -> CacheKey {
        match &self.compression {
            None => *key,
            Some(c) => {
                KeyBuilder::new("compressed", 1)
                    .key("step", key)
                    .str("compression", c)
                    .finish()
                    .0
            }
        }
    }
}

impl CacheStorage<FsState> for CompressionKeyed {
    fn load(&self, key: &CacheKey) -> Option<FsState> {
        self.inner.load(&self.key(key))
    }

    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &FsState) {
        self.inner.save(&self.key(key), identity, components, value);
    }

    fn last_components(&self, identity: &str) -> Option<Components> {
        self.inner.last_components(identity)
    }
}

/// At most this many threads walk context sources ahead of the solver.
const PREFETCH_THREADS: usize = 4;

/// Starts walking and digesting the local sources of every needed COPY/ADD on a few
/// threads, in build order, so their keys are ready when the solver asks; stops taking new
/// ones once `done` is set.
fn prefetch_contexts<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    plan: &'s Plan,
    done: &'s AtomicBool,
) {
    let copies: Vec<&CopyOp> = plan
        .graph
        .topo_order::<BuildError>(&[plan.target])
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| match plan.graph.op(v) {
            Some(BuildOp::Copy(c)) => Some(&**c),
            _ => None,
        })
        .collect();
    let next = Arc::new(AtomicUsize::new(0));
    let copies = Arc::new(copies);
    for _ in 0..copies.len().min(PREFETCH_THREADS) {
        let (next, copies) = (next.clone(), copies.clone());
        scope.spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Some(op) = copies.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                // A panic is the solver's to report (cache_key computes again under its
                // catch_unwind); here it must not take the whole scope down.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.prefetch()));
            }
        });
    }
}

fn run_plan(
    plan: &Plan,
    req: &BuildRequest,
    store: &Arc<Store>,
    reporter: Arc<dyn Reporter>,
) -> Result<crate::image::FsState, BuildError> {
    let cache = CompressionKeyed::new(StoreCache::new(store.clone()), req.compression);
    let no_cache_all = req.no_cache;
    let filter: Vec<bool> = plan
        .vertex_stage
        .iter()
        .map(|s| {
            no_cache_all
                || (!s.is_empty()
                    && req
                        .no_cache_filter
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(s)))
        })
        .collect();
    let opts = SolveOptions::new(req.jobs.max(1))
        .with_no_cache(move |v: VertexId| filter.get(v.0).copied().unwrap_or(no_cache_all));
    let infos: Vec<Option<StepInfo>> = (0..plan.graph.len())
        .map(|i| plan.graph.op(VertexId(i)).map(|op| op.step().info.clone()))
        .collect();
    let observer = Progress { infos, reporter };
    match solve(&plan.graph, &[plan.target], &cache, &opts, &observer) {
        Ok(mut values) => values.pop().ok_or(BuildError::Cancelled),
        Err(SolveError::Op { error, .. }) => Err(error),
        Err(SolveError::Cancelled) => Err(BuildError::Cancelled),
        Err(other) => Err(BuildError::at(0, format!("internal solver error: {other}"))),
    }
}

/// Translates solver events into progress events.
struct Progress {
    infos: Vec<Option<StepInfo>>,
    reporter: Arc<dyn Reporter>,
}

impl Observer for Progress {
    fn event(&self, ev: SolverEvent) {
        let info = |v: &VertexId| self.infos.get(v.0).cloned().flatten();
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
