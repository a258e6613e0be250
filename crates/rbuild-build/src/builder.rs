//! `build(request) -> result`: parse, lower to a plan, solve it, assemble the image, export.

use std::sync::Arc;

use rbuild_oci::{Descriptor, Platform};
use rbuild_store::Store;

use crate::export::{self, Dest, Exported, Output, Pusher};
use crate::image::{finish_config, write_image};
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
    /// The image manifest in the store.
    pub manifest: Descriptor,
    /// The image config digest (the "image ID").
    pub config: rbuild_oci::Digest,
    /// Tags set in the store.
    pub tags: Vec<String>,
    /// Names pushed, with the digest each registry stored.
    pub pushed: Vec<(String, rbuild_oci::Digest)>,
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

/// The platform the request builds for; several at once are not supported yet.
fn target_platform(req: &BuildRequest) -> Result<Platform, BuildError> {
    match req.platforms.as_slice() {
        [] => Ok(Platform::host()),
        [one] => Ok(one.clone()),
        many => Err(BuildError::Unsupported(format!(
            "--platform {}: building several platforms in one build is not supported yet; \
             run one build per platform",
            many.iter()
                .map(Platform::to_spec)
                .collect::<Vec<_>>()
                .join(",")
        ))),
    }
}

/// Parses the Dockerfile and lowers it into a plan; also opens the contexts it reads.
pub fn make_plan(
    req: &BuildRequest,
    store: &Arc<Store>,
    resolver: &dyn BaseResolver,
) -> Result<(Plan, Contexts), BuildError> {
    let text = dockerfile_text(req)?;
    let dockerfile = rbuild_dockerfile::parse_dockerfile(&text)?;
    let input = LowerInput {
        dockerfile: &dockerfile,
        request: req,
        resolver,
        store,
        platform: target_platform(req)?,
    };
    let plan = lower(&input)?;
    let dockerfile_path = match &req.dockerfile {
        DockerfileSource::Path(p) => Some(p.as_path()),
        DockerfileSource::Text(_) => None,
    };
    let contexts = Contexts::open(&req.context, dockerfile_path, Some(store.clone()))?;
    Ok((plan, contexts))
}

/// The plan of a build and each needed vertex's cache key, without running anything
/// (`rbuild debug plan`).
pub fn explain(
    req: &BuildRequest,
    store: &Arc<Store>,
    resolver: &dyn BaseResolver,
) -> Result<(Plan, Vec<KeyView>), BuildError> {
    let (plan, contexts) = make_plan(req, store, resolver)?;
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: Arc::new(crate::progress::Silent),
        contexts,
        fetcher: &NoFetch,
        plan_only: true,
    };
    let keys = crate::solve::plan_keys(&plan, &rt);
    Ok((plan, keys))
}

/// What a build may reach beyond the store: registries (for base images and pushes) and the
/// user's screen.
pub struct Services<'a> {
    /// Finds FROM and `COPY --from` images.
    pub resolver: &'a dyn BaseResolver,
    /// Pushes images for outputs that ask for it.
    pub pusher: &'a dyn Pusher,
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
    let (resolver, reporter) = (services.resolver, services.reporter.clone());
    let (plan, contexts) = make_plan(req, &store, resolver)?;
    for w in &plan.warnings {
        reporter.event(Event::Note(format!("WARNING: {w}")));
    }
    let rt = Runtime {
        request: req,
        store: store.clone(),
        reporter: reporter.clone(),
        contexts,
        fetcher: services.fetcher,
        plan_only: false,
    };
    let fs = crate::solve::run_plan(&plan, &rt)?;
    let image = &plan.image;
    let mut config = finish_config(
        image.config.clone(),
        &image.history,
        &fs,
        image.base_created.as_deref(),
    );
    // BuildKit stamps the image itself with SOURCE_DATE_EPOCH, whatever the base's date.
    if let Some(epoch) = req.source_date_epoch {
        config.created = Some(crate::time::rfc3339(epoch));
    }
    let written = write_image(&store, &config, &fs)?;
    let exported = run_exports(req, &store, &written.manifest, services)?;
    Ok(BuildResult {
        manifest: written.manifest,
        config: written.config,
        tags: exported.tagged,
        pushed: exported.pushed,
    })
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
        let done = export::export(store, manifest, output, &req.tags, services.pusher)
            .map_err(|source| BuildError::Export { what, source })?;
        all.tagged.extend(done.tagged);
        all.pushed.extend(done.pushed);
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
    }
}
