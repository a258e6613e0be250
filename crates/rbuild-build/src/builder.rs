//! `build(request) -> result`: parse, lower, solve, assemble the image, tag it.

use std::sync::Arc;

use rbuild_layer::{Compression, WriteOptions};
use rbuild_oci::Descriptor;
use rbuild_solver::{solve, Event as SolverEvent, Observer, SolveError, SolveOptions, VertexId};
use rbuild_store::Store;

use crate::cache::StoreCache;
use crate::context::local::LocalContext;
use crate::image::{finish_config, write_image};
use crate::lower::{lower, LowerInput, Plan};
use crate::ops::{ExcludeFn, Runtime};
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
            std::fs::read_to_string(p).map_err(|source| BuildError::ReadDockerfile {
                path: p.clone(),
                source,
            })?
        }
    };
    let dockerfile = rbuild_dockerfile::parse_dockerfile(&text)?;
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        context: req.context.clone(),
        reporter: reporter.clone(),
        sandbox_exe: req.sandbox_exe.clone(),
        layer_options: WriteOptions {
            compression: Compression::default(),
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
        exclude,
    };
    let plan = lower(&input)?;
    for w in &plan.warnings {
        reporter.event(Event::Note(format!("WARNING: {w}")));
    }
    let fs = run_plan(&plan, req, &store, reporter.clone())?;
    let config = finish_config(
        plan.config.clone(),
        &plan.history,
        &fs,
        plan.base_created.as_deref(),
    );
    let manifest = write_image(&store, &config, &fs)?;
    for tag in &req.tags {
        store.set_tag(tag, &manifest)?;
    }
    let config_digest = rbuild_oci::Digest::of(&rbuild_oci::to_canonical_json(&config));
    Ok(BuildResult {
        manifest,
        config: config_digest,
        tags: req.tags.clone(),
    })
}

fn run_plan(
    plan: &Plan,
    req: &BuildRequest,
    store: &Arc<Store>,
    reporter: Arc<dyn Reporter>,
) -> Result<crate::image::FsState, BuildError> {
    let cache = StoreCache::new(store.clone());
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
