//! `build(request) -> result`: parse, lower to a plan, solve it, assemble the image, export.

mod finish;

use finish::solve_and_export;

use std::sync::Arc;

use rbuild_oci::{Descriptor, Platform};
use rbuild_store::Store;

use crate::annotations::{AnnotationTarget as Target, Annotations};
use crate::export::{self, Pusher};
use crate::image::write_index;
use crate::lower::{lower, LowerInput};
use crate::ops::{Contexts, Runtime};
use crate::plan::{KeyView, Plan};
use crate::progress::{Event, Reporter};
use crate::remote_cache::{CacheBackends, Links};
use crate::request::DockerfileSource;
use crate::resolve::BaseResolver;
use crate::NamedContext;
use crate::{BuildError, BuildRequest};

/// What a successful build produced.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// The image manifest in the store (an index for several platforms).
    pub manifest: Descriptor,
    /// The image config digest (the "image ID").
    pub config: rbuild_oci::Digest,
    /// Tags set in the store.
    pub tags: Vec<String>,
    /// Names pushed, with the digest each registry stored.
    pub pushed: Vec<(String, rbuild_oci::Digest)>,
    /// `NAME@DIGEST` names of outputs with `name-canonical=true`.
    pub canonical: Vec<String>,
    /// Each platform's image (one, unless several platforms were built: then `manifest` is
    /// an index of them).
    pub platforms: Vec<(Platform, crate::image::Written)>,
    /// Steps taken from the cache and steps run.
    pub cache: crate::progress::CacheStats,
}

/// The Dockerfile's text, read once (size-capped).
fn dockerfile_text(req: &BuildRequest) -> Result<String, BuildError> {
    match &req.dockerfile {
        DockerfileSource::Text(t) => Ok(t.clone()),
        DockerfileSource::Path(p) => {
            let file = std::fs::File::open(p).map_err(|source| BuildError::ReadDockerfile {
                path: p.clone(),
                source,
            })?;
            crate::request::read_dockerfile(file, p)
        }
    }
}

/// The platforms the request builds for (this host's when none is given).
fn target_platforms(req: &BuildRequest) -> Vec<Platform> {
    if req.platforms.is_empty() {
        vec![Platform::host()]
    } else {
        req.platforms.clone()
    }
}

/// Parses the Dockerfile and lowers it once per target platform; also opens the contexts
/// the plans read. With several platforms each step's label names its platform and step
/// numbers run on across the plans.
pub fn make_plans(
    req: &BuildRequest,
    store: &Arc<Store>,
    resolver: &dyn BaseResolver,
) -> Result<(Vec<Plan>, Contexts), BuildError> {
    let text = dockerfile_text(req)?;
    let dockerfile = rbuild_dockerfile::parse_dockerfile(&text)?;
    let platforms = target_platforms(req);
    let mut plans = Vec::with_capacity(platforms.len());
    let mut numbered = 0;
    for platform in platforms {
        let input = LowerInput {
            dockerfile: &dockerfile,
            request: req,
            resolver,
            store,
            platform,
        };
        let mut plan = lower(&input)?;
        if req.platforms.len() > 1 {
            numbered = label_platform(&mut plan, numbered);
        }
        plans.push(plan);
    }
    let dockerfile_path = match &req.dockerfile {
        DockerfileSource::Path(p) => Some(p.as_path()),
        DockerfileSource::Text(_) => None,
    };
    let contexts = Contexts::open(&req.context, dockerfile_path, Some(store.clone()))?;
    contexts.open_named(req.named_contexts.values().filter_map(|n| match n {
        NamedContext::Local(dir) => Some(dir.clone()),
        _ => None,
    }))?;
    Ok((plans, contexts))
}

/// Prefixes the plan's step labels with its platform and numbers its steps after `after`;
/// returns the last number used.
fn label_platform(plan: &mut Plan, after: usize) -> usize {
    let spec = plan.platform.to_spec();
    let mut last = after;
    for v in &mut plan.vertices {
        let info = &mut v.step.info;
        info.number += after;
        info.label = format!("[{spec} {}", info.label.trim_start_matches('['));
        last = last.max(info.number);
    }
    last
}

/// Parses the Dockerfile and lowers it for the first target platform.
pub fn make_plan(
    req: &BuildRequest,
    store: &Arc<Store>,
    resolver: &dyn BaseResolver,
) -> Result<(Plan, Contexts), BuildError> {
    let (mut plans, contexts) = make_plans(req, store, resolver)?;
    let plan = plans.remove(0);
    Ok((plan, contexts))
}

