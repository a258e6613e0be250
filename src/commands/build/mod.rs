//! `rbuild build`.

mod context_url;
mod limits;
mod result;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rbuild_build::export::Output;
use rbuild_build::{BuildRequest, DockerfileSource};
use rbuild_store::Store;

use crate::cli::{BuildArgs, NetworkArg};
use crate::resolver::{RegistryResolver, Remote};

/// Builds and tags the image.
pub fn run(args: BuildArgs, store: Arc<Store>) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(&args.registry)?;
    let outputs = result::ResultOutputs {
        quiet: args.quiet,
        metadata_file: args.metadata_file.clone(),
        iidfile: args.iidfile.clone(),
        json: args.progress == crate::cli::ProgressMode::Rawjson,
    };
    let reporter: Arc<dyn rbuild_build::progress::Reporter> = if args.quiet {
        Arc::new(crate::render_json::Quiet)
    } else {
        crate::render::reporter(args.progress)
    };
    let shown = reporter.clone();
    let resolver = RegistryResolver::new(&remote, !args.platform.is_empty(), args.pull)
        .with_progress(move |e| {
            if let Some(line) = pull_line(&e) {
                shown.event(rbuild_build::progress::Event::Note(line));
            }
        });
    let pusher = RegistryPusher(&remote);
    let fetcher = remote.url_fetcher();
    let urls = context_url::Fetcher {
        store: &store,
        urls: &fetcher,
    };
    let (req, _fetched) = request(args, &urls)?;
    let engine = crate::docker_engine::DockerEngine::from_env();
    if req.outputs.iter().any(|o| matches!(o, Output::Load { .. })) {
        engine.check()?;
    }
    let services = rbuild_build::Services {
        resolver: &resolver,
        pusher: &pusher,
        loader: &engine,
        fetcher: &fetcher,
        caches: &crate::remote_cache::RegistryCaches(&remote),
        reporter,
    };
    let started = std::time::Instant::now();
    let result = rbuild_build::build(&req, Arc::clone(&store), &services)
        .inspect_err(|e| show_source(&req, e))?;
    result::report(&result, &outputs, started.elapsed().as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}

/// One progress line for a pull event: the start of each layer, its end, each retry (the
/// per-MiB updates would flood a log).
fn pull_line(e: &rbuild_registry::PullEvent) -> Option<String> {
    use rbuild_registry::PullEvent;
    match e {
        PullEvent::Resolving { reference, host } => {
            Some(format!("resolving {reference} on {host}"))
        }
        PullEvent::Layer {
            index,
            count,
            digest,
            received,
            size,
        } if *received == 0 || received == size => {
            let what = if *received == 0 { "pulling" } else { "pulled" };
            Some(format!(
                "{what} layer {index}/{count} {digest} ({size} bytes)"
            ))
        }
        PullEvent::Retrying {
            what,
            attempt,
            reason,
        } => Some(format!("retrying {what} (attempt {attempt}): {reason}")),
        _ => None,
    }
}

/// Pushes through the registry client the flags configured.
struct RegistryPusher<'a>(&'a Remote);

impl rbuild_build::export::Pusher for RegistryPusher<'_> {
    fn push(
        &self,
        store: &Store,
        manifest: &rbuild_oci::Descriptor,
        name: &str,
    ) -> Result<rbuild_oci::Digest, Box<dyn std::error::Error + Send + Sync>> {
        super::push::push_manifest(self.0, store, manifest, name).map_err(Into::into)
    }
}

/// `--push` is `type=image,push=true` (BuildKit's `type=registry`): it makes the image
/// output push, adding one when `-o` named only other outputs.
fn apply_push(outputs: &mut Vec<Output>, push: bool) {
    if !push {
        return;
    }
    let mut found = false;
    for o in outputs.iter_mut() {
        if let Output::Image { push, .. } = o {
            *push = true;
            found = true;
        }
    }
    if !found {
        outputs.push(Output::Image {
            names: Vec::new(),
            push: true,
            store: true,
            push_by_digest: false,
            name_canonical: false,
        });
    }
}

