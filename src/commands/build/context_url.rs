//! A build context (or `--build-context` value) given as a Git or http(s) URL: fetched into the
//! store's scratch space before the build, as BuildKit's Dockerfile frontend fetches it, and
//! `SOURCE_DATE_EPOCH=context` resolved from it.

use std::path::Path;

use anyhow::Context;
use rbuild_build::secrets::SshSource;
use rbuild_build::{BuildRequest, DockerfileSource, NamedContext};
use rbuild_context::git::Transport;
use rbuild_context::remote::{ProxyConfig, UrlFetcher};
use rbuild_context::remote_context::{self, ContextUrl, RemoteContext};
use rbuild_store::{ScratchDir, Store};

/// The fetched contexts' directories, removed when the build is over.
pub(crate) type Fetched = Vec<ScratchDir>;

/// What a fetch needs: where to put it, how to reach the remote.
pub(crate) struct Fetcher<'a> {
    /// The store whose scratch space holds the checkouts.
    pub store: &'a Store,
    /// Downloads http(s) URLs.
    pub urls: &'a dyn UrlFetcher,
}

impl Fetcher<'_> {
    /// Fetches `url` for `req` (its proxies, its `--ssh default`); the directory goes to `kept`.
    fn fetch(
        &self,
        url: &ContextUrl,
        req: &BuildRequest,
        kept: &mut Fetched,
    ) -> anyhow::Result<RemoteContext> {
        let dir = self.store.scratch()?;
        let proxy =
            ProxyConfig::from_vars(req.build_args.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let got = remote_context::fetch(url, dir.path(), &transport(req, url)?, self.urls, &proxy);
        kept.push(dir);
        Ok(got?)
    }
}

/// The agent git may use: `--ssh default` (an agent socket), as for ADD of a git source.
fn transport(req: &BuildRequest, url: &ContextUrl) -> anyhow::Result<Transport> {
    let ContextUrl::Git(g) = url else {
        return Ok(Transport::default());
    };
    match req.ssh.get("default") {
        Some(SshSource::Agent(sock)) if g.is_ssh() => Ok(Transport {
            agent: Some(sock.clone()),
        }),
        Some(SshSource::Keys(_)) if g.is_ssh() => anyhow::bail!(
            "a Git build context over ssh needs --ssh default with an agent socket \
             (key files are served to ADD only)"
        ),
        _ => Ok(Transport::default()),
    }
}

/// Makes `req` read a main context given as a URL (`context`), and the Dockerfile from it:
/// `-f` is a path inside it unless it names a local file, as buildx does; a URL that is a
/// single file is the Dockerfile. Returns the context's date, if it has one.
pub(crate) fn main_context(
    req: &mut BuildRequest,
    context: &Path,
    file: Option<&Path>,
    f: &Fetcher<'_>,
    kept: &mut Fetched,
) -> anyhow::Result<Option<i64>> {
    let Some(url) = context.to_str().map(classify).transpose()?.flatten() else {
        return Ok(None);
    };
    let got = f
        .fetch(&url, req, kept)
        .context("cannot fetch the build context")?;
    req.dockerfile = match (&got.dockerfile, file) {
        (Some(d), _) => DockerfileSource::Path(d.clone()),
        (None, Some(p)) if p.as_os_str() == "-" || p.is_file() => req.dockerfile.clone(),
        (None, Some(p)) => DockerfileSource::Path(got.root.join(p)),
        (None, None) => DockerfileSource::Path(got.root.join("Dockerfile")),
    };
    req.context = got.root;
    Ok(got.epoch)
}

/// The `--build-context NAME=URL` values, fetched into local named contexts; the other
/// values are returned for [`super::named_contexts`].
pub(crate) fn named_urls(
    req: &mut BuildRequest,
    values: &[String],
    f: &Fetcher<'_>,
    kept: &mut Fetched,
) -> anyhow::Result<Vec<String>> {
    let mut rest = Vec::new();
    for v in values {
        let url = v
            .split_once('=')
            .map(|(name, value)| Ok::<_, anyhow::Error>((name, classify(value)?)))
            .transpose()?;
        match url {
            Some((name, Some(url))) => {
                let got = f
                    .fetch(&url, req, kept)
                    .with_context(|| format!("--build-context {name}"))?;
                req.named_contexts
                    .insert(name.to_string(), NamedContext::Local(got.root));
            }
            _ => rest.push(v.clone()),
        }
    }
    Ok(rest)
}

fn classify(value: &str) -> anyhow::Result<Option<ContextUrl>> {
    Ok(remote_context::classify(value)?)
}

/// `SOURCE_DATE_EPOCH=context`: the main context's date, or unset when it has none (a local
/// directory), as BuildKit resolves it.
pub(crate) fn resolve_epoch_arg(req: &mut BuildRequest, epoch: Option<i64>) {
    if req.build_args.get("SOURCE_DATE_EPOCH").map(String::as_str) != Some("context") {
        return;
    }
    match epoch {
        Some(t) => {
            req.build_args
                .insert("SOURCE_DATE_EPOCH".to_string(), t.to_string());
        }
        None => {
            req.build_args.remove("SOURCE_DATE_EPOCH");
        }
    }
}
