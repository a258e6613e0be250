//! `build(request) -> result`: parse, lower to a plan, solve it, assemble the image, export.

use std::sync::Arc;

use rbuild_oci::{Descriptor, Platform};
use rbuild_store::Store;

use crate::annotations::{AnnotationTarget as Target, Annotations};
use crate::export::{self, Dest, Exported, Output, Pusher};
use crate::image::{finish_config, write_image, write_index, FsState, Written};
use crate::lower::{lower, LowerInput};
use crate::ops::{Contexts, Runtime};
use crate::plan::{KeyView, Plan};
use crate::progress::{Event, Reporter};
use crate::request::DockerfileSource;
use crate::resolve::BaseResolver;
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
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: Arc::new(crate::progress::Silent),
        contexts,
        fetcher: &NoFetch,
        plan_only: true,
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
    let handlers = emulation::handlers(std::path::Path::new(emulation::BINFMT_DIR));
    let emulated = emulation::emulated(&handlers);
    for p in plans.iter().flat_map(|p| &p.run_platforms) {
        let p = rbuild_oci::platform::normalize(p);
        if p.os == native.os && p.architecture == native.architecture {
            continue;
        }
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

/// Runs a build against `store`.
pub fn build(
    req: &BuildRequest,
    store: Arc<Store>,
    services: &Services,
) -> Result<BuildResult, BuildError> {
    let counting = Arc::new(crate::progress::Counting::new(services.reporter.clone()));
    let (resolver, reporter) = (services.resolver, counting.clone() as Arc<dyn Reporter>);
    let (plans, contexts) = make_plans(req, &store, resolver)?;
    for w in plans.iter().flat_map(|p| &p.warnings) {
        reporter.event(Event::Note(format!("WARNING: {w}")));
    }
    check_platforms(&plans)?;
    Annotations(&req.annotations).check(plans.len())?;
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: reporter.clone(),
        contexts,
        fetcher: services.fetcher,
        plan_only: false,
    };
    let values = crate::solve::run_plans(&plans, &rt)?;
    let images = plans
        .iter()
        .zip(&values)
        .map(|(plan, fs)| final_image(req, &store, plan, fs))
        .collect::<Result<Vec<_>, _>>()?;
    let target = match images.as_slice() {
        [(_, one)] => one.manifest.clone(),
        many => {
            let notes = Annotations(&req.annotations);
            let mut index = write_index(&store, many, notes.for_target(Target::Index, None))?;
            index.annotations = notes.for_target(Target::IndexDescriptor, None);
            index
        }
    };
    let exported = run_exports(req, &store, &target, services)?;
    Ok(BuildResult {
        manifest: target,
        config: images[0].1.config.clone(),
        tags: exported.tagged,
        pushed: exported.pushed,
        canonical: exported.canonical,
        platforms: images,
        cache: counting.stats(),
    })
}

/// Writes one platform's image: its config finished (history, `--label`s, the epoch) and its
/// manifest with the `--annotation`s for it, on a descriptor carrying the descriptor ones.
fn final_image(
    req: &BuildRequest,
    store: &Store,
    plan: &Plan,
    fs: &FsState,
) -> Result<(Platform, Written), BuildError> {
    let image = &plan.image;
    let mut config = finish_config(
        image.config.clone(),
        &image.history,
        fs,
        image.base_created.as_deref(),
    );
    // BuildKit stamps the image itself with SOURCE_DATE_EPOCH, whatever the base's date.
    if let Some(epoch) = req.source_date_epoch {
        config.created = Some(crate::time::rfc3339(epoch));
    }
    if !req.labels.is_empty() {
        let labels = config.config.labels.get_or_insert_with(Default::default);
        labels.extend(req.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let notes = Annotations(&req.annotations);
    let platform = Some(&plan.platform);
    let mut written = write_image(
        store,
        &config,
        fs,
        notes.for_target(Target::Manifest, platform),
    )?;
    written.manifest.annotations = notes.for_target(Target::ManifestDescriptor, platform);
    Ok((plan.platform.clone(), written))
}

/// Runs every `--output` (the store's tags when none).
fn run_exports(
    req: &BuildRequest,
    store: &Store,
    manifest: &Descriptor,
    services: &Services,
) -> Result<Exported, BuildError> {
    let default = [Output::Image {
        names: Vec::new(),
        push: false,
        push_by_digest: false,
        name_canonical: false,
    }];
    let outputs = if req.outputs.is_empty() {
        &default[..]
    } else {
        &req.outputs[..]
    };
    let mut all = Exported::default();
    for output in outputs {
        let what = describe(output);
        services
            .reporter
            .event(Event::Note(format!("exporting to {what}")));
        let sinks = export::Sinks {
            pusher: services.pusher,
            loader: services.loader,
        };
        let done = export::export(store, manifest, output, &req.tags, sinks)
            .map_err(|source| BuildError::Export { what, source })?;
        if let Some(said) = done.loaded {
            services.reporter.event(Event::Note(said));
        }
        all.tagged.extend(done.tagged);
        all.pushed.extend(done.pushed);
        all.canonical.extend(done.canonical);
    }
    Ok(all)
}

fn describe(output: &Output) -> String {
    let dest = |d: &Dest| match d {
        Dest::File(p) => p.display().to_string(),
        Dest::Stdout => "stdout".to_string(),
    };
    match output {
        Output::Image { push: false, .. } => "the store".to_string(),
        Output::Image { push: true, .. } => "the store and the registry".to_string(),
        Output::Oci {
            dest: d, tar: true, ..
        } => format!("OCI archive {}", dest(d)),
        Output::Oci { dest: d, .. } => format!("OCI layout directory {}", dest(d)),
        Output::Docker { dest: d, .. } => format!("docker archive {}", dest(d)),
        Output::Local { dest } => format!("directory {}", dest.display()),
        Output::Load { .. } => "the docker engine".to_string(),
        Output::Tar { dest: d } => format!("root filesystem tar {}", dest(d)),
    }
}