/// The build request: every flag typed once, here. Contexts given as URLs are fetched now;
/// their directories last as long as the returned [`context_url::Fetched`].
pub(crate) fn request(
    args: BuildArgs,
    urls: &context_url::Fetcher<'_>,
) -> anyhow::Result<(BuildRequest, context_url::Fetched)> {
    let mut req = BuildRequest::new(args.context.clone());
    req.limits = limits::from_args(&args)?;
    isolation(&args, &mut req)?;
    req.dockerfile = dockerfile_source(args.file.clone(), &args.context)?;
    req.compression = rbuild_build::export::layer_compression(&args.outputs)?;
    req.outputs = args.outputs.into_iter().map(|o| o.output).collect();
    apply_push(&mut req.outputs, args.push);
    if args.load {
        req.outputs.push(Output::Load { names: Vec::new() });
    }
    req.labels = args.labels.into_iter().collect();
    req.cache_to = args.cache_to;
    req.cache_from = args.cache_from;
    req.annotations = args.annotations.into_iter().flatten().collect();
    check_names(&args.tags, &req.outputs)?;
    req.tags = args.tags;
    req.build_args = parse_build_args(&args.build_args, |k| std::env::var(k).ok());
    req.target = args.target;
    req.no_cache = args.no_cache;
    req.no_cache_filter = args.no_cache_filter;
    req.platforms = args.platform;
    secrets(&args.secrets, &args.ssh, &mut req)?;
    if let Some(j) = args.jobs {
        req.jobs = j;
    }
    let mut fetched = context_url::Fetched::new();
    let epoch = context_url::main_context(
        &mut req,
        &args.context,
        args.file.as_deref(),
        urls,
        &mut fetched,
    )?;
    context_url::resolve_epoch_arg(&mut req, epoch);
    let local = context_url::named_urls(&mut req, &args.build_contexts, urls, &mut fetched)?;
    req.named_contexts.extend(named_contexts(&local)?);
    req.source_date_epoch = source_date_epoch(&req.build_args)?;
    req.sandbox_exe = std::env::current_exe().context("cannot find the rbuild executable")?;
    Ok((req, fetched))
}

/// Every tag and output name is a valid reference, and a push has a name to push to.
fn check_names(tags: &[String], outputs: &[Output]) -> anyhow::Result<()> {
    for tag in tags.iter().chain(outputs.iter().flat_map(Output::names)) {
        rbuild_oci::Reference::parse_tag(tag).with_context(|| format!("invalid tag {tag:?}"))?;
    }
    let unnamed_push = outputs
        .iter()
        .any(|o| matches!(o, Output::Image { push: true, names, .. } if names.is_empty()));
    if unnamed_push && tags.is_empty() {
        anyhow::bail!("pushing needs a name: give -t NAME[:TAG] (or name= in the output)");
    }
    Ok(())
}

/// `--secret` and `--ssh`, with SSH_AUTH_SOCK for `--ssh default`.
fn secrets(secrets: &[String], ssh: &[String], req: &mut BuildRequest) -> anyhow::Result<()> {
    for spec in secrets {
        let (id, source) = rbuild_build::secrets::parse_secret(spec)?;
        req.secrets.insert(id, source);
    }
    let auth_sock = std::env::var_os("SSH_AUTH_SOCK").map(std::path::PathBuf::from);
    for spec in ssh {
        let (id, source) = rbuild_build::secrets::parse_ssh(spec, auth_sock.as_deref())?;
        req.ssh.insert(id, source);
    }
    Ok(())
}

/// Network, entitlements and seccomp: what weakens the sandbox must be granted.
fn isolation(args: &BuildArgs, req: &mut BuildRequest) -> anyhow::Result<()> {
    req.network = args.network.and_then(NetworkArg::mode);
    for name in &args.allow {
        req.allow.grant(name)?;
    }
    if req.network == Some(rbuild_sandbox::NetworkMode::Host) && !req.allow.network_host {
        anyhow::bail!(
            "--network host needs the network.host entitlement: add --allow network.host"
        );
    }
    if let Some(mode) = args.security_opt.clone() {
        req.seccomp = mode;
    }
    req.rootfs = args.rootfs.mode();
    Ok(())
}