/// The plans of a build (one per platform) and each needed vertex's cache key, without
/// running anything (`rbuild debug plan`).
pub fn explain(
    req: &BuildRequest,
    store: &Arc<Store>,
    resolver: &dyn BaseResolver,
) -> Result<Vec<(Plan, Vec<KeyView>)>, BuildError> {
    let (plans, contexts) = make_plans(req, store, resolver)?;
    let none = crate::remote_cache::Imported::default();
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: Arc::new(crate::progress::Silent),
        contexts,
        fetcher: &NoFetch,
        plan_only: true,
        imported: &none,
    };
    Ok(plans
        .into_iter()
        .map(|plan| {
            let keys = crate::solve::plan_keys(&plan, &rt);
            (plan, keys)
        })
        .collect())
}

/// Fails before any step runs when a plan has RUN steps for a platform this machine can
/// neither run natively nor emulate, naming it and the package that provides an emulator.
fn check_platforms(plans: &[Plan]) -> Result<(), BuildError> {
    use rbuild_sandbox::emulation;
    let native = rbuild_oci::platform::normalize(&Platform::host());
    // Read binfmt_misc only when a RUN is for another platform: most builds are native.
    let mut emulated: Option<Vec<&str>> = None;
    for p in plans.iter().flat_map(|p| &p.run_platforms) {
        let p = rbuild_oci::platform::normalize(p);
        if p.os == native.os && p.architecture == native.architecture {
            continue;
        }
        let emulated = emulated.get_or_insert_with(|| {
            emulation::emulated(&emulation::handlers(std::path::Path::new(
                emulation::BINFMT_DIR,
            )))
        });
        let spec = p.to_spec();
        if !emulated
            .iter()
            .any(|e| *e == spec || e.starts_with(&format!("{spec}/")))
        {
            return Err(BuildError::Unsupported(format!(
                "RUN steps for {spec} cannot run on this {} machine: no emulator is registered \
                 for it (install {} and run `rbuild setup binfmt`; `rbuild debug platforms` \
                 lists what runs here)",
                native.to_spec(),
                emulation::EMULATOR_PACKAGE
            )));
        }
    }
    Ok(())
}

/// What a build may reach beyond the store: registries (for base images and pushes) and the
/// user's screen.
pub struct Services<'a> {
    /// Finds FROM and `COPY --from` images.
    pub resolver: &'a dyn BaseResolver,
    /// Pushes images for outputs that ask for it.
    pub pusher: &'a dyn Pusher,
    /// Loads images into the docker engine (`--load`).
    pub loader: &'a dyn export::Loader,
    /// Downloads `ADD <url>` sources.
    pub fetcher: &'a dyn rbuild_context::remote::UrlFetcher,
    /// Reaches registries for `--cache-from`/`--cache-to`.
    pub caches: &'a dyn CacheBackends,
    /// Where progress goes.
    pub reporter: Arc<dyn Reporter>,
}

/// A fetcher for plans that run nothing: `plan_only` keys never download.
struct NoFetch;

impl rbuild_context::remote::UrlFetcher for NoFetch {
    fn fetch(
        &self,
        url: &str,
        _dest_dir: &std::path::Path,
        _proxy: &rbuild_context::remote::ProxyConfig,
    ) -> Result<rbuild_context::remote::Download, rbuild_context::remote::RemoteError> {
        let why = std::io::Error::other("a plan does not download its sources");
        Err(rbuild_context::remote::RemoteError::fetch(url, why))
    }
}

/// The Dockerfile's own SOURCE_DATE_EPOCH default, when neither a build arg nor the
/// environment gave one (see [`crate::lower::dockerfile_epoch`]).
fn epoch_of_dockerfile(
    req: &BuildRequest,
    store: &Store,
    fetcher: &dyn rbuild_context::remote::UrlFetcher,
) -> Result<Option<i64>, BuildError> {
    if req.source_date_epoch.is_some() || req.build_args.contains_key("SOURCE_DATE_EPOCH") {
        return Ok(None);
    }
    let text = dockerfile_text(req)?;
    let df = rbuild_dockerfile::parse_dockerfile(&text)?;
    if !df.meta_args.iter().any(|a| a.name == "SOURCE_DATE_EPOCH") {
        return Ok(None);
    }
    if let Some(epoch) = crate::epoch_stage::resolve(&df, req, store, fetcher)? {
        return Ok(epoch);
    }
    crate::lower::dockerfile_epoch(&df, req)
}

