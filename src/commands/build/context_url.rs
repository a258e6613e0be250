//! A build context (or `--build-context` value) given as a Git or http(s) URL: fetched into the
//! store's scratch space before the build, as BuildKit's Dockerfile frontend fetches it, and
//! `SOURCE_DATE_EPOCH=context` resolved from it.

use std::path::Path;

use anyhow::Context;
use rbuild_build::ops::agent::Agent;
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
        let agent_dir = self.store.scratch()?;
        let (transport, _agent) = transport(req, url, agent_dir.path())?;
        let got = remote_context::fetch(url, dir.path(), &transport, self.urls, &proxy);
        kept.push(dir);
        Ok(got?)
    }
}

/// What git may use, as for ADD of a git source: over ssh only `--ssh default`, an agent
/// socket, or key files served by an agent started in `dir` (it lives as long as the
/// returned [`Agent`]).
fn transport(
    req: &BuildRequest,
    url: &ContextUrl,
    dir: &Path,
) -> anyhow::Result<(Transport, Option<Agent>)> {
    let agent = match (url, req.ssh.get("default")) {
        (ContextUrl::Git(g), Some(source)) if g.is_ssh() => source,
        _ => return Ok((Transport::default(), None)),
    };
    Ok(match agent {
        SshSource::Agent(sock) => (
            Transport {
                agent: Some(sock.clone()),
            },
            None,
        ),
        SshSource::Keys(keys) => {
            let served = Agent::start(dir, keys).context("--ssh default: cannot start an agent")?;
            let transport = Transport {
                agent: Some(served.socket().to_path_buf()),
            };
            (transport, Some(served))
        }
    })
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
        (None, None) => DockerfileSource::Path(super::default_dockerfile(&got.root)),
    };
    req.context = got.root;
    if let Some(t) = got.epoch {
        req.context_epochs.insert("context".to_string(), t);
    }
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
                if let Some(t) = got.epoch {
                    req.context_epochs.insert(name.to_string(), t);
                }
            }
            _ => rest.push(v.clone()),
        }
    }
    Ok(rest)
}

/// `value` as a URL to fetch; an existing local path is never one (`github.com/a/b` may be a
/// directory), as buildx checks the local directory first.
fn classify(value: &str) -> anyhow::Result<Option<ContextUrl>> {
    if Path::new(value).exists() {
        return Ok(None);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_directory_is_never_fetched() {
        let d = tempfile::tempdir().unwrap();
        let local = d.path().join("github.com/a/b");
        std::fs::create_dir_all(&local).unwrap();
        assert!(classify(local.to_str().unwrap()).unwrap().is_none());
        let missing = d.path().join("github.com/a/c");
        let as_url = format!("github.com/{}", missing.display());
        assert!(matches!(
            classify(&as_url).unwrap(),
            Some(ContextUrl::Git(_))
        ));
        assert!(classify("http://h/r.git?bogus").is_err());
    }
}