/// `-f`: a path, `-` (read now from stdin) or the context's `Dockerfile` (else `dockerfile`).
pub(crate) fn dockerfile_source(
    file: Option<std::path::PathBuf>,
    context: &std::path::Path,
) -> anyhow::Result<DockerfileSource> {
    Ok(match file {
        Some(p) if p.as_os_str() == "-" => {
            DockerfileSource::Text(rbuild_build::read_dockerfile(std::io::stdin().lock(), &p)?)
        }
        Some(p) => DockerfileSource::Path(p),
        None => DockerfileSource::Path(default_dockerfile(context)),
    })
}

/// `DIR/Dockerfile`, else `DIR/dockerfile` when only that exists (BuildKit's fallback).
pub(crate) fn default_dockerfile(dir: &std::path::Path) -> std::path::PathBuf {
    let upper = dir.join("Dockerfile");
    let lower = dir.join("dockerfile");
    if !upper.exists() && lower.is_file() {
        lower
    } else {
        upper
    }
}

/// `SOURCE_DATE_EPOCH` from the build arg, else the environment.
fn source_date_epoch(build_args: &BTreeMap<String, String>) -> anyhow::Result<Option<i64>> {
    let epoch = build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    epoch
        .map(|e| {
            e.parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH {e:?} is not a number of seconds"))
        })
        .transpose()
}

/// `K=V` as given; `K` alone takes the environment's value and is dropped when unset, as docker does.
pub(crate) fn parse_build_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => env(a).map(|v| (a.clone(), v)),
        })
        .collect()
}

/// `--build-context NAME=VALUE`; local directories and OCI layout paths are made absolute.
pub(crate) fn named_contexts(
    values: &[String],
) -> anyhow::Result<BTreeMap<String, rbuild_build::NamedContext>> {
    let mut out = BTreeMap::new();
    for v in values {
        let (name, value) = v
            .split_once('=')
            .with_context(|| format!("--build-context {v:?}: expected NAME=VALUE"))?;
        let mut nc = rbuild_build::NamedContext::parse(value)
            .with_context(|| format!("--build-context {name}"))?;
        match &mut nc {
            rbuild_build::NamedContext::Local(dir) => {
                *dir = std::fs::canonicalize(&*dir)
                    .with_context(|| format!("--build-context {name}: {}", dir.display()))?;
            }
            // Not canonicalized: a missing layout is reported by the build, naming the path.
            rbuild_build::NamedContext::OciLayout(r) => {
                r.path = std::path::absolute(&r.path)
                    .with_context(|| format!("--build-context {name}: {}", r.path.display()))?;
            }
            rbuild_build::NamedContext::Image(_) => {}
        }
        out.insert(name.to_string(), nc);
    }
    Ok(out)
}

/// Prints the Dockerfile lines around a failing instruction, as BuildKit does.
fn show_source(req: &BuildRequest, e: &rbuild_build::BuildError) {
    let Some(line) = e.line() else { return };
    let text = match &req.dockerfile {
        DockerfileSource::Text(t) => Some(t.clone()),
        DockerfileSource::Path(p) => std::fs::File::open(p)
            .ok()
            .and_then(|f| rbuild_build::read_dockerfile(f, p).ok()),
    };
    if let Some(text) = text {
        eprintln!("{}", rbuild_build::excerpt(&text, line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_dockerfile_falls_back_to_lowercase() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(default_dockerfile(d.path()), d.path().join("Dockerfile"));
        std::fs::write(d.path().join("dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(default_dockerfile(d.path()), d.path().join("dockerfile"));
        std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(default_dockerfile(d.path()), d.path().join("Dockerfile"));
    }

    #[test]
    fn build_args_from_flags_and_environment() {
        let args = vec![
            "A=1".to_string(),
            "B".to_string(),
            "C".to_string(),
            "D=x=y".to_string(),
        ];
        let got = parse_build_args(&args, |k| (k == "B").then(|| "env".to_string()));
        let want: BTreeMap<String, String> = [("A", "1"), ("B", "env"), ("D", "x=y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