/// The request with SOURCE_DATE_EPOCH from the Dockerfile's source, when it names one. The
/// ARG then holds the resolved seconds, as BuildKit sets it (a named context's date rather
/// than its name).
fn with_dockerfile_epoch(
    req: &BuildRequest,
    store: &Arc<Store>,
    services: &Services,
) -> Result<Option<BuildRequest>, BuildError> {
    Ok(
        epoch_of_dockerfile(req, store, services.fetcher)?.map(|epoch| {
            let mut build_args = req.build_args.clone();
            build_args.insert("SOURCE_DATE_EPOCH".to_string(), epoch.to_string());
            BuildRequest {
                source_date_epoch: Some(epoch),
                build_args,
                ..req.clone()
            }
        }),
    )
}

/// The one image's manifest, or an index of the platforms' images.
fn target_descriptor(
    req: &BuildRequest,
    store: &Store,
    images: &[(Platform, crate::image::Written)],
) -> Result<Descriptor, BuildError> {
    Ok(match images {
        [(_, one)] => one.manifest.clone(),
        many => {
            let notes = Annotations(&req.annotations);
            let mut index = write_index(store, many, notes.for_target(Target::Index, None))?;
            index.annotations = notes.for_target(Target::IndexDescriptor, None);
            index
        }
    })
}

/// Runs `attempt` (solve, write the images, export); when it fails after a layer that a
/// remote cache hit promised turned out bad (unreachable, or not matching its digest), runs
/// it again: the records naming that layer are no longer used, so their steps simply run,
/// and what already ran is in the local cache.
fn with_retries<T>(
    links: &Links<'_>,
    counting: &crate::progress::Counting,
    mut attempt: impl FnMut() -> Result<T, BuildError>,
) -> Result<T, BuildError> {
    // Each retry follows a newly bad blob; a cache of many bad blobs gives up after these.
    const MAX_RETRIES: usize = 8;
    for _ in 0..MAX_RETRIES {
        let failures = links.imported.failures();
        match attempt() {
            Err(e) if links.imported.failures() > failures => {
                counting.event(Event::Note(format!(
                    "building again without the remote cache records that name it ({})",
                    crate::error::chain(&e)
                )));
                counting.restart();
                links.recorder.clear();
                links.imported.restart();
            }
            done => return done,
        }
    }
    attempt()
}

/// Runs a build against `store`.
pub fn build(
    req: &BuildRequest,
    store: Arc<Store>,
    services: &Services,
) -> Result<BuildResult, BuildError> {
    let with_epoch = with_dockerfile_epoch(req, &store, services)?;
    let req = with_epoch.as_ref().unwrap_or(req);
    let counting = Arc::new(crate::progress::Counting::new(services.reporter.clone()));
    let (resolver, reporter) = (services.resolver, counting.clone() as Arc<dyn Reporter>);
    let (plans, contexts) = make_plans(req, &store, resolver)?;
    for w in plans.iter().flat_map(|p| &p.warnings) {
        reporter.event(Event::Note(format!("WARNING: {w}")));
    }
    check_platforms(&plans)?;
    Annotations(&req.annotations).check(plans.len())?;
    crate::remote_cache::restore_mounts(&req.cache_from, services.caches, &store, &*reporter);
    let links = Links::open(req, &plans, services.caches, resolver, reporter.clone());
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: reporter.clone(),
        contexts,
        fetcher: services.fetcher,
        plan_only: false,
        imported: &links.imported,
    };
    let finished = with_retries(&links, &counting, || {
        solve_and_export(req, &plans, &rt, &links, services)
    });
    resolver.finish(&store);
    let (images, target, exported) = finished?;
    let mount_ids = plans.iter().flat_map(Plan::cache_mount_ids).collect();
    crate::remote_cache::export_mounts(&store, &links, &mount_ids, &*reporter)?;
    let mut cache = counting.stats();
    cache.remote = links.imported.hits();
    Ok(BuildResult {
        manifest: target,
        config: images[0].1.config.clone(),
        tags: exported.tagged,
        pushed: exported.pushed,
        canonical: exported.canonical,
        platforms: images,
        cache,
    })
}
